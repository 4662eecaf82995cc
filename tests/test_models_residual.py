"""Residual generators (itgc_tf.models.residual): output = clip(x + G(x), -1, 1) for
every generator family, with export, profiling and saving as for the plain form."""
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf import options
from itgc_tf.eval.profile import profile
from itgc_tf.export import export_saved_model, export_tflite
from itgc_tf.artifacts.runners import SavedModelRunner
from itgc_tf.models.registry import build_generator
from itgc_tf.models.layers import ResidualOutput
from itgc_tf.models.residual import RESIDUAL_LAYER
from itgc_tf.training.builders import generator
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig
from export_helpers import smooth_images

# Each family at toy size, with the name of its last (head) layer.
FAMILIES = {"resnet_6blocks": "head_conv", "mobile_resnet_6blocks": "head_conv",
            "unet_16": "up_0"}
SIZE = 16


def _residual(name, norm="instance"):
    keras.utils.set_random_seed(0)
    return build_generator(name, 3, 3, 4, norm=norm, residual=True)


def _plain_part(model):
    """The generator inside a residual model: x -> G(x) (the tanh ``output`` layer)."""
    return keras.Model(model.input, model.get_layer("output").output)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_zeroed_head_makes_every_family_the_identity(name):
    model = _residual(name)
    head = model.get_layer(FAMILIES[name])
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    images = smooth_images(2, SIZE)
    np.testing.assert_array_equal(model(images, training=False).numpy(), images)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_output_is_the_clipped_sum_of_input_and_generator(name):
    model = _residual(name)
    images = smooth_images(2, SIZE, seed=3) * 1.5  # some sums leave [-1, 1]
    images = np.clip(images, -1, 1)
    delta = _plain_part(model)(images, training=False).numpy()
    expected = np.clip(images + delta, -1.0, 1.0)
    with warnings.catch_warnings():  # a plain tensor is the input it expects: no warning
        warnings.simplefilter("error")
        output = model(images, training=False).numpy()
    np.testing.assert_allclose(output, expected, atol=1e-6)
    assert not np.allclose(expected, images)  # the generator changes the image


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_gradients_reach_every_trainable_weight_and_the_input(name):
    model = _residual(name)
    images = tf.constant(smooth_images(2, SIZE, seed=1) * 0.5)
    with tf.GradientTape() as tape:
        tape.watch(images)
        loss = tf.reduce_mean(tf.abs(model(images, training=True) - 0.3))
    grads = tape.gradient(loss, model.trainable_variables + [images])
    for variable, grad in zip(model.trainable_variables + [images], grads):
        assert grad is not None and np.all(np.isfinite(grad.numpy())), variable.name
        assert np.linalg.norm(grad.numpy()) > 0, variable.name


def test_channel_mismatch_names_the_problem_and_the_fix():
    with pytest.raises(ValueError, match=r"maps 1 channels to 3.*Fix: drop --residual"):
        build_generator("unet_16", 1, 3, 4, residual=True)


def test_keras_file_round_trip_keeps_the_residual_output(tmp_path):
    model = _residual("mobile_resnet_6blocks", norm="batch")
    path = tmp_path / "generator.keras"
    model.save(path)
    loaded = keras.models.load_model(path, compile=False)
    images = smooth_images(2, SIZE, seed=2)
    assert isinstance(loaded.layers[-1], ResidualOutput)
    assert loaded.layers[-1].name == RESIDUAL_LAYER
    np.testing.assert_allclose(loaded(images, training=False).numpy(),
                               model(images, training=False).numpy(), atol=1e-6)


def test_profile_counts_one_add_per_output_value():
    plain = profile(build_generator("unet_16", 3, 3, 4), (32, 32, 3))
    residual = profile(_residual("unet_16"), (32, 32, 3))
    adds = [p for p in residual.per_layer if p.op == "residual_add"]
    assert [(p.name, p.macs) for p in adds] == [(RESIDUAL_LAYER, 32 * 32 * 3)]
    assert residual.macs == plain.macs + 32 * 32 * 3
    assert residual.params == plain.params


def test_saved_model_and_tflite_keep_parity(tmp_path):
    model = _residual("unet_16")
    images = smooth_images(4, 32, seed=5)
    export_dir = export_saved_model(model, str(tmp_path / "sm"), input_nc=3, output_nc=3)
    np.testing.assert_allclose(SavedModelRunner(export_dir)(images),
                               model(images, training=False).numpy(), atol=1e-5)
    result = export_tflite(export_dir, str(tmp_path / "g.tflite"), input_size=(32, 32),
                           parity_images=images, quantization="fp32")
    assert result.parity_psnr > 100


@pytest.mark.parametrize("command", [TrainTeacherConfig, DistillConfig])
@pytest.mark.parametrize("residual", [False, True])
def test_the_residual_option_reaches_the_generators_of_every_command(command, residual):
    values = {"dataset": "demo:enhance", "model_dir": "unused", "residual": residual}
    if command is DistillConfig:
        values["teacher"] = "unused"
    config = options.from_values(command, values)
    model = generator(config.layers, "unet_16", 4, 3, 3)
    assert any(isinstance(layer, ResidualOutput) for layer in model.layers) == residual
