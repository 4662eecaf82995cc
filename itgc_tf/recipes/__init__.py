"""Base compression methods VEM plugs into. Adding one = a module + a line in RECIPES."""
from itgc_tf.recipes.base import Recipe, StepContext
from itgc_tf.recipes.cat import CAT, CATConfig
from itgc_tf.recipes.gan_compression import GANCompression
from itgc_tf.recipes.kd import KD
from itgc_tf.recipes.omgd import OMGD

RECIPES = {
    "kd": KD,
    "gan_compression": GANCompression,
    "omgd": OMGD,
    "cat": CAT,
}


def build_recipe(name, **options):
    """The recipe ``name`` (see ``RECIPES``) with its options."""
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; valid recipes: {', '.join(sorted(RECIPES))}.")
    return RECIPES[name](name=name, **options)


__all__ = ["CATConfig", "RECIPES", "Recipe", "StepContext", "build_recipe"]
