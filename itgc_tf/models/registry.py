"""Architecture registry: flags name generators and discriminators.

Adding an architecture is one builder function and one line in ``GENERATORS``
or ``DISCRIMINATORS``. Generator builders take
``(input_nc, output_nc, ngf, norm, dropout, input_size, name)``;
discriminator builders take
``(input_nc, ndf, n_layers, norm, spectral_norm, num_D, norm_affine, name)``.
``unet_<N>`` and ``unet_deepest_<N>`` for any power of two N >= 4 (num_downs =
log2 N) are accepted besides the listed U-Nets. ``spade`` is GauGAN's generator as
GAN Compression builds it (input: a semantic map, ``input_nc`` = semantic_nc; H, W multiples of 64; ``norm`` is
SPADE's parameter-free norm, ``batch`` = sync batch norm as GauGAN on Cityscapes, or
``instance``); ``spade_compressed`` is GAN Compression's compressed GauGAN (widths
32_32_48_32_32_32_32_24 scaled by ngf / 64). Every generator has a residual form
(``residual=True``, `itgc_tf.models.residual`).

The registry imports no Keras: each builder imports its network's module when it
builds, so the names (flag choices, ``--help``) load without TensorFlow.
"""
import math
import re


def _resnet(n_blocks, mobile):
    def build(input_nc, output_nc, ngf, norm, dropout, input_size, name):
        from itgc_tf.models.resnet import resnet_generator
        return resnet_generator(input_nc, output_nc, ngf, n_blocks, norm,
                                dropout, input_size, mobile=mobile, name=name)
    return build


def _unet(size, blocks_per_level=0):
    def build(input_nc, output_nc, ngf, norm, dropout, input_size, name):
        from itgc_tf.models.unet import unet_generator
        return unet_generator(input_nc, output_nc, ngf, int(math.log2(size)),
                              norm, dropout, input_size,
                              blocks_per_level=blocks_per_level, name=name)
    return build


def _spade(compressed):
    def build(input_nc, output_nc, ngf, norm, dropout, input_size, name):
        from itgc_tf.models.spade import compressed_widths, spade_generator
        if dropout:
            raise ValueError("SPADE generators have no dropout. Fix: drop --dropout "
                             "(dropout=False) for spade generators.")
        if compressed:
            return spade_generator(input_nc, output_nc, ngf, compressed_widths(ngf), norm,
                                   mobile=True, spectral=False, input_size=input_size,
                                   name=name)
        return spade_generator(input_nc, output_nc, ngf, norm=norm, input_size=input_size,
                               name=name)
    return build


def _inception(n_blocks):
    def build(input_nc, output_nc, ngf, norm, dropout, input_size, name):
        from itgc_tf.models.inception import cat_widths, inception_generator
        return inception_generator(input_nc, output_nc, cat_widths(ngf, n_blocks), norm,
                                   dropout, input_size, name=name)
    return build


GENERATORS = {
    "resnet_6blocks": _resnet(6, mobile=False),
    "resnet_9blocks": _resnet(9, mobile=False),
    "mobile_resnet_6blocks": _resnet(6, mobile=True),
    "mobile_resnet_9blocks": _resnet(9, mobile=True),
    "inception_resnet_9blocks": _inception(9),
    "unet_128": _unet(128),
    "unet_256": _unet(256),
    "unet_deepest_256": _unet(256, blocks_per_level=2),  # OMGD's deep Pix2Pix teacher
    "spade": _spade(compressed=False),
    "spade_compressed": _spade(compressed=True),
}


def _n_layers(input_nc, ndf, n_layers, norm, spectral_norm, num_D, norm_affine, name):
    from itgc_tf.models.discriminators import n_layer_discriminator
    return n_layer_discriminator(input_nc, ndf, n_layers, norm, spectral_norm,
                                 norm_affine=norm_affine, name=name)


def _multi_scale(input_nc, ndf, n_layers, norm, spectral_norm, num_D, norm_affine, name):
    from itgc_tf.models.discriminators import multi_scale_discriminator
    return multi_scale_discriminator(input_nc, ndf, n_layers, norm, spectral_norm, num_D,
                                     norm_affine=norm_affine, name=name)


def _pixel(input_nc, ndf, n_layers, norm, spectral_norm, num_D, norm_affine, name):
    from itgc_tf.models.discriminators import pixel_discriminator
    return pixel_discriminator(input_nc, ndf, norm, spectral_norm, norm_affine=norm_affine,
                               name=name)


DISCRIMINATORS = {
    "n_layers": _n_layers,
    "multi_scale": _multi_scale,
    "pixel": _pixel,
}

_UNET_NAME = re.compile(r"^unet_(deepest_)?(\d+)$")


def _generator_builder(name):
    if name in GENERATORS:
        return GENERATORS[name]
    match = _UNET_NAME.match(name)
    if match:
        size = int(match.group(2))
        if size >= 4 and size & (size - 1) == 0:
            return _unet(size, blocks_per_level=2 if match.group(1) else 0)
    raise ValueError(
        f"Unknown generator {name!r}; valid names: "
        f"{', '.join(sorted(GENERATORS))}, or unet_<N> / unet_deepest_<N> with N a "
        f"power of two >= 4.")


def build_generator(name, input_nc, output_nc, ngf, norm="instance",
                    dropout=False, input_size=None, name_prefix="",
                    residual=False):
    """Generator ``name`` (see ``GENERATORS``): a functional ``keras.Model``
    [B, H, W, input_nc] in [-1, 1] -> [B, H, W, output_nc] in [-1, 1].

    ``input_size`` (int or (H, W)) fixes the spatial size, None leaves it free.
    The model is called ``name_prefix + name`` (layer names are never prefixed,
    so feature-tap names stay the same for every model). ``residual``: output
    clip(x + G(x), -1, 1), which needs ``input_nc == output_nc``.
    """
    from itgc_tf.models.residual import channel_mismatch, make_residual
    builder = _generator_builder(name)
    if residual and input_nc != output_nc:
        raise channel_mismatch(f"{name_prefix}{name}", input_nc, output_nc)
    model = builder(input_nc, output_nc, ngf, norm, dropout, input_size,
                    f"{name_prefix}{name}")
    return make_residual(model) if residual else model


def build_discriminator(name, input_nc, ndf, n_layers=3, norm="instance",
                        spectral_norm=False, num_D=2, name_prefix="", norm_affine=False):
    """Discriminator ``name`` (see ``DISCRIMINATORS``): a functional
    ``keras.Model`` [B, H, W, input_nc] -> logits [B, h, w, 1] (``multi_scale``:
    a list of ``num_D`` of them). ``norm_affine``: learnable γ, β in its instance norms."""
    if name not in DISCRIMINATORS:
        raise ValueError(
            f"Unknown discriminator {name!r}; valid names: "
            f"{', '.join(sorted(DISCRIMINATORS))}.")
    return DISCRIMINATORS[name](input_nc, ndf, n_layers, norm, spectral_norm,
                                num_D, norm_affine, f"{name_prefix}{name}")
