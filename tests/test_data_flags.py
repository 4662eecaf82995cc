"""absl flags for DataConfig (itgc_tf.options): every field has a flag with help; defining
twice is harmless."""
import dataclasses

import pytest
from absl import flags

from itgc_tf.data import DataConfig
from itgc_tf import options


@pytest.fixture
def flag_values():
    values = flags.FlagValues()
    options.define_flags(DataConfig, values)
    return values


def test_one_flag_per_field_with_help(flag_values):
    for field in dataclasses.fields(DataConfig):
        flag = flag_values[field.name]
        assert len(flag.help) > 30, field.name


def test_defining_twice_is_harmless(flag_values):
    options.define_flags(DataConfig, flag_values)
    flag_values(["prog", "--dataset=demo:enhance"])
    assert flag_values.dataset == "demo:enhance"


def test_defaults_match_dataconfig(flag_values):
    flag_values(["prog", "--dataset=/data/x"])
    assert options.from_flags(DataConfig, flag_values) == DataConfig(dataset="/data/x")


def test_parsed_flags_make_the_config(flag_values):
    flag_values(["prog", "--dataset=tfds:div2k", "--direction=BtoA", "--load_size=80",
                 "--crop_size=64", "--preprocess=crop", "--no_flip", "--input_nc=1",
                 "--batch_size=8", "--nodeterministic", "--nodrop_remainder", "--seed=7",
                 "--cache", "--tfds_keys=lr,hr", "--tfds_data_dir=/tfds", "--layout=folders",
                 "--shuffle_buffer=16", "--output_nc=1"])
    assert options.from_flags(DataConfig, flag_values) == DataConfig(
        dataset="tfds:div2k", direction="BtoA", load_size=80, crop_size=64, preprocess="crop",
        no_flip=True, input_nc=1, output_nc=1, batch_size=8, deterministic=False,
        drop_remainder=False, seed=7, cache=True, tfds_keys=("lr", "hr"),
        tfds_data_dir="/tfds", layout="folders", shuffle_buffer=16)


def test_enum_flags_reject_unknown_values(flag_values):
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["prog", "--direction=sideways"])


def test_missing_dataset_and_bad_values_are_explained(flag_values):
    flag_values(["prog"])
    with pytest.raises(ValueError, match="--dataset is empty"):
        options.from_flags(DataConfig, flag_values)
    flag_values.dataset = "/x"
    flag_values.crop_size = 400
    with pytest.raises(ValueError, match="crop_size <= load_size"):
        options.from_flags(DataConfig, flag_values)
