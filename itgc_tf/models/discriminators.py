"""Discriminators: PatchGAN (``n_layers``), multi-scale PatchGAN, PixelGAN.

All return raw logits (no sigmoid); the adversarial losses in
``itgc_tf.models.adversarial`` pick the GAN objective. For a conditional
(pix2pix) discriminator pass ``input_nc = input_nc_A + output_nc_B`` and feed
``concat([A, B], -1)``; for an unconditional one (CycleGAN) pass the image
channels. Padding reproduces PyTorch's ``padding=1`` exactly (explicit zero
padding, 'valid' convs), so output sizes match the originals at every size.
"""
import re

import keras

from itgc_tf.models.layers import (LeakyReLU, SizeCheck, image_input, norm_layer,
                                   uses_bias, weight_init)

MAX_MULT = 8
_FEATURE_LAYER = re.compile(r"^(.*?)(layer_\d+|logits|logits_sn)$")


def patch_output_size(size, n_layers):
    """Side of a PatchGAN's logit map for a ``size``-pixel input (PyTorch's
    formula for its 4×4, padding-1 convs)."""
    for n in range(n_layers + 2):
        size = (size + 2 - 4) // (2 if n < n_layers else 1) + 1
    return size


def _min_input_size(n_layers, num_D=1):
    """Smallest input side giving a non-empty logit map at every scale."""
    size = 1
    while True:
        coarsest = size
        for _ in range(num_D - 1):
            coarsest = -(-coarsest // 2)  # 'same' pooling: ceil(size / 2)
        if patch_output_size(coarsest, n_layers) >= 1:
            return size
        size += 1


def _conv(x, filters, kernel, strides, use_bias, spectral_norm, name, pad=0):
    if pad:
        x = keras.layers.ZeroPadding2D(pad, name=f"{name}_pad")(x)
    conv = keras.layers.Conv2D(filters, kernel, strides=strides,
                               use_bias=use_bias,
                               kernel_initializer=weight_init(), name=name)
    if spectral_norm:
        conv = keras.layers.SpectralNormalization(conv, name=f"{name}_sn")
    return conv(x)


def _check_norm_affine(norm, norm_affine):
    if norm_affine and norm != "instance":
        raise ValueError(
            f"norm_affine applies to instance norm only, got norm={norm!r} (batch norm is "
            "always affine, 'none' has no parameters). Fix: drop --norm_affine_D or use "
            "instance norm in the discriminator.")


def _patch_logits(x, ndf, n_layers, norm, spectral_norm, prefix="", norm_affine=False):
    """PatchGAN body on a tensor: [B, H, W, C] -> [B, h, w, 1] logits."""
    bias = uses_bias(norm)
    x = _conv(x, ndf, 4, 2, True, spectral_norm, f"{prefix}conv_0", pad=1)
    x = LeakyReLU(0.2, name=f"{prefix}layer_0")(x)
    for n in range(1, n_layers + 1):
        strides = 2 if n < n_layers else 1
        x = _conv(x, ndf * min(2 ** n, MAX_MULT), 4, strides, bias,
                  spectral_norm, f"{prefix}conv_{n}", pad=1)
        x = norm_layer(norm, name=f"{prefix}norm_{n}", affine_instance=norm_affine)(x)
        x = LeakyReLU(0.2, name=f"{prefix}layer_{n}")(x)
    return _conv(x, 1, 4, 1, True, spectral_norm, f"{prefix}logits", pad=1)


def n_layer_discriminator(input_nc, ndf=64, n_layers=3, norm="instance",
                          spectral_norm=False, input_size=None, norm_affine=False,
                          name="n_layer_discriminator"):
    """PatchGAN: ``n_layers`` stride-2 convs (the last stride 1), LeakyReLU 0.2.

    Receptive field 70×70 at n_layers=3 (34 at 2, 142 at 4).
    Shapes: [B, H, W, input_nc] -> logits [B, h, w, 1]; at n_layers=3,
    h = H/8 - 2 (256 -> 30). ``spectral_norm`` wraps every conv in
    ``keras.layers.SpectralNormalization``; ``norm_affine`` gives the instance norms a
    learnable per-channel scale γ and offset β (PyTorch ``affine=True``, CAT's
    ``--norm_affine_D``).
    """
    _check_norm_affine(norm, norm_affine)
    if n_layers < 1:
        raise ValueError(f"n_layers must be >= 1, got {n_layers}.")
    inputs = image_input(input_nc, input_size)
    x = SizeCheck(1, name, minimum=_min_input_size(n_layers),
                  name="size_check")(inputs)
    outputs = _patch_logits(x, ndf, n_layers, norm, spectral_norm, norm_affine=norm_affine)
    return keras.Model(inputs, outputs, name=name)


def multi_scale_discriminator(input_nc, ndf=64, n_layers=3, norm="instance",
                              spectral_norm=False, num_D=2, input_size=None,
                              norm_affine=False, name="multi_scale_discriminator"):
    """pix2pixHD multi-scale PatchGAN: ``num_D`` PatchGANs on the image and its
    successive 3×3/stride-2 average-pooled versions (padding excluded from
    the average, as ``count_include_pad=False``; TensorFlow "same" pooling, so
    the window grid is offset by one pixel from PyTorch's ``padding=1``).

    Shapes: [B, H, W, input_nc] -> list of ``num_D`` logits, scale k being
    the PatchGAN logits of the image downsampled k times. Adversarial losses sum
    their per-scale means (as pix2pixHD). ``norm_affine`` as in `n_layer_discriminator`.
    """
    _check_norm_affine(norm, norm_affine)
    if num_D < 1:
        raise ValueError(f"num_D must be >= 1, got {num_D}.")
    inputs = image_input(input_nc, input_size)
    x = SizeCheck(1, name, minimum=_min_input_size(n_layers, num_D),
                  name="size_check")(inputs)
    outputs = []
    for k in range(num_D):
        if k:
            x = keras.layers.AveragePooling2D(3, strides=2, padding="same",
                                              name=f"scale_{k}_pool")(x)
        outputs.append(_patch_logits(x, ndf, n_layers, norm, spectral_norm,
                                     prefix=f"scale_{k}_", norm_affine=norm_affine))
    return keras.Model(inputs, outputs, name=name)


def pixel_discriminator(input_nc, ndf=64, norm="instance", spectral_norm=False,
                        input_size=None, norm_affine=False, name="pixel_discriminator"):
    """PixelGAN (1×1 PatchGAN): [B, H, W, input_nc] -> logits [B, H, W, 1].
    ``norm_affine`` as in `n_layer_discriminator`."""
    _check_norm_affine(norm, norm_affine)
    bias = uses_bias(norm)
    inputs = image_input(input_nc, input_size)
    x = _conv(inputs, ndf, 1, 1, True, spectral_norm, "conv_0")
    x = LeakyReLU(0.2, name="layer_0")(x)
    x = _conv(x, 2 * ndf, 1, 1, bias, spectral_norm, "conv_1")
    x = norm_layer(norm, name="norm_1", affine_instance=norm_affine)(x)
    x = LeakyReLU(0.2, name="layer_1")(x)
    outputs = _conv(x, 1, 1, 1, bias, spectral_norm, "logits")
    return keras.Model(inputs, outputs, name=name)


def discriminator_features(discriminator):
    """Model sharing ``discriminator``'s weights (``n_layers`` or ``multi_scale``) that
    returns, per scale, the list of its intermediate activations (``layer_<n>``, after
    each LeakyReLU) followed by its logits: a list of ``num_D`` lists (one for
    ``n_layers``). For SPADE / pix2pixHD discriminator feature matching."""
    scales = {}
    for layer in discriminator.layers:
        match = _FEATURE_LAYER.match(layer.name)
        if match:
            scales.setdefault(match.group(1), []).append(layer.output)
    if not scales:
        raise ValueError(f"{discriminator.name} has no layer_<n> / logits layers; feature "
                         f"matching needs an n_layers or multi_scale discriminator.")
    return keras.Model(discriminator.input, [scales[k] for k in sorted(scales)],
                       name=f"{discriminator.name}_features")
