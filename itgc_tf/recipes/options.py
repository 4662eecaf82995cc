"""The options of every recipe: frozen dataclasses of `option` fields, one per recipe
(its flags), validated once. Imports no TensorFlow: itgc-distill's configuration and
--help load them without the recipes (`itgc_tf.recipes.RECIPES`).

Shared parts are bases: `FeaturePairsOptions` (distill_pairs), `FeatureDistillOptions`
(+ lambda_distill), `FeatureAdapterOptions` (cd_adapter), `ReconOptions` (lambda_recon).
"""
import dataclasses

from itgc_tf.options import option, require

# The adapters mapping student taps to teacher taps (`itgc_tf.recipes.base.ADAPTERS`).
FEATURE_ADAPTERS = ("conv", "conv_bn_relu")
# CAT's mapping layers, the cat recipe's library default pairs (`itgc_tf.recipes.cat`).
CAT_PAIRS = (("down_1", "down_1"), ("block_2", "block_2"), ("block_5", "block_5"),
             ("block_8", "block_8"))
_CAT_PAIRS_FLAG = ",".join(":".join(p) for p in CAT_PAIRS)


@dataclasses.dataclass(frozen=True)
class RecipeOptions:
    """Base of every recipe's options (a frozen dataclass of `option` fields that
    validates itself); the field names are the flag names."""
    flag_group = "recipe"

    def non_negative(self, *names):
        for name in names:
            require(getattr(self, name) >= 0, f"{name} must be >= 0, got "
                    f"{getattr(self, name)}. Fix: pass --{name} >= 0.")


@dataclasses.dataclass(frozen=True)
class FeaturePairsOptions(RecipeOptions):
    """The (teacher_tap, student_tap) pairs of recipes that match intermediate features."""
    distill_pairs: tuple[tuple[str, str], ...] = option(
        (), "TEACHER_TAP:STUDENT_TAP pairs for feature distillation (gan_compression), "
        "kernel alignment (cat) or channel distillation (omgd), e.g. "
        "block_2:block_2,block_5:block_5. Taps: stem, down_<i>, block_<i>, up_<i>, and on "
        "U-Nets leaky_down_<i>, up_relu_<i>.", kind="pairs")


@dataclasses.dataclass(frozen=True)
class FeatureDistillOptions(FeaturePairsOptions):
    """The feature pairs and the weight of their distillation term."""
    lambda_distill: float = option(1.0, "gan_compression/cat: feature-distillation weight (cat: "
                                   "of the summed negative kernel alignments).")


@dataclasses.dataclass(frozen=True)
class FeatureAdapterOptions(RecipeOptions):
    """The adapter kind of recipes that map student taps to their teacher taps'
    channels (`FeatureAdapters`)."""
    cd_adapter: str = option(
        "conv", "gan_compression/omgd: the adapter mapping each student tap to its teacher "
        "tap's channels: conv (1x1 conv with bias; GAN Compression) or conv_bn_relu (1x1 conv "
        "without bias + BatchNorm + ReLU; OMGD's).", choices=FEATURE_ADAPTERS)


@dataclasses.dataclass(frozen=True)
class ReconOptions(RecipeOptions):
    """The reconstruction weight of the recipes with an L1 term (kd, gan_compression, cat)."""
    lambda_recon: float = option(10.0, "kd/gan_compression/cat: L1 reconstruction weight (kd, "
                                 "gan_compression: to the teacher output; cat: to the ground "
                                 "truth on paired data, else to the teacher output; CAT's own "
                                 "default is 100).")


@dataclasses.dataclass(frozen=True)
class KDOptions(ReconOptions):
    """Options of `KD` (and the KD part of GAN Compression)."""
    lambda_gt: float = option(0.0, "kd/gan_compression: L1 weight to the ground truth (paired "
                              "data only).")
    student_gaugan_loss: bool = option(
        False, "kd/gan_compression: the student's adversarial terms are GauGAN's (GAN "
        "Compression's GauGAN student): the GAN loss averaged over the discriminator's scales "
        "+ --lambda_feat x discriminator feature matching + --lambda_vgg x VGG (relu1_1.."
        "relu5_1, --teacher_vgg_weights) to the ground truth, and the student discriminator "
        "steps on GauGAN's loss (real + fake, scales averaged). Paired data. GAN Compression "
        "has no L1 term: add --lambda_recon=0.")

    def __post_init__(self):
        self.non_negative("lambda_recon", "lambda_gt")


@dataclasses.dataclass(frozen=True)
class GANCompressionOptions(KDOptions, FeatureDistillOptions, FeatureAdapterOptions):
    """Options of `GANCompression`: KD's + the feature pairs, their weight and adapter."""

    def __post_init__(self):
        super().__post_init__()
        self.non_negative("lambda_distill")
        require(bool(self.distill_pairs), "gan_compression needs at least one (teacher_tap, "
                "student_tap) pair. Fix: e.g. --distill_pairs=block_2:block_2,block_5:block_5.")


@dataclasses.dataclass(frozen=True)
class OMGDOptions(FeaturePairsOptions, FeatureAdapterOptions):
    """Options of `OMGD`: its term weights (reference values) and the VGG16 weights."""
    lambda_cd: float = option(5e2, "omgd: channel-distillation weight.")
    lambda_ssim: float = option(1e1, "omgd: 1 - SSIM weight.")
    lambda_style: float = option(1e4, "omgd: VGG16 Gram style weight.")
    lambda_feature: float = option(1e1, "omgd: VGG16 relu2_2 feature weight.")
    lambda_tv: float = option(1e-5, "omgd: total-variation weight.")
    vgg_weights: str | None = option(
        None, "omgd: VGG16 notop ImageNet weights (.h5); default the Keras cache "
        "(~/.keras/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5).", kind="str")

    def __post_init__(self):
        self.non_negative("lambda_cd", "lambda_ssim", "lambda_style", "lambda_feature",
                          "lambda_tv")
        require(self.lambda_cd == 0 or self.distill_pairs, "omgd with lambda_cd > 0 needs "
                "(teacher_tap, student_tap) pairs for channel distillation. Fix: e.g. "
                "--distill_pairs=block_8:block_8, or --lambda_cd=0.")


@dataclasses.dataclass(frozen=True)
class CATOptions(ReconOptions, FeatureDistillOptions):
    """Options of the ``cat`` recipe (CAT's option defaults are in
    ``distillers/base_inception_distiller.py``; its scripts set others):
    lambda_recon (CAT: 100; horse2zebra script 5), lambda_distill (CAT: 1;
    Cityscapes script 0.5), distill_pairs (CAT: ``CAT_PAIRS``), and these."""
    lambda_gan: float = option(1.0, "cat: weight of the student's GAN loss (CAT --lambda_gan).")
    centered: bool = option(False, "cat: centre the Gram matrices (CKA) instead of CAT's "
                            "uncentred kernel alignment.")

    def __post_init__(self):
        self.non_negative("lambda_gan", "lambda_recon", "lambda_distill")
        require(self.lambda_distill == 0 or bool(self.distill_pairs),
                "cat with lambda_distill > 0 needs (teacher_tap, student_tap) pairs. Fix: CAT's "
                f"layers are --distill_pairs={_CAT_PAIRS_FLAG}; or set --lambda_distill=0.")
