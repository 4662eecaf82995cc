"""Configuration dataclasses <-> absl flags (itgc_tf.options): one flag per field with
the field's help and topic, values that parse back, unions of recipe options."""
import dataclasses

import pytest
from absl import flags

from itgc_tf import options
from itgc_tf.options import option
from itgc_tf.recipes import RECIPES, RecipeOptions
from itgc_tf.recipes.gan_compression import GANCompressionOptions
from itgc_tf.recipes.kd import KDOptions
from itgc_tf.training.config import DistillConfig


@dataclasses.dataclass(frozen=True)
class _Inner:
    flag_group = "inner"
    width: int = option(4, "A width.")
    pairs: tuple = option((("a", "b"),), "Tap pairs.", kind="pairs")


@dataclasses.dataclass(frozen=True)
class _Outer:
    name: str = option(help="A required name.", kind="str")
    inner: _Inner = dataclasses.field(default_factory=_Inner)


def test_each_leaf_is_one_flag_under_its_topic_with_its_help():
    flag_values = flags.FlagValues()
    options.define_flags(_Outer, flag_values)
    assert flag_values["width"].help == "A width." and flag_values["width"].default == 4
    assert flag_values["pairs"].default == ["a:b"]
    by_module = flag_values.flags_by_module_dict()
    assert [f.name for f in by_module["itgc_tf options: inner"]] == ["width", "pairs"]
    assert [f.name for f in by_module["itgc_tf options: _Outer"]] == ["name"]


def test_an_option_named_twice_in_one_command_is_refused():
    @dataclasses.dataclass(frozen=True)
    class Twice:
        width: int = option(1, "Shadows _Inner.width.")
        inner: _Inner = dataclasses.field(default_factory=_Inner)

    with pytest.raises(TypeError, match=r"named twice: \['width'\]"):
        options.define_flags(Twice, flags.FlagValues())


def test_from_values_fills_defaults_and_flat_inverts_it():
    config = options.from_values(_Outer, {"name": "x", "width": 9})
    assert config == _Outer("x", _Inner(width=9))
    assert options.flat(config) == {"name": "x", "width": 9, "pairs": (("a", "b"),)}


def test_recipe_options_union_holds_shared_options_once_and_refuses_a_clash():
    union = options.union("U", [r.options_class for r in RECIPES.values()], "recipe")
    names = [f.name for f in dataclasses.fields(union)]
    assert len(names) == len(set(names))
    assert {"lambda_recon", "distill_pairs", "lambda_distill", "lambda_cd"} <= set(names)

    @dataclasses.dataclass(frozen=True)
    class Clash(RecipeOptions):
        lambda_recon: float = option(1.0, "Another option of the same name.")

    with pytest.raises(TypeError, match="lambda_recon"):
        options.union("V", [KDOptions, Clash], "recipe")


def test_the_chosen_recipe_reads_and_validates_its_own_options():
    config = options.from_values(DistillConfig, {
        "dataset": "/d", "recipe": "gan_compression", "lambda_distill": 2.0,
        "distill_pairs": (("block_2", "block_2"),), "lambda_cd": 7.0})
    assert config.recipe_config == GANCompressionOptions(
        lambda_distill=2.0, distill_pairs=(("block_2", "block_2"),))
    # Another recipe's bad value is not the chosen recipe's business...
    options.from_values(DistillConfig, {"dataset": "/d", "recipe": "kd", "lambda_cd": -1.0})
    # ... the chosen one's is.
    with pytest.raises(ValueError, match="lambda_recon must be >= 0.*Fix"):
        options.from_values(DistillConfig, {"dataset": "/d", "lambda_recon": -1.0})
