"""DataConfig: defaults, source kinds, and a clear ValueError for every bad option."""
import dataclasses

import pytest

from itgc_tf.data import DataConfig


def test_defaults_are_the_pix2pix_ones():
    config = DataConfig(dataset="/data/facades")
    assert (config.load_size, config.crop_size, config.preprocess) == (286, 256, "resize_and_crop")
    assert (config.direction, config.layout, config.batch_size) == ("AtoB", "auto", 1)
    assert config.source_kind == ("folder", "/data/facades")


@pytest.mark.parametrize("spec, kind", [
    ("tfds:cycle_gan/horse2zebra", ("tfds", "cycle_gan/horse2zebra")),
    ("tfrecord:/shards", ("tfrecord", "/shards")),
    ("demo:enhance", ("demo", "enhance")),
    ("C:/data/x", ("folder", "C:/data/x")),
])
def test_source_kind(spec, kind):
    assert DataConfig(dataset=spec).source_kind == kind


def test_tfds_keys_list_becomes_tuple():
    assert DataConfig(dataset="tfds:div2k", tfds_keys=["lr", "hr"]).tfds_keys == ("lr", "hr")


@pytest.mark.parametrize("changes, words", [
    ({"dataset": ""}, ["--dataset is empty", "tfds:NAME"]),
    ({"dataset": "tfds:"}, ["names no dataset", "tfds:NAME"]),
    ({"dataset": "demo:nope"}, ["Unknown demo task 'nope'", "enhance"]),
    ({"layout": "stacked"}, ["--layout='stacked'", "aligned"]),
    ({"direction": "AB"}, ["--direction='AB'", "AtoB, BtoA"]),
    ({"preprocess": "zoom"}, ["--preprocess='zoom'", "resize_and_crop"]),
    ({"load_size": 0}, ["--load_size=0", "positive"]),
    ({"crop_size": -4}, ["--crop_size=-4", "positive"]),
    ({"batch_size": 0}, ["--batch_size=0", ">= 1"]),
    ({"shuffle_buffer": 0}, ["--shuffle_buffer=0"]),
    ({"load_size": 2.5}, ["--load_size=2.5"]),
    ({"seed": -1}, ["--seed=-1", ">= 0"]),
    ({"input_nc": 4}, ["--input_nc=4", "1 (grayscale) or 3"]),
    ({"output_nc": 2}, ["--output_nc=2"]),
    ({"crop_size": 300}, ["--crop_size=300 is larger than --load_size=286",
                          "crop_size <= load_size"]),
    ({"tfds_keys": ("a",)}, ["--tfds_keys", "two image features"]),
    ({"tfds_keys": ("a", "")}, ["--tfds_keys"]),
])
def test_bad_options_raise_with_fix(changes, words):
    with pytest.raises(ValueError) as info:
        DataConfig(**{"dataset": "/data/x", **changes})
    message = str(info.value)
    assert "Fix:" in message
    for word in words:
        assert word in message


def test_crop_mode_allows_crop_above_load_size():
    assert DataConfig(dataset="/x", preprocess="crop", load_size=64, crop_size=128).crop_size == 128


def test_config_is_frozen_and_replace_revalidates():
    config = DataConfig(dataset="/x")
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.crop_size = 10
    with pytest.raises(ValueError, match="--crop_size=512"):
        dataclasses.replace(config, crop_size=512)
