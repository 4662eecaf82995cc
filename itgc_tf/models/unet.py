"""pix2pix U-Net generator (``unet_128``: 7 levels, ``unet_256``: 8 levels) and OMGD's
deep U-Net (``unet_deepest_256``: the same with two bottleneck residual blocks per level).

Level i (0 = outermost) halves the size with a 4×4 stride-2 conv and doubles it
back with a 4×4 stride-2 transposed conv; channels ngf·min(2^i, 8). Stable
layer names, usable as feature taps:

  ``down_<i>``  level i's encoder output (LeakyReLU 0.2 → conv → norm; level 0
              is the bare conv, the innermost level has no norm),
              [B, H/2^(i+1), W/2^(i+1), ngf·min(2^i, 8)]
  ``up_<i>``    level i's decoder output before the skip concat (ReLU →
              transposed conv → norm; ``up_0`` is the pre-tanh output),
              [B, H/2^i, W/2^i, ngf·min(2^(i-1), 8)] (``up_0``: output_nc)
  ``leaky_down_<i>``  LeakyReLU 0.2 of ``down_<i>`` (0 <= i <= num_downs - 2): the
              input of level i+1 and, as in the original (whose in-place LeakyReLU
              rewrites the block input), what level i+1's skip connection carries
  ``up_relu_<i>``  ReLU(concat(leaky_down_<i-1>, up_<i>)) (1 <= i <= num_downs - 1):
              the input of level i-1's transposed conv,
              [B, H/2^i, W/2^i, 2·ngf·min(2^(i-1), 8)]
  ``output``    tanh, [B, H, W, output_nc] in [-1, 1]

OMGD's unet_256 channel-distillation layers are ``leaky_down_1``, ``leaky_down_3``,
``up_relu_4`` and ``up_relu_2`` (its ``mapping_layers``). With ``dropout``,
levels 4 … num_downs-2 (the extra ngf·8 levels) apply dropout 0.5 after their
decoder norm, as the original. For num_downs < 5 the channel rule above is
extended naturally (the original needs num_downs >= 5).
"""
import keras

from itgc_tf.models.layers import (LeakyReLU, ReflectionPad2D, SizeCheck, check_size,
                                   image_input, norm_layer, uses_bias, weight_init)

MAX_MULT = 8
FIRST_DROPOUT_LEVEL = 4


def bottleneck_block(x, norm, dropout, prefix, output_name):
    """OMGD's deep-U-Net residual block: x + [reflect-pad 1, 1×1 conv (4·C), norm, ReLU,
    3×3 valid conv (4·C), norm, ReLU, 1×1 conv (C), norm, ReLU, (dropout 0.5),
    reflect-pad 1, 3×3 valid conv (C), norm](x). [B, H, W, C] -> [B, H, W, C].
    (The first pad precedes the 1×1 conv, as OMGD's, so its norm sees the padded map.)"""
    dim, bias = x.shape[-1], uses_bias(norm)

    def conv(h, filters, size, name):
        return keras.layers.Conv2D(filters, size, use_bias=bias, kernel_initializer=weight_init(),
                                   name=f"{prefix}_{name}")(h)

    h = ReflectionPad2D(1, name=f"{prefix}_pad_0")(x)
    for j, (filters, size, name) in enumerate(((4 * dim, 1, "expand"), (4 * dim, 3, "conv_0"),
                                               (dim, 1, "reduce"))):
        h = conv(h, filters, size, name)
        h = norm_layer(norm, name=f"{prefix}_norm_{j}")(h)
        h = keras.layers.ReLU(name=f"{prefix}_relu_{j}")(h)
    if dropout:
        h = keras.layers.Dropout(0.5, name=f"{prefix}_dropout")(h)
    h = ReflectionPad2D(1, name=f"{prefix}_pad_1")(h)
    h = norm_layer(norm, name=f"{prefix}_norm_3")(conv(h, dim, 3, "conv_1"))
    return keras.layers.Add(name=output_name)([x, h])


def _blocks(x, n, norm, dropout, prefix, output_name):
    """n bottleneck blocks; the last one's sum is called ``output_name``."""
    for j in range(n):
        x = bottleneck_block(x, norm, dropout, f"{prefix}_block_{j}",
                             output_name if j == n - 1 else f"{prefix}_block_{j}")
    return x


def unet_generator(input_nc, output_nc, ngf=64, num_downs=8, norm="instance",
                   dropout=False, input_size=None, blocks_per_level=0, name="unet_generator"):
    """Functional U-Net generator.

    Args:
      input_nc, output_nc: image channels in and out.
      ngf: channels of the outermost level.
      num_downs: levels (>= 2); H and W must be divisible by 2**num_downs
        (at H = W = 2**num_downs the bottleneck is 1×1, as in unet_256 at 256²).
      norm: ``instance`` (non-affine), ``batch`` or ``none``.
      dropout: dropout 0.5 in the decoder of the extra ngf·8 levels (and in their
        blocks).
      input_size: None (any valid size), an int or (H, W).
      blocks_per_level: 0 (pix2pix's U-Net) or OMGD's ``unet_deepest`` (2):
        ``bottleneck_block``s after each encoder level's norm and each decoder
        level's norm (but the innermost level), and before level 0's transposed conv;
        ``down_<i>`` / ``up_<i>`` are then the last block's sum.

    Returns a ``keras.Model``: [B, H, W, input_nc] in [-1, 1] ->
    [B, H, W, output_nc] in [-1, 1] (tanh).
    """
    if num_downs < 2:
        raise ValueError(f"A U-Net needs num_downs >= 2, got {num_downs}.")
    multiple = 2 ** num_downs
    check_size(input_size, multiple, name)
    bias = uses_bias(norm)
    channels = [ngf * min(2 ** i, MAX_MULT) for i in range(num_downs)]
    inputs = image_input(input_nc, input_size)
    x = SizeCheck(multiple, name, name="size_check")(inputs)
    blocks = blocks_per_level
    level_dropout = lambda i: dropout and FIRST_DROPOUT_LEVEL <= i <= num_downs - 2  # noqa

    skips = []
    for i in range(num_downs):
        innermost = i == num_downs - 1
        has_norm, has_blocks = 0 < i < num_downs - 1, blocks and not innermost
        if i > 0:
            x = LeakyReLU(0.2, name=f"leaky_down_{i - 1}")(x)
            skips.append(x)
        x = keras.layers.Conv2D(
            channels[i], 4, strides=2, padding="same", use_bias=bias,
            kernel_initializer=weight_init(),
            name=f"down_{i}_conv" if has_norm or has_blocks else f"down_{i}")(x)
        if has_norm:
            x = norm_layer(norm, name=f"down_{i}_norm" if has_blocks else f"down_{i}")(x)
        if has_blocks:
            x = _blocks(x, blocks, norm, level_dropout(i), f"down_{i}", f"down_{i}")

    for i in reversed(range(1, num_downs)):
        innermost = i == num_downs - 1
        has_blocks = blocks and not innermost
        x = keras.layers.ReLU(name="innermost_relu" if innermost else f"up_relu_{i + 1}")(x)
        x = keras.layers.Conv2DTranspose(
            channels[i - 1], 4, strides=2, padding="same", use_bias=bias,
            kernel_initializer=weight_init(), name=f"up_{i}_conv")(x)
        x = norm_layer(norm, name=f"up_{i}_norm" if has_blocks else f"up_{i}")(x)
        if has_blocks:
            x = _blocks(x, blocks, norm, level_dropout(i), f"up_{i}", f"up_{i}")
        if level_dropout(i):
            x = keras.layers.Dropout(0.5, name=f"up_{i}_dropout")(x)
        x = keras.layers.Concatenate(name=f"skip_{i}")([skips[i - 1], x])

    if blocks:
        x = _blocks(x, blocks, norm, False, "up_0", "up_0_blocks")
    x = keras.layers.ReLU(name="up_relu_1")(x)
    x = keras.layers.Conv2DTranspose(output_nc, 4, strides=2, padding="same",
                                     kernel_initializer=weight_init(),
                                     name="up_0")(x)
    outputs = keras.layers.Activation("tanh", name="output")(x)
    return keras.Model(inputs, outputs, name=name)
