"""Serving signatures take any input size (itgc_tf.export.padding): the input is
reflect-padded to the network's multiple inside the signature and the output cropped
back, while the Keras model keeps refusing sizes it cannot take."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from export_helpers import smooth_images, tiny_generator
from itgc_tf.export import export_saved_model, export_tflite
from itgc_tf.export.padding import pad_to_multiple, size_rule
from itgc_tf.models.registry import build_generator


def _split(size, multiple):
    total = -(-size // multiple) * multiple
    return (total - size) // 2, total - size - (total - size) // 2


def _numpy_pad(images, multiple):
    """Reference: np.pad's reflect mode, the pad split as the signatures split it."""
    return np.pad(images, ((0, 0), _split(images.shape[1], multiple),
                           _split(images.shape[2], multiple), (0, 0)), mode="reflect")


@pytest.mark.parametrize("height,width", [(37, 50), (16, 16), (3, 20), (2, 1), (1, 1)])
def test_padding_is_numpys_reflection_even_for_pads_wider_than_the_image(height, width):
    images = np.random.default_rng(0).normal(size=(2, height, width, 3)).astype(np.float32)
    padded, crop = pad_to_multiple(tf.constant(images), 16)
    np.testing.assert_array_equal(padded.numpy(), _numpy_pad(images, 16))
    np.testing.assert_array_equal(crop(padded).numpy(), images)


def test_padding_reaches_the_minimum_size():
    padded, crop = pad_to_multiple(tf.zeros([1, 5, 40, 1]), 8, minimum=32)
    assert padded.shape == (1, 32, 40, 1) and crop(padded).shape == (1, 5, 40, 1)


def test_size_rule_reads_the_networks_size_checks():
    assert size_rule(build_generator("unet_64", 3, 3, 2, norm="none")) == (64, 1)
    assert size_rule(build_generator("resnet_6blocks", 3, 3, 2, norm="none")) == (4, 1)
    assert size_rule(tiny_generator(ngf=2)) == (1, 1)


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    keras.utils.set_random_seed(0)
    generator = build_generator("unet_64", 3, 3, 2, norm="none")
    export_dir = export_saved_model(generator, str(tmp_path_factory.mktemp("sm") / "unet"),
                                    input_nc=3, output_nc=3)
    return generator, tf.saved_model.load(export_dir), export_dir


@pytest.mark.parametrize("height,width", [(37, 50), (100, 100), (64, 64)])
def test_unet_signature_matches_keras_on_a_manually_padded_input(unet, height, width):
    generator, loaded, _ = unet
    images = smooth_images(2, 128, seed=height)[:, :height, :width]
    outputs = loaded.signatures["serving_default"](images=tf.constant(images))["outputs"]
    padded = _numpy_pad(images, 64)
    top, left = _split(height, 64)[0], _split(width, 64)[0]
    expected = generator(padded, training=False).numpy()[:, top:top + height, left:left + width]
    assert outputs.shape == (2, height, width, 3)
    np.testing.assert_allclose(outputs.numpy(), expected, atol=1e-5)


def test_uint8_and_encoded_signatures_take_odd_sizes(unet):
    _, loaded, _ = unet
    pixels = np.random.default_rng(1).integers(0, 256, (1, 37, 50, 3), dtype=np.uint8)
    assert loaded.signatures["uint8"](images=pixels)["outputs"].shape == (1, 37, 50, 3)
    png = loaded.signatures["encoded"](image_bytes=tf.io.encode_png(pixels[0]))["png_bytes"]
    assert tf.io.decode_png(png).shape == (37, 50, 3)


def test_the_keras_model_still_refuses_sizes_it_cannot_take(unet):
    generator, _, _ = unet
    with pytest.raises(ValueError, match="unet_64 needs input height and width divisible by 64"):
        generator(smooth_images(1, 128)[:, :37, :50], training=False)


def test_a_fitting_fixed_size_tflite_model_has_no_padding_ops(unet, tmp_path):
    """At a size that already fits (TFLite's fixed input) the padding folds away: no
    GATHER / STRIDED_SLICE left to slow the model down or to quantise."""
    _, _, export_dir = unet
    result = export_tflite(export_dir, str(tmp_path / "unet.tflite"), input_size=(64, 64),
                           parity_images=smooth_images(1, 64))
    ops = {op["op_name"] for op in Interpreter(model_path=result.path)._get_ops_details()}
    assert "CONV_2D" in ops and not ops & {"GATHER", "STRIDED_SLICE", "SLICE"}
