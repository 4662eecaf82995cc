"""VGGFeatures: layers, preprocessing, weight sources and their error messages."""
import logging

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.losses.vgg import (
    KERAS_CACHE_FILE, OMGD_VGG_LAYERS, RANDOM_VGG_WARNING, VGGFeatures, caffe_preprocess)


def _images(batch=2, size=32, channels=3, seed=0):
    shape = (batch, size, size, channels)
    return np.random.default_rng(seed).uniform(-1, 1, shape).astype("float32")


def _keras_vgg16():
    return keras.applications.VGG16(include_top=False, weights=None,
                                    input_shape=(None, None, 3))


def _save_legacy_h5(model, path):
    """Write `model`'s weights in the layout of Keras' downloadable notop .h5 file."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in model.layers]
        for layer in model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}_{'W' if i == 0 else 'b'}_1:0".encode()
                     for i in range(len(layer.weights))]
            group.attrs["weight_names"] = names
            for name, weight in zip(names, layer.weights):
                group.create_dataset(name.decode(), data=weight.numpy())


@pytest.fixture(scope="module")
def random_vgg():
    keras.utils.set_random_seed(7)
    return VGGFeatures(allow_random_weights_for_testing=True)


def test_features_are_post_relu_maps_of_each_block(random_vgg):
    feats = random_vgg(_images())
    assert list(feats) == list(OMGD_VGG_LAYERS)
    shapes = {name: tuple(f.shape) for name, f in feats.items()}
    assert shapes == {"block1_conv2": (2, 32, 32, 64), "block2_conv2": (2, 16, 16, 128),
                      "block3_conv3": (2, 8, 8, 256), "block4_conv3": (2, 4, 4, 512)}
    for f in feats.values():
        assert float(tf.reduce_min(f)) >= 0.0 and float(tf.reduce_max(f)) > 0.0
    assert random_vgg.trainable_weights == [] and random_vgg.is_random


def test_features_equal_keras_vgg16_on_keras_preprocessing(random_vgg):
    """Independent path: numpy keras preprocess_input + a separate VGG16 sharing weights."""
    x = _images()
    reference = _keras_vgg16()
    taps = keras.Model(reference.input, [reference.get_layer(n).output for n in OMGD_VGG_LAYERS])
    taps.set_weights(random_vgg.extractor.get_weights())
    expected = taps(keras.applications.vgg16.preprocess_input((x + 1.0) * 127.5))
    np.testing.assert_allclose(caffe_preprocess(tf.constant(x)).numpy(),
                               keras.applications.vgg16.preprocess_input((x + 1.0) * 127.5),
                               atol=1e-4)
    got = random_vgg(x)
    for name, want in zip(OMGD_VGG_LAYERS, expected):
        np.testing.assert_allclose(got[name].numpy(), want.numpy(), rtol=1e-4, atol=1e-3)


def test_one_channel_images_are_tiled_to_rgb(random_vgg):
    gray = _images(channels=1)
    got, want = random_vgg(gray), random_vgg(np.repeat(gray, 3, axis=-1))
    for name in OMGD_VGG_LAYERS:
        np.testing.assert_allclose(got[name].numpy(), want[name].numpy(), rtol=1e-5, atol=1e-4)


def test_only_requested_layers_are_built():
    vgg = VGGFeatures(layers=("block2_conv2",), allow_random_weights_for_testing=True)
    assert list(vgg(_images(size=16))) == ["block2_conv2"]
    assert not any(layer.name.startswith("block3") for layer in vgg.extractor.layers)


def test_bad_inputs_and_layers_raise_clear_errors(random_vgg):
    with pytest.raises(ValueError, match="1 or 3"):
        random_vgg(_images(channels=2))
    with pytest.raises(ValueError, match="choose from .*block1_conv1"):
        VGGFeatures(layers=("relu2_2",), allow_random_weights_for_testing=True)


def test_random_weights_log_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        vgg = VGGFeatures(layers=("block1_conv2",), allow_random_weights_for_testing=True)
    assert vgg.is_random
    assert any(RANDOM_VGG_WARNING in record.getMessage() for record in caplog.records)


def test_missing_cache_file_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    with pytest.raises(FileNotFoundError) as error:
        VGGFeatures()
    message = str(error.value)
    assert str(tmp_path / "models" / KERAS_CACHE_FILE) in message
    assert 'keras.applications.VGG16(include_top=False)' in message
    assert "--vgg_weights=PATH" in message


def test_missing_weights_path_names_it(tmp_path):
    path = str(tmp_path / "nope.h5")
    with pytest.raises(FileNotFoundError, match="--vgg_weights='.*nope.h5' is not a file"):
        VGGFeatures(weights_path=path)


@pytest.mark.parametrize("source", ["weights_h5", "legacy_h5", "keras_cache"])
def test_weights_load_from_file(source, tmp_path, monkeypatch):
    keras.utils.set_random_seed(3)
    model = _keras_vgg16()
    if source == "weights_h5":
        path = str(tmp_path / "vgg16_notop.weights.h5")
        model.save_weights(path)
        vgg = VGGFeatures(weights_path=path)
    else:
        path = str(tmp_path / "models" / KERAS_CACHE_FILE)
        (tmp_path / "models").mkdir()
        _save_legacy_h5(model, path)
        if source == "legacy_h5":
            vgg = VGGFeatures(weights_path=path)
        else:
            monkeypatch.setenv("KERAS_HOME", str(tmp_path))
            vgg = VGGFeatures()
    assert not vgg.is_random and vgg.weights_path == path
    x = _images(size=16)
    taps = keras.Model(model.input, [model.get_layer(n).output for n in OMGD_VGG_LAYERS])
    for name, want in zip(OMGD_VGG_LAYERS, taps(caffe_preprocess(tf.constant(x)))):
        np.testing.assert_array_equal(vgg(x)[name].numpy(), want.numpy())


@pytest.mark.filterwarnings("ignore:Skipping nested container")  # Keras' note before it raises.
def test_corrupt_or_foreign_weight_files_name_the_path(tmp_path):
    corrupt = tmp_path / "corrupt.h5"
    corrupt.write_bytes(b"not an hdf5 file")
    with pytest.raises(ValueError, match="corrupt.h5"):
        VGGFeatures(weights_path=str(corrupt))
    foreign = str(tmp_path / "foreign.weights.h5")
    foreign_model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(64, 3)])
    foreign_model.save_weights(foreign)
    with pytest.raises(ValueError, match="foreign.weights.h5.*VGG16"):
        VGGFeatures(weights_path=foreign)


def test_config_round_trip_keeps_layers_and_random_flag(random_vgg):
    clone = VGGFeatures.from_config(random_vgg.get_config())
    assert clone.layer_names == random_vgg.layer_names and clone.is_random
