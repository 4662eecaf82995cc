"""Base compression methods VEM plugs into. Adding one = a module (a `Recipe` with
its `RecipeOptions` dataclass) + a line in RECIPES; its flags then appear in
itgc-distill automatically (`itgc_tf.training.config.RecipeOptions`)."""
from itgc_tf.recipes.base import Recipe, RecipeOptions, StepContext
from itgc_tf.recipes.cat import CAT
from itgc_tf.recipes.gan_compression import GANCompression
from itgc_tf.recipes.kd import KD
from itgc_tf.recipes.omgd import OMGD

RECIPES = {
    "kd": KD,
    "gan_compression": GANCompression,
    "omgd": OMGD,
    "cat": CAT,
}


def _recipe_class(name):
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; valid recipes: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name]


def build_recipe(name, **options):
    """The recipe ``name`` (see ``RECIPES``) from its constructor arguments."""
    return _recipe_class(name)(name=name, **options)


def recipe_from_options(name, options, **resources):
    """The recipe ``name`` from its validated options dataclass (``gan_mode``, and
    resources such as OMGD's ``vgg``, as keywords)."""
    return _recipe_class(name).from_options(options, name=name, **resources)


__all__ = ["RECIPES", "Recipe", "RecipeOptions", "StepContext", "build_recipe",
           "recipe_from_options"]
