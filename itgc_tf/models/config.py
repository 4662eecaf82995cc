"""Network options: generator (`GeneratorConfig`, `LayersConfig`) and discriminator
(`DiscriminatorConfig`), each validated once, and the networks they describe."""
import dataclasses

from itgc_tf.models.registry import DISCRIMINATORS, GENERATORS, build_discriminator
from itgc_tf.options import option, require

NORMS = ("instance", "batch", "none")
GAN_MODES = ("lsgan", "vanilla", "hinge")  # the adversarial losses (`itgc_tf.models.adversarial`)
# Fewest channels CAT's pruning keeps in the stem, down and up layers (its --prune_cin_lb;
# `itgc_tf.models.pruning`).
CAT_MIN_CHANNELS = 16


@dataclasses.dataclass(frozen=True)
class LayersConfig:
    """Layers of every generator a command builds (teachers and students)."""
    flag_group = "model"

    norm: str = option("instance", "Normalisation in the generators.", choices=NORMS)
    dropout: bool = option(False, "Dropout in the generators' blocks.")
    residual: bool = option(False, "Residual generators (teachers and students): output = "
                            "clip(input + G(input), -1, 1), the usual design of restoration "
                            "networks; needs --input_nc = --output_nc.")


@dataclasses.dataclass(frozen=True)
class GeneratorConfig:
    """The generator a teacher run trains."""
    flag_group = "model"

    netG: str = option("resnet_9blocks", "Generator architecture: "  # noqa: N815
                       f"{', '.join(sorted(GENERATORS))} or unet_<N>.")
    ngf: int = option(64, "Generator base width (filters of the first conv).")

    def __post_init__(self):
        require(self.ngf >= 1, f"ngf must be >= 1, got {self.ngf}. Fix: pass --ngf >= 1.")


@dataclasses.dataclass(frozen=True)
class DiscriminatorConfig:
    """The discriminator(s) and the adversarial loss."""
    flag_group = "model"

    netD: str = option("n_layers", "Discriminator architecture.",  # noqa: N815
                       choices=tuple(sorted(DISCRIMINATORS)))
    ndf: int = option(64, "Base width of the discriminator.")
    n_layers_D: int = option(3, "PatchGAN depth (3 = 70x70 receptive field).")  # noqa: N815
    num_D: int = option(2, "Scales of the multi_scale discriminator.")  # noqa: N815
    gan_mode: str = option("lsgan", "Adversarial loss.", choices=GAN_MODES)
    spectral_norm_D: bool = option(False, "Spectral norm on every discriminator conv "  # noqa: N815
                                   "(GauGAN's norm_D=spectralinstance).")
    norm_affine_D: bool = option(  # noqa: N815
        False, "Learnable per-channel scale and offset in the discriminators' instance "
        "norms (CAT's --norm_affine_D); default non-affine, as pix2pix/CycleGAN.")

    def __post_init__(self):
        for name in ("ndf", "n_layers_D", "num_D"):
            require(getattr(self, name) >= 1, f"{name} must be >= 1, got "
                    f"{getattr(self, name)}. Fix: pass --{name} >= 1.")

    def build(self, input_nc, name_prefix=""):
        """The discriminator for ``input_nc`` input channels (see `build_discriminator`)."""
        return build_discriminator(self.netD, input_nc, self.ndf, n_layers=self.n_layers_D,
                                   spectral_norm=self.spectral_norm_D, num_D=self.num_D,
                                   name_prefix=name_prefix, norm_affine=self.norm_affine_D)
