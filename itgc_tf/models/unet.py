"""pix2pix U-Net generator (``unet_128``: 7 levels, ``unet_256``: 8 levels).

Level i (0 = outermost) halves the size with a 4×4 stride-2 conv and doubles it
back with a 4×4 stride-2 transposed conv; channels ngf·min(2^i, 8). Stable
layer names, usable as feature taps:

  ``down_<i>``  level i's encoder output (LeakyReLU 0.2 → conv → norm; level 0
              is the bare conv, the innermost level has no norm),
              [B, H/2^(i+1), W/2^(i+1), ngf·min(2^i, 8)]
  ``up_<i>``    level i's decoder output before the skip concat (ReLU →
              transposed conv → norm; ``up_0`` is the pre-tanh output),
              [B, H/2^i, W/2^i, ngf·min(2^(i-1), 8)] (``up_0``: output_nc)
  ``output``    tanh, [B, H, W, output_nc] in [-1, 1]

As in the original (whose in-place LeakyReLU rewrites the block input), the
skip connection of level i ≥ 1 carries LeakyReLU(down_{i-1}). With ``dropout``,
levels 4 … num_downs-2 (the extra ngf·8 levels) apply dropout 0.5 after their
decoder norm, as the original. For num_downs < 5 the channel rule above is
extended naturally (the original needs num_downs >= 5).
"""
import keras

from itgc_tf.models.layers import (LeakyReLU, SizeCheck, check_size, image_input,
                                   norm_layer, uses_bias, weight_init)

MAX_MULT = 8
FIRST_DROPOUT_LEVEL = 4


def unet_generator(input_nc, output_nc, ngf=64, num_downs=8, norm="instance",
                   dropout=False, input_size=None, name="unet_generator"):
    """Functional U-Net generator.

    Args:
      input_nc, output_nc: image channels in and out.
      ngf: channels of the outermost level.
      num_downs: levels (>= 2); H and W must be divisible by 2**num_downs
        (at H = W = 2**num_downs the bottleneck is 1×1, as in unet_256 at 256²).
      norm: ``instance`` (non-affine), ``batch`` or ``none``.
      dropout: dropout 0.5 in the decoder of the extra ngf·8 levels.
      input_size: None (any valid size), an int or (H, W).

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

    skips = []
    for i in range(num_downs):
        has_norm = 0 < i < num_downs - 1
        if i > 0:
            x = LeakyReLU(0.2, name=f"down_{i}_lrelu")(x)
            skips.append(x)
        x = keras.layers.Conv2D(
            channels[i], 4, strides=2, padding="same", use_bias=bias,
            kernel_initializer=weight_init(),
            name=f"down_{i}_conv" if has_norm else f"down_{i}")(x)
        if has_norm:
            x = norm_layer(norm, name=f"down_{i}")(x)

    for i in reversed(range(1, num_downs)):
        x = keras.layers.ReLU(name=f"up_{i}_relu")(x)
        x = keras.layers.Conv2DTranspose(
            channels[i - 1], 4, strides=2, padding="same", use_bias=bias,
            kernel_initializer=weight_init(), name=f"up_{i}_conv")(x)
        x = norm_layer(norm, name=f"up_{i}")(x)
        if dropout and FIRST_DROPOUT_LEVEL <= i <= num_downs - 2:
            x = keras.layers.Dropout(0.5, name=f"up_{i}_dropout")(x)
        x = keras.layers.Concatenate(name=f"skip_{i}")([skips[i - 1], x])

    x = keras.layers.ReLU(name="up_0_relu")(x)
    x = keras.layers.Conv2DTranspose(output_nc, 4, strides=2, padding="same",
                                     kernel_initializer=weight_init(),
                                     name="up_0")(x)
    outputs = keras.layers.Activation("tanh", name="output")(x)
    return keras.Model(inputs, outputs, name=name)
