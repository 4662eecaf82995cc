"""Building blocks: reflection padding, norms, size check."""
import collections

import keras
import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from itgc_tf.models import layers
from itgc_tf.models.layers import (InstanceNorm, LeakyReLU, PixelBlockConv2D, ReflectionPad2D,
                                   SizeCheck, check_size, kernel_choice, leaky_relu,
                                   norm_layer, uses_bias)
from numpy_reference import numpy_valid_conv


@pytest.mark.parametrize("padding,np_pad", [(1, ((1, 1), (1, 1))),
                                            (3, ((3, 3), (3, 3))),
                                            ((2, 1), ((2, 2), (1, 1)))])
def test_reflection_pad_matches_numpy(padding, np_pad):
    x = np.random.rand(2, 5, 6, 3).astype("float32")
    out = ReflectionPad2D(padding)(x).numpy()
    expected = np.pad(x, ((0, 0), *np_pad, (0, 0)), mode="reflect")
    np.testing.assert_array_equal(out, expected)


def test_reflection_pad_refuses_padding_not_smaller_than_the_input():
    with pytest.raises(ValueError, match="needs more than 3 pixels along axis 2, got 3"):
        ReflectionPad2D((1, 3))(np.zeros((1, 5, 3, 2), "float32"))


def test_reflection_pad_gradient_matches_tf_pad():
    x = tf.random.stateless_normal((1, 6, 7, 2), seed=(0, 1))
    weights = tf.random.stateless_normal((1, 10, 11, 2), seed=(0, 2))
    grads = []
    for pad in (lambda x: ReflectionPad2D(2)(x),
                lambda x: tf.pad(x, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="REFLECT")):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(pad(x) * weights)
        grads.append(tape.gradient(loss, x).numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-6, atol=1e-6)


def test_reflection_pad_output_shape_keeps_unknown_sizes():
    assert ReflectionPad2D(3).compute_output_shape((None, None, 8, 4)) == (
        None, None, 14, 4)


def test_instance_norm_is_non_affine_per_example_per_channel():
    x = np.random.rand(2, 4, 5, 3).astype("float32") * 3 + 1
    layer = norm_layer("instance")
    assert isinstance(layer, InstanceNorm)
    out = layer(x).numpy()
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, (x - mean) / np.sqrt(var + 1e-5),
                               atol=1e-5)
    assert layer.weights == []


def test_instance_norm_equals_keras_group_norm_with_one_channel_per_group():
    x = tf.random.stateless_normal((2, 9, 7, 6), seed=(3, 4)) * 5 + 2
    keras_norm = keras.layers.GroupNormalization(groups=-1, center=False, scale=False,
                                                 epsilon=1e-5)
    np.testing.assert_allclose(InstanceNorm()(x).numpy(), keras_norm(x).numpy(),
                               atol=2e-5)


def _op_types(fn, x):
    return {op.type for op in tf.function(fn).get_concrete_function(x).graph.get_operations()}


def _numpy_instance_norm(array, gamma=None, beta=None):
    normalised = ((array - array.mean((1, 2), keepdims=True))
                  / np.sqrt(array.var((1, 2), keepdims=True) + 1e-5))
    return normalised if gamma is None else normalised * gamma + beta


def _norm(affine, channels, seed):
    rng = np.random.default_rng(seed)
    layer = InstanceNorm(affine=affine)
    layer.build((None, None, None, channels))
    if affine:
        layer.gamma.assign(rng.normal(1.0, 0.5, channels))
        layer.beta.assign(rng.normal(0.0, 0.5, channels))
    return layer


@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("shape", [(1, 7, 9, 1), (1, 13, 5, 16), (3, 33, 17, 40)])
def test_fused_instance_norm_equals_numpy_and_the_portable_form(affine, shape):
    x = tf.constant(np.random.default_rng(sum(shape)).normal(2.0, 3.0, shape), tf.float32)
    layer = _norm(affine, shape[-1], sum(shape))
    with kernel_choice("fast"):
        fused = layer(x).numpy()
        assert "FusedBatchNormV3" in _op_types(layer, x)  # really the fused kernel
    with kernel_choice("portable"):
        portable = layer(x).numpy()
        assert "FusedBatchNormV3" not in _op_types(layer, x)
    gamma, beta = (layer.gamma.numpy(), layer.beta.numpy()) if affine else (None, None)
    np.testing.assert_allclose(fused, _numpy_instance_norm(x.numpy(), gamma, beta), atol=1e-5)
    np.testing.assert_allclose(fused, portable, atol=1e-5)


@pytest.mark.parametrize("affine", [False, True])
def test_fused_instance_norm_gradients_equal_the_portable_forms(affine):
    """First-order (training) and second-order (gradient penalties) gradients with
    respect to the input and to gamma, beta, at batch 1 and 3."""
    for batch in (1, 3):
        x = tf.random.stateless_normal((batch, 11, 7, 5), seed=(batch, 2)) * 2 + 1
        weights = tf.random.stateless_normal(x.shape, seed=(batch, 3))
        layer = _norm(affine, 5, batch)
        grads = {}
        for kind in ("fast", "portable"):
            with kernel_choice(kind):
                with tf.GradientTape() as outer:
                    outer.watch(x)
                    with tf.GradientTape() as inner:
                        inner.watch(x)
                        loss = tf.reduce_sum(tf.nn.relu(layer(x)) * weights)
                    dx, *dweights = inner.gradient(loss, [x, *layer.trainable_weights])
                    penalty = tf.reduce_sum(dx * dx)
                grads[kind] = [dx, *dweights, outer.gradient(penalty, x)]
        for fused, portable in zip(grads["fast"], grads["portable"]):
            np.testing.assert_allclose(fused.numpy(), portable.numpy(), rtol=1e-4, atol=1e-4)


def test_auto_instance_norm_fuses_from_the_element_threshold_on(monkeypatch):
    """"auto": fused where the shape is static and one image's activation has at least
    FUSED_MIN_ELEMENTS elements; a dynamic batch or size stays portable; "portable"
    never fuses; with a GPU "auto" stays portable."""
    monkeypatch.setattr(layers, "FUSED_MIN_ELEMENTS", 6 * 5 * 4)
    layer = InstanceNorm()
    large = tf.random.stateless_normal((2, 6, 5, 4), seed=(5, 6)) * 2 + 1
    assert "FusedBatchNormV3" in _op_types(layer, large)
    assert "FusedBatchNormV3" not in _op_types(layer, large[:, :5])
    for dynamic in ([None, 6, 5, 4], [2, None, None, 4]):
        assert "FusedBatchNormV3" not in _op_types(layer, tf.TensorSpec(dynamic))
    with kernel_choice("fast"):
        assert "FusedBatchNormV3" in _op_types(layer, tf.TensorSpec([2, None, None, 4]))
    with kernel_choice("portable"):
        assert "FusedBatchNormV3" not in _op_types(layer, large)
    monkeypatch.setattr(layers, "auto_uses_fast_kernels", lambda: False)  # a GPU machine
    assert "FusedBatchNormV3" not in _op_types(layer, large)
    with kernel_choice("fast"):
        assert "FusedBatchNormV3" in _op_types(layer, large)
    with pytest.raises(ValueError, match="Unknown kernel choice 'fused'"):
        with kernel_choice("fused"):
            pass


@pytest.mark.parametrize("kind", ["fast", "portable"])
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_instance_norm_computes_in_float32_under_mixed_precision(policy, kind):
    """Half-precision in and out, statistics in float32: values far from 0 (where a
    half-precision variance would lose every digit) normalise to within the output
    dtype's rounding of the float32 result of the same (rounded) inputs, and so do the
    input gradients; the fused kernel takes the half-precision tensor itself (no casts)."""
    dtype = tf.float16 if policy == "mixed_float16" else tf.bfloat16
    eps = 2.0 ** -10 if dtype == tf.float16 else 2.0 ** -7  # relative rounding of [1, 2)
    x = tf.cast(tf.random.stateless_uniform((2, 8, 8, 3), (7, 8)) * 300 + 1000, dtype)
    weights = tf.random.stateless_normal(x.shape, seed=(7, 9))
    layer = _norm(True, 3, 1)
    half = InstanceNorm(affine=True, dtype=policy)
    half.build(x.shape)
    half.set_weights(layer.get_weights())
    with kernel_choice(kind):
        outputs, grads = [], []
        for norm, inputs in ((half, x), (layer, tf.cast(x, tf.float32))):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                out = norm(inputs)
                loss = tf.reduce_sum(tf.cast(out, tf.float32) * weights)
            outputs.append(out)
            grads.append(tape.gradient(loss, inputs))
        assert outputs[0].dtype == grads[0].dtype == dtype
        graph = tf.function(half).get_concrete_function(x).graph
    activation_casts = [op for op in graph.get_operations()  # not gamma's, beta's
                        if op.type == "Cast" and op.outputs[0].shape.rank == 4]
    assert (not activation_casts) == (kind == "fast")
    np.testing.assert_allclose(tf.cast(outputs[0], tf.float32), outputs[1],
                               atol=4 * eps * float(tf.reduce_max(tf.abs(outputs[1]))))
    np.testing.assert_allclose(tf.cast(grads[0], tf.float32), grads[1],
                               atol=4 * eps * float(tf.reduce_max(tf.abs(grads[1]))))


def test_instance_norm_and_reflection_pad_stay_on_xnnpack_ops_in_tflite():
    """No MIRROR_PAD, SUB, SQUARED_DIFFERENCE or 5-D RESHAPE: TFLite's XNNPACK
    delegate does not run those in int8 (docs/PERFORMANCE.md)."""
    images = keras.Input((16, 16, 3), batch_size=1)
    h = keras.layers.Conv2D(4, 3)(ReflectionPad2D(1)(images))
    model = keras.Model(images, InstanceNorm()(h))
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.representative_dataset = lambda: (
        [np.random.rand(1, 16, 16, 3).astype("float32")] for _ in range(4))
    interpreter = Interpreter(model_content=converter.convert())
    ops = collections.Counter(op["op_name"] for op in interpreter._get_ops_details())
    assert ops["CONV_2D"] == 1 and ops["MEAN"] == 2 and ops["CONCATENATION"] == 2
    assert not set(ops) & {"MIRROR_PAD", "SUB", "SQUARED_DIFFERENCE", "RESHAPE"}
    assert ops["QUANTIZE"] == ops["DEQUANTIZE"] == 1  # float only at the model's edges


def _block_conv(filters, k, channels, seed, use_bias=True):
    conv = PixelBlockConv2D(filters, k, use_bias=use_bias)
    conv.build((None, None, None, channels))
    rng = np.random.default_rng(seed)
    conv.kernel.assign(rng.normal(0.0, 0.3, conv.kernel.shape))
    if use_bias:
        conv.bias.assign(rng.normal(0.0, 0.3, filters))
    return conv


@pytest.mark.parametrize("k,channels,filters,height,width", [
    (7, 16, 3, 20, 22), (7, 5, 1, 15, 17), (5, 4, 2, 13, 12), (3, 6, 4, 10, 11), (1, 3, 3, 6, 7)])
def test_pixel_block_conv_equals_a_direct_convolution_at_any_size(k, channels, filters, height,
                                                                  width):
    """On 2x2 pixel blocks ("fast"): the values of a direct float64 convolution and of the
    plain Conv2D ("portable"), for even and odd H, W, static and dynamic."""
    conv = _block_conv(filters, k, channels, seed=k + channels)
    x = tf.random.stateless_normal((2, height, width, channels), seed=(k, channels))
    expected = numpy_valid_conv(x.numpy().astype(np.float64),
                                conv.kernel.numpy().astype(np.float64)) + conv.bias.numpy()
    dynamic = tf.TensorSpec([None, None, None, channels])
    with kernel_choice("fast"):
        static_fn = tf.function(conv)
        dynamic_fn = tf.function(conv, input_signature=[dynamic])
        assert "SpaceToDepth" in _op_types(conv, x)
        assert "SpaceToDepth" in _op_types(conv, dynamic)
        outputs = [conv(x), static_fn(x), dynamic_fn(x)]
    with kernel_choice("portable"):
        assert "SpaceToDepth" not in _op_types(conv, x)
        outputs.append(conv(x))
    assert outputs[1].shape == expected.shape  # static shapes inferred
    scale = np.abs(expected).max()
    for out in outputs:
        np.testing.assert_allclose(out.numpy(), expected, atol=1e-5 * scale)


def test_pixel_block_conv_gradients_equal_the_plain_convolutions():
    """Gradients with respect to the input, the kernel and the bias."""
    conv = _block_conv(3, 7, 8, seed=3)
    x = tf.random.stateless_normal((2, 16, 18, 8), seed=(1, 2))
    weights = tf.random.stateless_normal((2, 10, 12, 3), seed=(1, 3))
    grads = {}
    for kind in ("fast", "portable"):
        with kernel_choice(kind), tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(tf.tanh(conv(x)) * weights)
        grads[kind] = tape.gradient(loss, [x, conv.kernel, conv.bias])
    for fast, plain in zip(grads["fast"], grads["portable"]):
        np.testing.assert_allclose(fast.numpy(), plain.numpy(),
                                   atol=1e-5 * float(tf.reduce_max(tf.abs(plain))))


def test_auto_runs_pixel_blocks_for_large_kernels_to_few_channels(monkeypatch):
    """"auto": blocks for kernels >= BLOCK_MIN_KERNEL to <= BLOCK_MAX_FILTERS channels on
    a machine without a GPU; "fast" wherever the convolution allows blocks (stride 1,
    'valid', odd kernel), "portable" never."""
    x = tf.zeros((1, 12, 12, 16))
    blocks = lambda conv: "SpaceToDepth" in _op_types(conv, x)  # noqa: E731
    rgb_7x7, rgb_5x5 = PixelBlockConv2D(3, 7), PixelBlockConv2D(layers.BLOCK_MAX_FILTERS, 5)
    rgb_3x3, wide = PixelBlockConv2D(3, 3), PixelBlockConv2D(layers.BLOCK_MAX_FILTERS + 1, 7)
    assert blocks(rgb_7x7) and blocks(rgb_5x5)
    assert not blocks(rgb_3x3) and not blocks(wide)
    strided, same = PixelBlockConv2D(3, 7, strides=2), PixelBlockConv2D(3, 7, padding="same")
    even_kernel = PixelBlockConv2D(3, 6)
    with kernel_choice("fast"):
        assert blocks(rgb_3x3) and blocks(wide)
        assert not blocks(strided) and not blocks(same) and not blocks(even_kernel)
    with kernel_choice("portable"):
        assert not blocks(rgb_7x7)
    monkeypatch.setattr(layers, "auto_uses_fast_kernels", lambda: False)  # a GPU machine
    assert not blocks(rgb_7x7)


def test_pixel_block_conv_under_mixed_bfloat16_stays_bfloat16():
    """bfloat16 in and out, within bfloat16 rounding of the float32 convolution."""
    conv = _block_conv(3, 7, 8, seed=5)
    half = PixelBlockConv2D(3, 7, dtype="mixed_bfloat16")
    half.build((None, None, None, 8))
    half.set_weights(conv.get_weights())
    x = tf.random.stateless_normal((1, 14, 14, 8), seed=(5, 6))
    with kernel_choice("fast"):
        out = half(tf.cast(x, tf.bfloat16))
        expected = conv(x)
    assert out.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(out, tf.float32), expected,
                               atol=0.05 * float(tf.reduce_max(tf.abs(expected))))


def test_batch_norm_has_pytorch_settings():
    layer = norm_layer("batch")
    layer.build((None, 4, 4, 64))
    assert layer.momentum == pytest.approx(0.9)
    assert layer.epsilon == pytest.approx(1e-5)
    gamma = layer.gamma.numpy()
    assert abs(gamma.mean() - 1.0) < 0.02 and 0.005 < gamma.std() < 0.05


def test_none_norm_is_identity_and_conv_bias_rule():
    x = np.random.rand(1, 2, 2, 3).astype("float32")
    np.testing.assert_array_equal(norm_layer("none")(x).numpy(), x)
    assert uses_bias("instance") and uses_bias("none")
    assert not uses_bias("batch")


def test_unknown_norm_lists_choices():
    with pytest.raises(ValueError, match="use one of instance, batch, none"):
        norm_layer("group")


def test_size_check_static_sizes():
    check_size(None, 8, "net")
    check_size((None, 16), 8, "net")
    with pytest.raises(ValueError, match="net needs input height and width "
                                         "divisible by 8, got 12x12"):
        check_size(12, 8, "net")
    x = tf.zeros((1, 16, 24, 3))
    assert SizeCheck(8, "net")(x) is x
    with pytest.raises(ValueError, match="divisible by 16"):
        SizeCheck(16, "net")(x)


def test_size_check_minimum():
    check_size(24, 1, "D", minimum=24)
    with pytest.raises(ValueError, match="D needs input height and width at "
                                         "least 24, got 23x30"):
        check_size((23, 30), 1, "D", minimum=24)
    with pytest.raises(ValueError, match="divisible by 4 and at least 8"):
        SizeCheck(4, "net", minimum=8)(tf.zeros((1, 4, 4, 1)))


def test_size_check_dynamic_sizes_fail_at_run_time():
    layer = SizeCheck(8, "net")
    check = tf.function(layer, input_signature=[
        tf.TensorSpec((None, None, None, 3))])
    np.testing.assert_array_equal(check(tf.ones((1, 8, 16, 3))).numpy(),
                                  np.ones((1, 8, 16, 3)))
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=r"net needs input height and width divisible by 8"
                             r".*\[8 12\]"):
        check(tf.ones((1, 8, 12, 3)))


@pytest.mark.parametrize("slope", [0.0, 0.01, 0.2])
def test_leaky_relu_values_and_gradient_equal_tensorflows(slope):
    x = tf.constant(np.r_[np.linspace(-2, 2, 41), [0.0, -0.0]].astype(np.float32))
    dy = tf.random.normal(x.shape, seed=3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = leaky_relu(x, slope), tf.nn.leaky_relu(x, slope)
    np.testing.assert_array_equal(ours, theirs)
    np.testing.assert_array_equal(tape.gradient(ours, x, dy), tape.gradient(theirs, x, dy))
    layer = LeakyReLU(slope)
    np.testing.assert_array_equal(layer(x), keras.layers.LeakyReLU(slope)(x))
    assert LeakyReLU.from_config(layer.get_config()).negative_slope == slope
    with pytest.raises(ValueError, match="negative_slope"):
        LeakyReLU(1.5)


LEAKY_TRAIN_STEP = """
import tensorflow as tf
from itgc_tf.models.layers import LeakyReLU
model = tf.keras.Sequential([tf.keras.Input((16, 16, 3)), tf.keras.layers.Conv2D(4, 3),
                             LeakyReLU(0.2), tf.keras.layers.Conv2D(1, 3)])
optimizer = tf.keras.optimizers.SGD(0.1)
@tf.function
def step(x):
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x) ** 2)
    optimizer.apply(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
step(tf.ones([2, 16, 16, 3]))
print("trained")
"""


def test_conv_leaky_relu_training_graph_keeps_grapplers_remapper(tmp_path):
    """With TF's LeakyReluGrad, conv + bias + LeakyRelu made the remapper fail on the
    whole train graph ("remapper failed ... LeakyReluGrad"); ours must not."""
    import os
    import subprocess
    import sys
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0")
    result = subprocess.run([sys.executable, "-c", LEAKY_TRAIN_STEP], capture_output=True,
                            text=True, env=env, timeout=300)
    assert "trained" in result.stdout, result.stderr[-2000:]
    assert "remapper failed" not in result.stderr
    failing = LEAKY_TRAIN_STEP.replace("LeakyReLU(0.2)", "tf.keras.layers.LeakyReLU(0.2)")
    control = subprocess.run([sys.executable, "-c", failing], capture_output=True, text=True,
                             env=env, timeout=300)
    assert "remapper failed" in control.stderr  # the check can see the failure
