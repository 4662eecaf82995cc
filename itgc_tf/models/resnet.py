"""ResNet generators: CycleGAN/pix2pix ``resnet_<n>blocks`` and GAN Compression's
``mobile_resnet_<n>blocks`` (depthwise-separable residual blocks).

Layout (c7s1-ngf, two stride-2 convs, n residual blocks at 4·ngf channels, two
stride-2 transposed convs, c7s1-output_nc, tanh; reflection padding). Stable
layer names, usable as feature taps (each is the ReLU/sum that ends its unit):

  ``stem``               c7s1 conv + norm + ReLU, [B, H, W, ngf]
  ``down_0``, ``down_1``  stride-2 conv + norm + ReLU,
                         [B, H/2, W/2, 2ngf] and [B, H/4, W/4, 4ngf]
  ``block_<i>``          residual block i (the sum), [B, H/4, W/4, 4ngf]
  ``up_0``, ``up_1``      stride-2 transposed conv + norm + ReLU,
                         [B, H/2, W/2, 2ngf] and [B, H, W, ngf]
  ``output``             tanh, [B, H, W, output_nc] in [-1, 1]

GAN Compression's feature-distillation taps on ResNet (``model.9``,
``model.12``, ``model.15``, ``model.18`` in PyTorch) are ``down_1``, ``block_2``,
``block_5``, ``block_8`` here. Strided (transposed) convs use TensorFlow "same"
padding: the same sizes, parameters and MACs as PyTorch's ``padding=1``
(``output_padding=1``), with the window grid offset by one pixel.
"""
import keras

from itgc_tf.models.layers import (PixelBlockConv2D, ReflectionPad2D, SizeCheck,
                                   check_size, image_input, norm_layer, uses_bias,
                                   weight_init)

N_DOWNSAMPLING = 2


def _conv3x3(x, dim, norm, mobile, name):
    """3×3 stride-1 'valid' conv (plain, or depthwise + norm + pointwise)."""
    if not mobile:
        return keras.layers.Conv2D(dim, 3, use_bias=uses_bias(norm),
                                   kernel_initializer=weight_init(),
                                   name=name)(x)
    # GAN Compression's SeparableConv2d: depthwise (bias), norm, pointwise (bias).
    x = keras.layers.DepthwiseConv2D(3, depthwise_initializer=weight_init(),
                                     name=f"{name}_depthwise")(x)
    x = norm_layer(norm, name=f"{name}_norm")(x)
    return keras.layers.Conv2D(dim, 1, kernel_initializer=weight_init(),
                               name=f"{name}_pointwise")(x)


def residual_block(x, norm="instance", dropout=False, mobile=False,
                   name="block"):
    """x + [pad, conv3×3, norm, ReLU, (dropout 0.5), pad, conv3×3, norm](x).

    ``mobile`` replaces each conv3×3 by GAN Compression's separable conv.
    Shapes: [B, H, W, C] -> [B, H, W, C]; the sum is the layer called ``name``.
    """
    dim = x.shape[-1]
    h = x
    for j in range(2):
        h = ReflectionPad2D(1, name=f"{name}_pad_{j}")(h)
        h = _conv3x3(h, dim, norm, mobile, name=f"{name}_conv_{j}")
        h = norm_layer(norm, name=f"{name}_norm_{j}")(h)
        if j == 0:
            h = keras.layers.ReLU(name=f"{name}_relu")(h)
            if dropout:
                h = keras.layers.Dropout(0.5, name=f"{name}_dropout")(h)
    return keras.layers.Add(name=name)([x, h])


def resnet_generator(input_nc, output_nc, ngf=64, n_blocks=9, norm="instance",
                     dropout=False, input_size=None, mobile=False,
                     name="resnet_generator"):
    """Functional ResNet generator (``mobile``: GAN Compression's MobileResNet).

    Args:
      input_nc, output_nc: image channels in and out.
      ngf: channels of the first conv; blocks run at 4·ngf.
      n_blocks: residual blocks (6 or 9 in the literature).
      norm: ``instance`` (non-affine), ``batch`` or ``none``.
      dropout: dropout 0.5 inside each residual block (training only).
      input_size: None (any H, W divisible by 4), an int or (H, W).
      mobile: depthwise-separable residual blocks.

    Returns a ``keras.Model``: [B, H, W, input_nc] in [-1, 1] ->
    [B, H, W, output_nc] in [-1, 1] (tanh).
    """
    if n_blocks < 0:
        raise ValueError(f"n_blocks must be >= 0, got {n_blocks}.")
    multiple = 2 ** N_DOWNSAMPLING
    check_size(input_size, multiple, name)
    bias = uses_bias(norm)
    inputs = image_input(input_nc, input_size)
    x = SizeCheck(multiple, name, name="size_check")(inputs)

    x = ReflectionPad2D(3, name="stem_pad")(x)
    x = keras.layers.Conv2D(ngf, 7, use_bias=bias,
                            kernel_initializer=weight_init(),
                            name="stem_conv")(x)
    x = norm_layer(norm, name="stem_norm")(x)
    x = keras.layers.ReLU(name="stem")(x)

    for i in range(N_DOWNSAMPLING):
        x = keras.layers.Conv2D(ngf * 2 ** (i + 1), 3, strides=2,
                                padding="same", use_bias=bias,
                                kernel_initializer=weight_init(),
                                name=f"down_{i}_conv")(x)
        x = norm_layer(norm, name=f"down_{i}_norm")(x)
        x = keras.layers.ReLU(name=f"down_{i}")(x)

    for i in range(n_blocks):
        x = residual_block(x, norm, dropout, mobile, name=f"block_{i}")

    for i in range(N_DOWNSAMPLING):
        x = keras.layers.Conv2DTranspose(
            ngf * 2 ** (N_DOWNSAMPLING - 1 - i), 3, strides=2, padding="same",
            use_bias=bias, kernel_initializer=weight_init(),
            name=f"up_{i}_conv")(x)
        x = norm_layer(norm, name=f"up_{i}_norm")(x)
        x = keras.layers.ReLU(name=f"up_{i}")(x)

    x = ReflectionPad2D(3, name="head_pad")(x)
    x = PixelBlockConv2D(output_nc, 7, kernel_initializer=weight_init(),
                         name="head_conv")(x)
    outputs = keras.layers.Activation("tanh", name="output")(x)
    return keras.Model(inputs, outputs, name=name)
