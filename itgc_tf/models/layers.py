"""Building blocks shared by the generators and discriminators.

Initialisation follows the pix2pix/CycleGAN originals (``init_type="normal"``,
``init_gain=0.02``): convolution and dense kernels ~ N(0, 0.02), biases 0,
batch-norm scale ~ N(1, 0.02) and offset 0. Instance norm is non-affine, as in
the originals (``InstanceNorm2d(affine=False)``); CAT's inception generators use
the affine form (``affine=True``: a learnt per-channel scale γ and offset β, γ
initialised 1, β 0, as PyTorch's ``affine=True``), whose |γ| rank channels for pruning.
"""
import contextlib
import contextvars
import functools

import keras
import numpy as np
import tensorflow as tf

NORMS = ("instance", "batch", "none")


def weight_init():
    """Kernel initialiser of the originals: N(0, 0.02)."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=0.02)


def leaky_relu(x, negative_slope=0.2):
    """LeakyReLU whose gradient reads its output instead of its input.

    max(x, slope * x) for 0 <= slope < 1, so y > 0 exactly where x > 0. Grappler's
    remapper fuses conv + bias + LeakyRelu into one op; TF's own gradient
    (LeakyReluGrad) needs the pre-activation tensor that the fusion removes, so the
    remapper gave up on the whole training graph ("remapper failed: ... fanout
    LeakyReluGrad exist for missing node"), losing every fusion in it. A gradient
    that reads y keeps the fusion: TF's own LeakyReluGrad kernel on y (one element-wise
    op, 2-3x faster than comparing and selecting). Any shape; same dtype out.

    Beware (TF 2.21, oneDNN): the remapper fuses conv + BiasAdd + Add + LeakyRelu into
    one op that applies slope 0.2 whatever ``negative_slope`` is; with another slope,
    add biases after such a sum (as `itgc_tf.vem.critic` does).
    """
    if not 0 <= negative_slope < 1:
        raise ValueError(f"leaky_relu needs 0 <= negative_slope < 1, got {negative_slope}.")

    @tf.custom_gradient
    def forward(x):
        y = tf.nn.leaky_relu(x, negative_slope)

        def grad(dy):
            return tf.raw_ops.LeakyReluGrad(gradients=dy, features=y, alpha=negative_slope)

        return y, grad

    return forward(x)


@keras.saving.register_keras_serializable(package="itgc_tf")
class LeakyReLU(keras.layers.Layer):
    """Keras layer of ``leaky_relu`` (same values as ``keras.layers.LeakyReLU``)."""

    def __init__(self, negative_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= negative_slope < 1:
            raise ValueError(f"LeakyReLU needs 0 <= negative_slope < 1, got {negative_slope}.")
        self.negative_slope = negative_slope

    def call(self, inputs):
        return leaky_relu(inputs, self.negative_slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return super().get_config() | {"negative_slope": self.negative_slope}


KERNEL_CHOICES = ("auto", "fast", "portable")
# Fewest elements (H * W * C) of one image's activation whose instance norm runs fused
# under "auto": below it the fused kernel's fixed cost per call outweighs its saving
# (forward + backward, docs/PERFORMANCE.md: 2**16 elements 0.6-0.8x, 2**18 1.6-1.7x).
FUSED_MIN_ELEMENTS = 2 ** 17
_KERNEL_CHOICE = contextvars.ContextVar("kernel_choice", default="auto")


@contextlib.contextmanager
def kernel_choice(kind):
    """Layers with two kernels (`InstanceNorm`: fused or portable; `PixelBlockConv2D`: on
    pixel blocks or plain) traced within it choose:

    - ``"auto"`` (the default): on a machine without a GPU, the fast kernel where it was
      measured to pay (the instance norm of a static shape whose one image's activation
      has at least `FUSED_MIN_ELEMENTS` elements; the convolution to at most
      `BLOCK_MAX_FILTERS` channels with a kernel of at least `BLOCK_MIN_KERNEL`), else
      the portable one; always the portable one with a GPU (the fast kernels were
      measured on CPU only, and on a GPU one fused norm per image would multiply
      kernel launches);
    - ``"fast"``: the fast kernel wherever the shape allows it;
    - ``"portable"``: plain ops only. TFLite lowers the fused norm to SUB and
      SQUARED_DIFFERENCE (its slow int8 path), so what TFLite converts traces under it
      (`itgc_tf.export.saved_model`'s ``tflite`` signature).

    Read at trace time: the kernel is part of the traced graph.
    """
    if kind not in KERNEL_CHOICES:
        raise ValueError(f"Unknown kernel choice {kind!r}; expected one of {KERNEL_CHOICES}.")
    token = _KERNEL_CHOICE.set(kind)
    try:
        yield
    finally:
        _KERNEL_CHOICE.reset(token)


@functools.cache
def auto_uses_fast_kernels():
    """Whether "auto" (`kernel_choice`) may choose the fast kernels: no GPU visible."""
    return not tf.config.list_physical_devices("GPU")


def _fast_kernel(allowed, pays):
    """Whether a layer traced now runs its fast kernel (`kernel_choice`), given whether
    its shapes allow it and whether it was measured to pay there."""
    kind = _KERNEL_CHOICE.get()
    if kind == "portable" or not allowed:
        return False
    return kind == "fast" or (auto_uses_fast_kernels() and pays)


def _fuses(shape):
    """Whether an instance norm of a [B, H, W, C] input of static ``shape`` traced now runs
    the fused kernel (`kernel_choice`)."""
    batch, height, width, channels = shape
    return _fast_kernel(batch is not None, None not in (height, width)
                        and height * width * channels >= FUSED_MIN_ELEMENTS)


@keras.saving.register_keras_serializable(package="itgc_tf")
class InstanceNorm(keras.layers.Layer):
    """Instance norm: (x - mean) / sqrt(var + epsilon), mean and variance over H and W
    per example and channel (PyTorch ``InstanceNorm2d(affine=False)``); with
    ``affine`` then times ``gamma`` plus ``beta`` (per channel, PyTorch ``affine=True``).

    Two kernels, same values to float rounding (`kernel_choice` chooses):
    - fused: TF's fused batch-norm op in training mode (``FusedBatchNormV3``) on each
      image [1, H, W, C] of a static batch, whose batch statistics are the image's
      instance statistics; one oneDNN pass forward and one backward (its gradient is
      ``FusedBatchNormGradV3``) instead of MEAN, ADD, MUL passes: about 2x faster on
      large activations, slower on small ones.
    - portable: 4-D reductions over axes 1, 2, multiplications and additions only
      (any batch, also dynamic): TFLite's XNNPACK delegate runs those in float and
      int8, whereas Keras' ``GroupNormalization(groups=-1)`` form (5-D reshape,
      float-only NEG and SQUARE, a broadcasting SUB) fell back to slow reference
      kernels (the int8 student was 4x slower; docs/PERFORMANCE.md).
    Both compute their statistics in float32 under mixed precision: the portable form
    casts to float32 and back (two-pass variance); the fused op takes bfloat16 or float16
    in and out itself, its statistics and scale float32 (no cast ops: a quarter of the
    bfloat16 teacher's op time was casts around it, and the cast kept grappler from
    fusing the ReLU after it).

    Shapes: [B, H, W, C] -> [B, H, W, C].
    """

    def __init__(self, epsilon=1e-5, affine=False, **kwargs):
        super().__init__(**kwargs)
        self.epsilon = epsilon
        self.affine = affine

    def build(self, input_shape):
        if self.affine:
            channels = (input_shape[-1],)
            self.gamma = self.add_weight(name="gamma", shape=channels, initializer="ones")
            self.beta = self.add_weight(name="beta", shape=channels, initializer="zeros")
        self.built = True

    def call(self, inputs):
        if _fuses(inputs.shape):
            return self._fused(inputs)
        return tf.cast(self._portable(tf.cast(inputs, tf.float32)), inputs.dtype)

    def _scale_and_offset(self):
        """float32 gamma, beta [C]; None, None when not affine."""
        if not self.affine:
            return None, None
        return tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32)

    def _portable(self, x):
        """MEAN, MUL, ADD only (any batch; what TFLite converts to XNNPACK ops)."""
        # "+ mean * -1" rather than "- mean": TFLite's converter turns the latter
        # into a broadcasting SUB, which XNNPACK does not run in int8.
        centred = x + tf.reduce_mean(x, [1, 2], keepdims=True) * -1.0
        variance = tf.reduce_mean(centred * centred, [1, 2], keepdims=True)
        normalised = centred * tf.math.rsqrt(variance + self.epsilon)
        gamma, beta = self._scale_and_offset()
        return normalised if gamma is None else normalised * gamma + beta

    def _fused(self, x):
        """FusedBatchNormV3 in training mode on each [1, H, W, C] image of a static batch,
        in x's dtype (float32, bfloat16 or float16; statistics in float32). The raw op
        keeps epsilon exact, where tf.compat.v1.nn.fused_batch_norm raises it to 1.001e-5."""
        gamma, beta = self._scale_and_offset()
        channels = x.shape[-1]
        scale = tf.ones([channels]) if gamma is None else gamma
        offset = tf.zeros([channels]) if beta is None else beta

        def normalise(image):
            normalised, *_ = tf.raw_ops.FusedBatchNormV3(
                x=image, scale=scale, offset=offset, mean=tf.constant([], tf.float32),
                variance=tf.constant([], tf.float32), epsilon=self.epsilon,
                exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
            return normalised

        if x.shape[0] == 1:
            return normalise(x)
        return tf.concat([normalise(image) for image in tf.split(x, x.shape[0])], 0)

    def get_config(self):
        return {**super().get_config(), "epsilon": self.epsilon, "affine": self.affine}


# Where "auto" (`kernel_choice`) runs a `PixelBlockConv2D` on pixel blocks: at most this
# many output channels and a kernel at least this large. Forward + backward at 256²
# (docs/PERFORMANCE.md, section block_conv): 7x7 to 1-3 channels 1.8-2.3x faster, 5x5
# 1.3-1.6x; but 3x3 forward 0.75x, 7x7 to 8 channels 1.0-1.4x, a 3 -> 16 stem forward 0.4-0.6x.
BLOCK_MAX_FILTERS = 4
BLOCK_MIN_KERNEL = 5


def pixel_block_kernel(kernel):
    """The kernel of the same convolution on 2×2 pixel blocks.

    kernel: [k, k, C, O], k odd. Returns [m, m, 4C, 4O], m = (k + 1) / 2, such that
    depth_to_space(conv(space_to_depth(x, 2), result, 'valid'), 2) equals
    conv(x, kernel, 'valid') for x [B, H, W, C] with H, W even. Block channels are in
    space_to_depth's order, (2·row + column)·C + c, and so are the output's.
    """
    k, _, channels, filters = kernel.shape
    m = (k + 1) // 2
    # Output pixel 2Y + oi reads input row 2(Y + a) + di through kernel row 2a + di - oi.
    rows = (2 * np.arange(m)[:, None, None] + np.arange(2)[None, :, None]
            - np.arange(2)[None, None, :])  # [a, di, oi]
    inside = (rows >= 0) & (rows < k)
    taps = np.where(inside[:, None, :, None, :, None] & inside[None, :, None, :, None, :],
                    rows[:, None, :, None, :, None] * k + rows[None, :, None, :, None, :],
                    k * k)  # [a, b, di, dj, oi, oj]; k * k: the zero tap
    flat = tf.concat([tf.reshape(kernel, [k * k, channels, filters]),
                      tf.zeros([1, channels, filters], kernel.dtype)], 0)
    blocks = tf.gather(flat, taps)  # [a, b, di, dj, oi, oj, C, O]
    blocks = tf.transpose(blocks, [0, 1, 2, 3, 6, 4, 5, 7])
    return tf.reshape(blocks, [m, m, 4 * channels, 4 * filters])


@keras.saving.register_keras_serializable(package="itgc_tf")
class PixelBlockConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose stride-1 'valid' convolution can run on 2×2 pixel
    blocks: space_to_depth, an m×m convolution (m = (k + 1) / 2) from 4·C to 4·O
    channels (`pixel_block_kernel`), depth_to_space. Same kernel variable [k, k, C, O],
    same values to float rounding; `kernel_choice` chooses.

    oneDNN runs convolutions to a few channels far below its rate: the generators'
    7×7 output convolution to RGB ran at 28–85 GFLOP/s, 12 % of a distillation step's
    op time. On blocks it does 4 m² / k² (1.31× for 7×7) the multiply-adds with 4× the
    output channels: 1.5–2.7× faster forward and 1.8–2.3× forward + backward at 256²
    (docs/PERFORMANCE.md; ``scripts/benchmark.py --sections=block_conv``).

    Blocks need a stride-1, undilated, ungrouped 'valid' convolution with an odd square
    kernel, channels last; otherwise (or "portable") it is ``Conv2D``. An odd or dynamic
    H or W is padded with a zero row or column first, and the output cropped. Shapes:
    [B, H, W, C] -> [B, H - k + 1, W - k + 1, O].
    """

    def call(self, inputs):
        if not self._on_blocks():
            return super().call(inputs)
        k = self.kernel_size[0]
        sizes = [inputs.shape[axis] or tf.shape(inputs)[axis] for axis in (1, 2)]
        even = all(isinstance(size, int) and not size % 2 for size in sizes)
        # An odd H or W gets a zero row or column, and the output one more, cropped.
        x = inputs if even else tf.pad(inputs, [[0, 0], [0, sizes[0] % 2], [0, sizes[1] % 2],
                                                [0, 0]])
        blocks = tf.nn.conv2d(tf.nn.space_to_depth(x, 2), pixel_block_kernel(self.kernel), 1,
                              "VALID")
        if self.use_bias:
            blocks = tf.nn.bias_add(blocks, tf.tile(self.bias, [4]))
        outputs = tf.nn.depth_to_space(blocks, 2)
        if not even:
            outputs = outputs[:, :sizes[0] - k + 1, :sizes[1] - k + 1]
        return self.activation(outputs)

    def _on_blocks(self):
        k = self.kernel_size
        allowed = (tuple(self.strides) == (1, 1) and tuple(self.dilation_rate) == (1, 1)
                   and self.groups == 1 and self.padding == "valid"
                   and self.data_format == "channels_last" and k[0] == k[1] and k[0] % 2 == 1)
        return _fast_kernel(allowed, self.filters <= BLOCK_MAX_FILTERS
                            and k[0] >= BLOCK_MIN_KERNEL)


def norm_layer(kind, name=None, affine_instance=False):
    """Normalisation layer for ``kind`` in ``instance|batch|none``.

    ``instance`` is non-affine unless ``affine_instance``; ``batch`` is always
    affine, with PyTorch's momentum (0.1, i.e. Keras 0.9) and epsilon; ``none`` is
    an identity layer so every block keeps the same layer names whatever the norm.
    """
    if kind == "instance":
        return InstanceNorm(affine=affine_instance, name=name)
    if kind == "batch":
        return keras.layers.BatchNormalization(
            momentum=0.9, epsilon=1e-5,
            gamma_initializer=keras.initializers.RandomNormal(1.0, 0.02),
            name=name)
    if kind == "none":
        return keras.layers.Identity(name=name)
    raise ValueError(
        f"Unknown norm {kind!r}; use one of {', '.join(NORMS)}.")


def uses_bias(norm):
    """Whether a convolution followed by ``norm`` needs its own bias.

    Batch norm's offset makes a bias redundant (the originals drop it); with
    instance norm (non-affine) or no norm the conv keeps its bias. (The
    originals also drop it for ``none``, a quirk not reproduced here.)
    """
    norm_layer(norm)  # validates the name
    return norm != "batch"


def _pair(value):
    if isinstance(value, int):
        return (value, value)
    return tuple(value)


def _reflection_pad(x, ph, pw):
    """tf.pad(x, mode="REFLECT") as one-pixel slices and a concatenation.

    TFLite's MIRROR_PAD is not delegated to XNNPACK and took 30% of the int8 student's
    latency; slices and concatenations are. The gradient is MirrorPadGrad, as for
    tf.pad: the slices' own gradients cost 5% of a ResNet teacher's train step.
    """
    @tf.custom_gradient
    def pad(x):
        for axis, p in ((1, ph), (2, pw)):
            if p:
                x = tf.concat([_row(x, axis, i) for i in range(p, 0, -1)] + [x] +
                              [_row(x, axis, -1 - i) for i in range(1, p + 1)], axis)

        def grad(upstream):
            return tf.raw_ops.MirrorPadGrad(
                input=upstream, paddings=[[0, 0], [ph, ph], [pw, pw], [0, 0]], mode="REFLECT")

        return x, grad

    return pad(x)


def _row(x, axis, index):
    """x[:, index] (axis 1) or x[:, :, index] (axis 2), keeping the axis."""
    end = index + 1 or None
    return x[:, index:end] if axis == 1 else x[:, :, index:end]


@keras.saving.register_keras_serializable(package="itgc_tf")
class ReflectionPad2D(keras.layers.Layer):
    """Reflection padding of NHWC tensors (PyTorch ``ReflectionPad2d``).

    Args:
      padding: int, or (pad_h, pad_w): pixels added on both sides of H and W.
        Each must be smaller than the corresponding input size.

    Shapes: [B, H, W, C] -> [B, H + 2 pad_h, W + 2 pad_w, C].
    """

    def __init__(self, padding=1, **kwargs):
        super().__init__(**kwargs)
        self.padding = _pair(padding)

    def call(self, inputs):
        ph, pw = self.padding
        for axis, pad in ((1, ph), (2, pw)):
            size = inputs.shape[axis]
            if size is not None and pad >= size:
                raise ValueError(f"Reflection padding of {pad} needs more than {pad} pixels "
                                 f"along axis {axis}, got {size}; use larger inputs.")
        return _reflection_pad(inputs, ph, pw)

    def compute_output_shape(self, input_shape):
        b, h, w, c = input_shape
        ph, pw = self.padding
        return (b, None if h is None else h + 2 * ph,
                None if w is None else w + 2 * pw, c)

    def get_config(self):
        return {**super().get_config(), "padding": self.padding}


def _size_message(architecture, multiple, minimum, size):
    needs = []
    if multiple > 1:
        needs.append(f"divisible by {multiple}")
    if minimum > 1:
        needs.append(f"at least {minimum}")
    return (f"{architecture} needs input height and width "
            f"{' and '.join(needs)}, got {size}; resize or crop the images "
            f"(or pick an architecture for this size).")


def check_size(size, multiple, architecture, minimum=1):
    """Raises ``ValueError`` unless ``size`` (an int, (H, W) with None for
    unknown, or None) is a multiple of ``multiple`` and at least ``minimum``."""
    if size is None:
        return
    size = _pair(size)
    if any(s is not None and (s % multiple or s < minimum) for s in size):
        raise ValueError(_size_message(architecture, multiple, minimum,
                                       "x".join(str(s) for s in size)))


@keras.saving.register_keras_serializable(package="itgc_tf")
class SizeCheck(keras.layers.Layer):
    """Identity on [B, H, W, C] that checks H and W are multiples of
    ``multiple`` and at least ``minimum``.

    Raises ``ValueError`` when the size is known when the layer runs (eager or a
    fixed-size graph); otherwise a runtime assertion fails with the same message.
    """

    def __init__(self, multiple, architecture, minimum=1, **kwargs):
        super().__init__(**kwargs)
        self.multiple = int(multiple)
        self.minimum = int(minimum)
        self.architecture = architecture

    def call(self, inputs):
        static = tuple(inputs.shape[1:3])
        check_size(static, self.multiple, self.architecture, self.minimum)
        if None not in static:
            return inputs
        size = tf.shape(inputs)[1:3]
        valid = tf.reduce_all((size % self.multiple == 0)
                              & (size >= self.minimum))
        check = tf.debugging.Assert(valid, [_size_message(
            self.architecture, self.multiple, self.minimum,
            "the (height, width) printed next"),
            size])
        with tf.control_dependencies([check]):
            return tf.identity(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "multiple": self.multiple,
                "minimum": self.minimum, "architecture": self.architecture}


@keras.saving.register_keras_serializable(package="itgc_tf")
class ResidualOutput(keras.layers.Layer):
    """[x, delta] -> clip(x + delta, -1, 1); both [B, H, W, C] in [-1, 1] (the output
    of residual generators, `itgc_tf.models.residual`)."""

    def call(self, inputs):
        image, delta = inputs
        return tf.clip_by_value(image + tf.cast(delta, image.dtype), -1.0, 1.0)

    def compute_output_shape(self, input_shapes):
        return input_shapes[1]


def image_input(input_nc, input_size=None, name="image"):
    """``keras.Input`` for NHWC images: [B, H, W, input_nc], H and W None
    (any size) unless given.

    ``input_size`` is None (any size), an int S, or a pair (H, W).
    """
    size = (None, None) if input_size is None else _pair(input_size)
    return keras.Input(shape=(*size, input_nc), name=name)
