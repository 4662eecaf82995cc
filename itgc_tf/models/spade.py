"""GauGAN / SPADE generators (Park et al., CVPR 2019) and GAN Compression's
channel-reduced GauGAN student.

The input is a semantic map: one-hot labels (+ one instance-edge channel),
[B, H, W, semantic_nc] with values in {0, 1}; the output an image
[B, H, W, output_nc] in [-1, 1] (tanh). No encoder: the trunk starts from the
label map resized (nearest) to H/2^u x W/2^u, u = 6 (``more``: GAN Compression's
GauGAN, the default) or 5 (``normal``: SPADE's option default) upsamplings, so H
and W must be multiples of 2^u; any aspect ratio (Cityscapes: 256 x 512).

Layout and stable layer names (usable as feature taps), at ``more``
(``normal``: block_0 and block_1 at twice the size, block_1 at block_2's):

  ``stem``        3x3 conv of the resized label map, [B, H/64, W/64, 16 w0]
  ``block_0``     SPADE residual block (``head_0``), H/64
  ``block_1``     ``G_middle_0`` after a 2x upsampling, H/32
  ``block_2``     ``G_middle_1`` after a 2x upsampling (``normal``: none), H/16
  ``up_0``..``up_3``  2x upsampling + SPADE residual block with a learned
                  shortcut, 8 w4, 4 w5, 2 w6, w7 channels, H/8 .. H
  ``output``      LeakyReLU 0.2, 3x3 conv, tanh

At 256 x 512 with semantic_nc 36 (Cityscapes' 35 labels + edges) `itgc_tf.eval.
profile` gives 93.05M trainable parameters / 281.3G MACs (GAN Compression's README:
93.0M / 281G); the compressed widths give 20.43M / 31.6G ("paper", README 20.4M /
31.7G) and 21.00M / 31.1G ("retrained", README 21.0M / 31.2G).

``widths`` = (w0, ..., w7) is GAN Compression's ``config_str``: the teacher is
(ngf,) * 8; its compressed GauGAN uses e.g. 32_32_48_32_32_32_32_24 (paper).
Blocks without a learned shortcut keep the stem's 16 w0 channels at their
output and run their first conv at 16 w_i.

SPADE normalisation: parameter-free norm (sync batch norm, PyTorch's
``spadesyncbatch3x3``, or instance norm), then x * (1 + gamma) + beta with
gamma, beta predicted per pixel from the label map resized (nearest) to x by
conv3x3 -> ReLU (hidden 2 w_i channels: 128 in the teacher at ngf 64, SPADE's
``nhidden``) -> conv3x3 each (``mobile``: depthwise 3x3, instance norm,
pointwise 1x1, GAN Compression's ``SubMobileSPADE``). The teacher's block
convs are spectrally normalised (``spectral``, ``keras.layers.
SpectralNormalization``); the student's are not (GAN Compression removes it
before distilling). Convs use zero "same" padding, as PyTorch's ``padding=1``.
Initialisation as GauGAN's ``init_type=xavier``, ``init_gain=0.02``: kernels
N(0, (0.02 * sqrt(2 / (fan_in + fan_out)))^2), biases 0.
"""
import keras
import tensorflow as tf

from itgc_tf.models.layers import InstanceNorm, SizeCheck, check_size, image_input

UPSAMPLINGS = {"normal": 5, "more": 6}
PARAM_FREE_NORMS = ("batch", "instance")
# GAN Compression's compressed GauGAN on Cityscapes (scripts/gaugan/cityscapes/
# test_legacy.sh: 20.4M / 31.7G in its README; test_compressed.sh: 21.0M / 31.2G).
COMPRESSED_WIDTHS = {"paper": (32, 32, 48, 32, 32, 32, 32, 24),
                     "retrained": (32, 40, 40, 32, 40, 24, 32, 24)}
def xavier_init():
    """PyTorch's ``xavier_normal_(gain=0.02)``: N(0, 0.02^2 * 2 / (fan_in + fan_out))."""
    return keras.initializers.VarianceScaling(0.02 ** 2, "fan_avg", "untruncated_normal")


_BLOCKS = ("block_0", "block_1", "block_2", "up_0", "up_1", "up_2", "up_3")
_BLOCK_MULT = (16, 16, 16, 8, 4, 2, 1)


@keras.saving.register_keras_serializable(package="itgc_tf")
class ResizeNearest(keras.layers.Layer):
    """Nearest-neighbour resize of ``inputs[0]`` to ``inputs[1]``'s H and W (or to
    ``1 / factor`` of its own size), PyTorch's ``F.interpolate(mode="nearest")``:
    source pixel floor(i * in / out).

    Shapes: [B, H, W, C] (and [B, h, w, *]) -> [B, h, w, C].
    """

    def __init__(self, factor=None, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        x, source = (inputs, inputs) if self.factor else inputs
        size = source.shape[1:3]
        size = tf.shape(source)[1:3] if None in size else tf.constant(list(size), tf.int32)
        if self.factor:
            size = size // self.factor
        return tf.raw_ops.ResizeNearestNeighbor(images=x, size=size, align_corners=False,
                                                half_pixel_centers=False)

    def compute_output_shape(self, input_shape):
        if self.factor:
            b, h, w, c = input_shape
            return (b, h and h // self.factor, w and w // self.factor, c)
        return (*input_shape[1][:3], input_shape[0][-1])

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


@keras.saving.register_keras_serializable(package="itgc_tf")
class Modulate(keras.layers.Layer):
    """SPADE's affine step: [normalised, gamma, beta] -> normalised * (1 + gamma) + beta.
    All [B, H, W, C]."""

    def call(self, inputs):
        x, gamma, beta = inputs
        return x * (1.0 + gamma) + beta

    def compute_output_shape(self, input_shape):
        return input_shape[0]


def _param_free_norm(kind, name):
    if kind == "batch":
        # Sync batch norm without affine parameters (PyTorch's default momentum, eps).
        return keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5, center=False,
                                               scale=False, synchronized=True, name=name)
    if kind == "instance":
        return InstanceNorm(name=name)
    raise ValueError(f"Unknown SPADE parameter-free norm {kind!r}; use one of "
                     f"{', '.join(PARAM_FREE_NORMS)}.")


def _modulation_conv(h, channels, mobile, name):
    if not mobile:
        return keras.layers.Conv2D(channels, 3, padding="same", kernel_initializer=xavier_init(),
                                   name=name)(h)
    h = keras.layers.DepthwiseConv2D(3, padding="same", depthwise_initializer=xavier_init(),
                                     name=f"{name}_depthwise")(h)
    h = InstanceNorm(name=f"{name}_norm")(h)
    return keras.layers.Conv2D(channels, 1, kernel_initializer=xavier_init(),
                               name=f"{name}_pointwise")(h)


def spade_norm(x, segmap, hidden, norm="batch", mobile=False, name="spade"):
    """SPADE: norm(x) * (1 + gamma(m)) + beta(m), m = ``segmap`` resized (nearest)
    to x. Shapes: x [B, h, w, C], segmap [B, H, W, L] -> [B, h, w, C]."""
    normalized = _param_free_norm(norm, f"{name}_norm")(x)
    m = ResizeNearest(name=f"{name}_segmap")([segmap, x])
    m = keras.layers.Conv2D(hidden, 3, padding="same", kernel_initializer=xavier_init(),
                            name=f"{name}_shared")(m)
    m = keras.layers.ReLU(name=f"{name}_shared_relu")(m)
    gamma = _modulation_conv(m, x.shape[-1], mobile, f"{name}_gamma")
    beta = _modulation_conv(m, x.shape[-1], mobile, f"{name}_beta")
    return Modulate(name=f"{name}_modulate")([normalized, gamma, beta])


def _conv(x, filters, kernel, spectral, name, use_bias=True):
    conv = keras.layers.Conv2D(filters, kernel, padding="same", use_bias=use_bias,
                               kernel_initializer=xavier_init(), name=name)
    if spectral:
        conv = keras.layers.SpectralNormalization(conv, name=f"{name}_sn")
    return conv(x)


def spade_block(x, segmap, middle, out, hidden, learned_shortcut, norm="batch",
                mobile=False, spectral=True, name="block"):
    """SPADE residual block: shortcut(x) + conv_1(act(SPADE_1(conv_0(act(SPADE_0(x)))))),
    act = LeakyReLU 0.2, conv_0: 3x3 -> ``middle``, conv_1: 3x3 -> ``out``;
    shortcut = 1x1 conv (no bias) of SPADE_s(x) when ``learned_shortcut``, else x
    (then ``out`` must equal x's channels). The sum is the layer called ``name``.
    Shapes: [B, h, w, C] -> [B, h, w, out]."""
    shortcut = x
    if learned_shortcut:
        shortcut = spade_norm(x, segmap, hidden, norm, mobile, name=f"{name}_norm_s")
        shortcut = _conv(shortcut, out, 1, spectral, f"{name}_conv_s", use_bias=False)
    h = x
    for j, channels in enumerate((middle, out)):
        h = spade_norm(h, segmap, hidden, norm, mobile, name=f"{name}_norm_{j}")
        h = keras.layers.LeakyReLU(0.2, name=f"{name}_act_{j}")(h)
        h = _conv(h, channels, 3, spectral, f"{name}_conv_{j}")
    return keras.layers.Add(name=name)([shortcut, h])


def spade_generator(semantic_nc, output_nc=3, ngf=64, widths=None, norm="batch",
                    mobile=False, spectral=True, upsampling="more", input_size=None,
                    name="spade_generator"):
    """Functional GauGAN generator (see the module docstring).

    Args:
      semantic_nc: input channels (label_nc [+ 1 don't-care] [+ 1 instance edge]).
      output_nc: image channels out.
      ngf: base width; ``widths`` None means (ngf,) * 8 (the teacher).
      widths: 8 per-stage widths (GAN Compression's config_str) for a
        channel-reduced generator.
      norm: SPADE's parameter-free norm, ``batch`` (sync) or ``instance``.
      mobile: separable gamma/beta convs (GAN Compression's mobile SPADE).
      spectral: spectral norm on the residual blocks' convs.
      upsampling: ``more`` (6 upsamplings, GAN Compression's GauGAN) or ``normal`` (5).
      input_size: None (any H, W divisible by 2^upsamplings), int or (H, W).

    Returns a ``keras.Model``: [B, H, W, semantic_nc] -> [B, H, W, output_nc] in [-1, 1].
    """
    if upsampling not in UPSAMPLINGS:
        raise ValueError(f"Unknown upsampling {upsampling!r}; use one of "
                         f"{', '.join(UPSAMPLINGS)}.")
    widths = tuple(widths) if widths is not None else (ngf,) * 8
    if len(widths) != 8 or any(w < 1 for w in widths):
        raise ValueError(f"widths must be 8 positive ints (GAN Compression's config_str), "
                         f"got {widths}.")
    multiple = 2 ** UPSAMPLINGS[upsampling]
    check_size(input_size, multiple, name)
    segmap = image_input(semantic_nc, input_size, name="segmap")
    checked = SizeCheck(multiple, name, name="size_check")(segmap)
    x = ResizeNearest(factor=multiple, name="stem_segmap")(checked)
    trunk = 16 * widths[0]
    x = keras.layers.Conv2D(trunk, 3, padding="same", kernel_initializer=xavier_init(),
                            name="stem")(x)
    for i, (block, mult, width) in enumerate(zip(_BLOCKS, _BLOCK_MULT, widths[1:])):
        if i == 1 or (i == 2 and upsampling == "more") or i >= 3:
            x = keras.layers.UpSampling2D(2, name=f"{block}_upsample")(x)
        learned = mult != 16
        out = mult * width if learned else trunk
        x = spade_block(x, checked, mult * width, out, 2 * width, learned, norm, mobile,
                        spectral, name=block)
    x = keras.layers.LeakyReLU(0.2, name="head_act")(x)
    x = keras.layers.Conv2D(output_nc, 3, padding="same", kernel_initializer=xavier_init(),
                            name="head_conv")(x)
    outputs = keras.layers.Activation("tanh", name="output")(x)
    return keras.Model(segmap, outputs, name=name)


def compressed_widths(ngf=64, variant="paper"):
    """GAN Compression's compressed GauGAN widths, scaled by ngf / 64 (at least 1)."""
    return tuple(max(1, round(w * ngf / 64)) for w in COMPRESSED_WIDTHS[variant])
