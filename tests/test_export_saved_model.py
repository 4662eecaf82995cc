"""SavedModel export for TF Serving (itgc_tf.export.saved_model)."""
import collections
import os
import subprocess
import sys
import tempfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.export import export_saved_model, export_tflite, saved_model
from itgc_tf.models import layers
from itgc_tf.models.layers import InstanceNorm
from itgc_tf.models.resnet import resnet_generator
from itgc_tf.perf.trace import trace_events
from export_helpers import smooth_images, tiny_generator


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    keras.utils.set_random_seed(0)
    generator = tiny_generator()
    export_dir = export_saved_model(generator, str(tmp_path_factory.mktemp("sm") / "student"),
                                    input_nc=3, output_nc=3)
    return generator, export_dir, tf.saved_model.load(export_dir)


def _to_uint8(x):
    return np.round((np.clip(x, -1, 1) + 1) * 127.5).astype(np.uint8)


def test_saved_model_cli_lists_the_four_signatures(exported):
    _, export_dir, _ = exported
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--all", "--dir", export_dir], capture_output=True, text=True,
                           check=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}).stdout
    for signature in ("serving_default", "uint8", "encoded", "tflite"):
        assert f"signature_def['{signature}']" in shown
    assert "shape: (-1, -1, -1, 3)" in shown  # dynamic batch and spatial size


def test_float_signature_matches_keras_at_two_sizes(exported):
    generator, _, loaded = exported
    for size in (16, 24):
        images = smooth_images(2, size)
        outputs = loaded.signatures["serving_default"](images=tf.constant(images))["outputs"].numpy()
        assert outputs.shape == (2, size, size, 3) and outputs.dtype == np.float32
        np.testing.assert_allclose(outputs, generator(images, training=False).numpy(), atol=1e-5)


def test_uint8_signature_is_within_one_level_of_keras(exported):
    generator, _, loaded = exported
    pixels = np.random.default_rng(1).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    outputs = loaded.signatures["uint8"](images=tf.constant(pixels))["outputs"].numpy()
    assert outputs.dtype == np.uint8
    expected = _to_uint8(generator(pixels.astype(np.float32) / 127.5 - 1, training=False).numpy())
    assert np.max(np.abs(outputs.astype(int) - expected.astype(int))) <= 1


def test_encoded_signature_round_trips_png_and_jpeg_batches_and_scalars(exported):
    generator, _, loaded = exported
    pixels = _to_uint8(smooth_images(2, 16, seed=2))
    png = [tf.io.encode_png(p).numpy() for p in pixels]
    encoded = loaded.signatures["encoded"]
    outputs = encoded(image_bytes=tf.constant(png))["png_bytes"].numpy()
    assert outputs.shape == (2,)
    for pixel_in, png_out in zip(pixels, outputs):
        decoded = tf.io.decode_png(png_out).numpy()
        expected = _to_uint8(generator(pixel_in[None] / 127.5 - 1, training=False).numpy()[0])
        assert np.max(np.abs(decoded.astype(int) - expected.astype(int))) <= 1
    jpeg = tf.io.encode_jpeg(pixels[0], quality=95)
    scalar = encoded(image_bytes=jpeg)["png_bytes"]
    assert scalar.shape == ()
    decoded_jpeg = tf.io.decode_jpeg(jpeg).numpy()
    expected = _to_uint8(generator(decoded_jpeg[None] / 127.5 - 1, training=False).numpy()[0])
    assert np.max(np.abs(tf.io.decode_png(scalar).numpy().astype(int) - expected.astype(int))) <= 1


def test_grayscale_input_and_fixed_size_generator(tmp_path):
    generator = tiny_generator(input_nc=1, output_nc=3, spatial=(16, 16), ngf=4)
    loaded = tf.saved_model.load(export_saved_model(generator, str(tmp_path / "g"), input_nc=1, output_nc=3))
    spec = loaded.signatures["serving_default"].structured_input_signature[1]["images"]
    assert spec.shape.as_list() == [None, 16, 16, 1]
    gray = _to_uint8(smooth_images(1, 16, channels=1))
    rgb_png = tf.io.encode_png(np.repeat(gray[0], 3, axis=-1))  # decoded back to one channel
    out = tf.io.decode_png(loaded.signatures["encoded"](image_bytes=rgb_png)["png_bytes"]).numpy()
    expected = _to_uint8(generator(gray / 127.5 - 1, training=False).numpy()[0])
    assert out.shape == (16, 16, 3) and np.max(np.abs(out.astype(int) - expected.astype(int))) <= 1


def test_non_image_channel_counts_skip_the_encoded_signature(tmp_path):
    generator = tiny_generator(input_nc=2, output_nc=3, ngf=4)
    loaded = tf.saved_model.load(export_saved_model(generator, str(tmp_path / "g"), input_nc=2, output_nc=3))
    assert sorted(loaded.signatures.keys()) == ["serving_default", "tflite", "uint8"]


def test_generator_built_under_a_distribution_strategy_exports(tmp_path, two_replica_strategy):
    with two_replica_strategy.scope():
        generator = tiny_generator(ngf=4)
    loaded = tf.saved_model.load(export_saved_model(generator, str(tmp_path / "g"), input_nc=3, output_nc=3))
    images = smooth_images(1, 16)
    np.testing.assert_allclose(loaded.signatures["serving_default"](images=images)["outputs"].numpy(),
                               generator(images, training=False).numpy(), atol=1e-5)


def test_a_crash_mid_export_leaves_neither_target_nor_temporary(tmp_path, monkeypatch):
    real_save = tf.saved_model.save

    def save_then_crash(obj, export_dir, *args, **kwargs):
        real_save(obj, export_dir, *args, **kwargs)
        assert os.path.isfile(os.path.join(export_dir, "saved_model.pb"))  # files were written
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(tf.saved_model, "save", save_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        export_saved_model(tiny_generator(ngf=4), str(tmp_path / "g"), input_nc=3, output_nc=3)
    assert os.listdir(tmp_path) == []


def test_existing_export_needs_overwrite(tmp_path):
    target = str(tmp_path / "g")
    first = tiny_generator(ngf=4)
    export_saved_model(first, target, input_nc=3, output_nc=3)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_saved_model(tiny_generator(ngf=4), target, input_nc=3, output_nc=3)
    second = tiny_generator(ngf=4)
    export_saved_model(second, target, input_nc=3, output_nc=3, overwrite=True)
    images = smooth_images(1, 16)
    outputs = tf.saved_model.load(target).signatures["serving_default"](images=images)["outputs"].numpy()
    np.testing.assert_allclose(outputs, second(images, training=False).numpy(), atol=1e-5)
    assert os.listdir(tmp_path) == ["g"]


def test_channel_mismatches_are_reported(tmp_path):
    generator = tiny_generator(ngf=4)
    with pytest.raises(ValueError, match="input_nc=1"):
        export_saved_model(generator, str(tmp_path / "a"), input_nc=1, output_nc=3)
    with pytest.raises(ValueError, match="output_nc=1"):
        export_saved_model(generator, str(tmp_path / "b"), input_nc=3, output_nc=1)
    assert os.listdir(tmp_path) == []


# The fused instance norm (itgc_tf.models.layers.kernel_choice) in the serving
# signatures of a MobileResNet student with one block (9 instance norms; H, W padded to
# multiples of 4), any H, W: here images from 16 x 16 pixels on fuse every norm (the
# default threshold suits 256 pixels).
PER_IMAGE_FROM = 16 * 16
NORMS = 9


@pytest.fixture(scope="module")
def student(tmp_path_factory):
    keras.utils.set_random_seed(0)
    generator = resnet_generator(3, 3, ngf=4, n_blocks=1, mobile=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(saved_model, "PER_IMAGE_MIN_PIXELS", PER_IMAGE_FROM)
        export_dir = export_saved_model(generator, str(tmp_path_factory.mktemp("sm") / "student"),
                                        input_nc=3, output_nc=3)
    return generator, export_dir, tf.saved_model.load(export_dir)


def _serve(loaded, signature, images):
    return loaded.signatures[signature](images=tf.constant(images))["outputs"].numpy()


def _ops_run(loaded, signature, images, op_type="FusedBatchNorm"):
    """How many ops whose type contains ``op_type`` (by default the fused batch-norm
    kernels: FusedBatchNormV3, its oneDNN and +ReLU forms) a call of ``signature`` ran,
    from a TF-profiler trace."""
    _serve(loaded, signature, images)
    logdir = tempfile.mkdtemp()
    tf.profiler.experimental.start(logdir)
    _serve(loaded, signature, images)
    tf.profiler.experimental.stop()
    return sum(op_type in name.rsplit(":", 1)[-1] for name, _ in trace_events(logdir))


@pytest.mark.parametrize("batch", [1, 3])
def test_fused_serving_signatures_equal_keras_and_the_portable_signature(student, batch):
    generator, _, loaded = student
    images = smooth_images(batch, 24, seed=batch)
    expected = generator(images[:, :16], training=False).numpy()
    for signature in ("serving_default", "tflite"):
        np.testing.assert_allclose(_serve(loaded, signature, images[:, :16]), expected, atol=1e-5)
    odd = images[:, :19, :13]  # padded to 20 x 16 inside the signatures: fused
    np.testing.assert_allclose(_serve(loaded, "serving_default", odd),
                               _serve(loaded, "tflite", odd), atol=1e-5)


def test_serving_runs_the_fused_kernel_per_image_and_tflite_never(student):
    generator, _, loaded = student
    assert sum(isinstance(layer, InstanceNorm) for layer in generator._flatten_layers()) == NORMS
    large, small = smooth_images(2, 16), smooth_images(2, 12)
    assert _ops_run(loaded, "serving_default", large[:1]) == NORMS
    assert _ops_run(loaded, "serving_default", large) == 2 * NORMS  # per image
    assert _ops_run(loaded, "uint8", _to_uint8(large[:1])) == NORMS
    assert _ops_run(loaded, "serving_default", small[:1]) == 0
    assert _ops_run(loaded, "serving_default", small) == 0
    assert _ops_run(loaded, "tflite", large[:1]) == 0


def test_serving_runs_the_output_conv_on_pixel_blocks_and_tflite_not(student):
    """The 7x7 output convolution to RGB (`PixelBlockConv2D`) runs on 2x2 pixel blocks in
    the serving signatures (dynamic H, W; odd ones too) and plainly in `tflite`."""
    _, _, loaded = student
    images = smooth_images(1, 16)
    assert _ops_run(loaded, "serving_default", images, "SpaceToDepth") == 1
    assert _ops_run(loaded, "serving_default", images[:, :13, :11], "SpaceToDepth") == 1
    assert _ops_run(loaded, "tflite", images, "SpaceToDepth") == 0


def test_a_fixed_size_export_fuses_the_norms_whose_activations_reach_the_threshold(
        tmp_path, monkeypatch):
    """With a fixed H, W each norm chooses by its own activation size (static); a
    dynamic batch of such images runs image by image."""
    keras.utils.set_random_seed(0)
    generator = resnet_generator(3, 3, ngf=4, n_blocks=1, mobile=True, input_size=16)
    norms = [layer for layer in generator._flatten_layers() if isinstance(layer, InstanceNorm)]
    sizes = [int(np.prod(layer.output.shape[1:])) for layer in norms]
    threshold = max(sizes)  # the full-resolution norms only
    monkeypatch.setattr(layers, "FUSED_MIN_ELEMENTS", threshold)
    monkeypatch.setattr(saved_model, "PER_IMAGE_MIN_PIXELS", PER_IMAGE_FROM)
    large = sum(size >= threshold for size in sizes)
    assert 0 < large < NORMS
    loaded = tf.saved_model.load(export_saved_model(generator, str(tmp_path / "fixed"),
                                                    input_nc=3, output_nc=3))
    images = smooth_images(2, 16)
    assert _ops_run(loaded, "serving_default", images[:1]) == large
    assert _ops_run(loaded, "serving_default", images) == 2 * large
    np.testing.assert_allclose(_serve(loaded, "serving_default", images),
                               generator(images, training=False).numpy(), atol=1e-5)


def test_tflite_of_a_fused_export_keeps_the_portable_instance_norm_ops(student, tmp_path):
    """The TFLite model is converted from the `tflite` signature: MEAN/MUL/ADD instance
    norms that XNNPACK runs, not the SUB/SQUARED_DIFFERENCE lowering of the fused op."""
    from ai_edge_litert.interpreter import Interpreter

    _, export_dir, _ = student
    images = smooth_images(1, 16)
    result = export_tflite(export_dir, str(tmp_path / "s.tflite"), input_size=(16, 16),
                           parity_images=images)
    ops = collections.Counter(op["op_name"] for op in Interpreter(
        model_path=result.path)._get_ops_details())
    assert ops["MEAN"] == 2 * NORMS
    assert not set(ops) & {"SUB", "SQUARED_DIFFERENCE", "MIRROR_PAD", "RESHAPE",
                           "SPACE_TO_DEPTH", "DEPTH_TO_SPACE"}
