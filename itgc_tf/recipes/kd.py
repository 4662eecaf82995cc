"""Plain output distillation: student GAN loss + L1 to the teacher output (SPEC §6)."""
import dataclasses

import tensorflow as tf

from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.models.adversarial import generator_loss
from itgc_tf.options import option
from itgc_tf.recipes.base import Recipe, RecipeOptions


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

    def __post_init__(self):
        self.non_negative("lambda_recon", "lambda_gt")


class KD(Recipe):
    """L = gan_weight * L_GAN(D_s(s)) + lambda_recon * |s - t|_1 (+ lambda_gt * |s - y|_1, paired).

    With several teachers, the reconstruction term uses the first one.
    """

    options_class = KDOptions
    uses_discriminator = True

    @classmethod
    def from_options(cls, options, *, gan_mode, name):
        return cls(lambda_recon=options.lambda_recon, lambda_gt=options.lambda_gt,
                   gan_mode=gan_mode, name=name)

    def __init__(self, lambda_recon=10.0, lambda_gt=0.0, gan_weight=1.0, gan_mode="lsgan",
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("lambda_recon", lambda_recon), ("lambda_gt", lambda_gt),
                            ("gan_weight", gan_weight)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        self.lambda_recon, self.lambda_gt = lambda_recon, lambda_gt
        self.gan_weight, self.gan_mode = gan_weight, gan_mode

    @property
    def term_names(self):
        return ("gan", "recon") + (("gt_recon",) if self.lambda_gt > 0 else ())

    def student_losses(self, ctx, discriminate):
        s = ctx.student_output
        terms = {
            "gan": self.gan_weight * global_average(
                generator_loss(self.gan_mode, discriminate(ctx.x, s))),
            "recon": self.lambda_recon * global_average(
                per_example_mean(tf.abs(s - ctx.teacher_outputs[0]))),
        }
        if self.lambda_gt > 0:
            if not ctx.paired:
                raise ValueError("lambda_gt > 0 needs paired data (an aligned ground truth); "
                                 "set it to 0 for unpaired datasets.")
            terms["gt_recon"] = self.lambda_gt * global_average(per_example_mean(tf.abs(s - ctx.y)))
        return terms
