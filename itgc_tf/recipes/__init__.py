"""Base compression methods VEM plugs into. Adding one = a module (a `Recipe`), its
options dataclass in `itgc_tf.recipes.options`, and a line in RECIPES; its flags then
appear in itgc-distill automatically (`itgc_tf.training.config.RecipeOptions`).

RECIPES names each recipe's options and whether it trains its teachers online without
importing the recipe (TensorFlow): the configuration and --help read only that; the
`Recipe` class is imported when a run builds it (`RecipeSpec.load`)."""
import dataclasses
import importlib

from itgc_tf import lazy
from itgc_tf.recipes.options import (CATOptions, GANCompressionOptions, KDOptions, OMGDOptions,
                                     RecipeOptions)


@dataclasses.dataclass(frozen=True)
class RecipeSpec:
    """A registered recipe: ``options_class`` and ``online_teachers`` as on its `Recipe`
    class, which ``load`` imports from ``itgc_tf.recipes.<module>``."""
    options_class: type
    module: str
    class_name: str
    online_teachers: bool = False

    def load(self):
        """The `Recipe` subclass."""
        return getattr(importlib.import_module(f"{__name__}.{self.module}"), self.class_name)


RECIPES = {
    "kd": RecipeSpec(KDOptions, "kd", "KD"),
    "gan_compression": RecipeSpec(GANCompressionOptions, "gan_compression", "GANCompression"),
    "omgd": RecipeSpec(OMGDOptions, "omgd", "OMGD", online_teachers=True),
    "cat": RecipeSpec(CATOptions, "cat", "CAT"),
}


def _recipe_class(name):
    if name not in RECIPES:
        raise ValueError(f"Unknown recipe {name!r}; valid recipes: {', '.join(sorted(RECIPES))}. "
                         "Fix: pass one of them (--recipe).")
    return RECIPES[name].load()


def build_recipe(name, **options):
    """The recipe ``name`` (see ``RECIPES``) from its constructor arguments."""
    return _recipe_class(name)(name=name, **options)


def recipe_from_options(name, options, **resources):
    """The recipe ``name`` from its validated options dataclass (``gan_mode``, and
    resources such as OMGD's ``vgg``, as keywords)."""
    return _recipe_class(name).from_options(options, name=name, **resources)


# The recipes' base classes (TensorFlow), imported at first use (`itgc_tf.lazy`).
_EXPORTS = {"Recipe": "base", "StepContext": "base"}
__getattr__ = lazy.exports(__name__, _EXPORTS)
__all__ = ["RECIPES", "Recipe", "RecipeOptions", "RecipeSpec", "StepContext", "build_recipe",
           "recipe_from_options"]
