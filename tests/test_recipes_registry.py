"""The recipe registry names each recipe without importing it: what it says (options
class, online teachers) is what the recipe classes say, and no recipe is left out."""
import importlib
import inspect
import pkgutil

import pytest

import itgc_tf.recipes
from itgc_tf.recipes import RECIPES, build_recipe
from itgc_tf.recipes.base import Recipe


def test_each_registered_recipe_is_the_class_with_its_options_class_and_teachers():
    for name, spec in RECIPES.items():
        recipe = spec.load()
        assert issubclass(recipe, Recipe), name
        assert recipe.options_class is spec.options_class, name
        assert recipe.online_teachers is spec.online_teachers, name


def test_every_recipe_class_of_the_recipes_package_is_registered():
    defined = set()
    for module in pkgutil.iter_modules(itgc_tf.recipes.__path__):
        loaded = importlib.import_module(f"itgc_tf.recipes.{module.name}")
        defined |= {cls for _, cls in inspect.getmembers(loaded, inspect.isclass)
                    if issubclass(cls, Recipe) and cls is not Recipe}
    assert defined == {spec.load() for spec in RECIPES.values()}


def test_an_unknown_recipe_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"Unknown recipe 'kdd'; valid recipes: cat, "
                       r"gan_compression, kd, omgd\. Fix"):
        build_recipe("kdd")
