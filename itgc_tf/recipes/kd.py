"""Plain output distillation: student GAN loss + L1 to the teacher output (SPEC §6);
optionally with GauGAN's adversarial terms (GAN Compression's GauGAN student)."""
import tensorflow as tf

from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.models.adversarial import generator_loss
from itgc_tf.recipes.base import Recipe
from itgc_tf.recipes.options import KDOptions
from itgc_tf.training.teacher_losses import (SPADE_VGG_WEIGHTS, spade_discriminator_losses,
                                             spade_generator_losses)


def kd_arguments(options, gaugan):
    """KD's constructor arguments from its `KDOptions`; ``gaugan`` (lambda_feat,
    lambda_vgg, vgg) only count with ``options.student_gaugan_loss``."""
    return dict(lambda_recon=options.lambda_recon, lambda_gt=options.lambda_gt,
                student_gaugan_loss=options.student_gaugan_loss,
                **(gaugan if options.student_gaugan_loss else {}))


class KD(Recipe):
    """L = gan_weight * L_GAN(D_s(s)) + lambda_recon * |s - t|_1 (+ lambda_gt * |s - y|_1, paired).

    With several teachers, the reconstruction term uses the first one.

    ``student_gaugan_loss``: GauGAN's adversarial terms instead of L_GAN (paired data;
    `itgc_tf.training.teacher_losses.spade_generator_losses`):
      gan_weight * g_gan + lambda_feat * g_feat (D feature matching to y)
      + lambda_vgg * g_vgg (``vgg``: a `VGGFeatures(SPADE_VGG_LAYERS)`; None: no VGG term),
    and the student discriminator steps on GauGAN's D loss
    (`spade_discriminator_losses`) instead of pix2pix's.
    """

    options_class = KDOptions
    uses_discriminator = True

    @classmethod
    def from_options(cls, options, *, gan_mode, name, **gaugan):
        """``gaugan``: ``lambda_feat``, ``lambda_vgg``, ``vgg`` of GauGAN's objective (the
        spade teacher's flags), for ``options.student_gaugan_loss``."""
        return cls(**kd_arguments(options, gaugan), gan_mode=gan_mode, name=name)

    def __init__(self, lambda_recon=10.0, lambda_gt=0.0, gan_weight=1.0, gan_mode="lsgan",
                 student_gaugan_loss=False, lambda_feat=10.0, lambda_vgg=10.0, vgg=None,
                 **kwargs):
        super().__init__(**kwargs)
        for name, value in (("lambda_recon", lambda_recon), ("lambda_gt", lambda_gt),
                            ("gan_weight", gan_weight), ("lambda_feat", lambda_feat),
                            ("lambda_vgg", lambda_vgg)):
            if value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        if student_gaugan_loss and lambda_vgg > 0 and vgg is None:
            raise ValueError("student_gaugan_loss with lambda_vgg > 0 needs the VGG of GauGAN's "
                             "perceptual loss. Fix: pass vgg=VGGFeatures(SPADE_VGG_LAYERS), or "
                             "--lambda_vgg=0.")
        self.lambda_recon, self.lambda_gt = lambda_recon, lambda_gt
        self.gan_weight, self.gan_mode = gan_weight, gan_mode
        self.student_gaugan_loss = student_gaugan_loss
        self.lambda_feat, self.lambda_vgg = lambda_feat, lambda_vgg
        self.vgg = vgg if student_gaugan_loss and lambda_vgg > 0 else None

    @property
    def uses_discriminator_features(self):
        return self.student_gaugan_loss

    @property
    def term_names(self):
        gaugan = ("feat",) + (("vgg",) if self.vgg is not None else ())
        return (("gan",) + (gaugan if self.student_gaugan_loss else ()) + ("recon",)
                + (("gt_recon",) if self.lambda_gt > 0 else ()))

    def _adversarial_terms(self, ctx, discriminate):
        """{"gan"} (+ GauGAN's {"feat", "vgg"}), weighted and batch-averaged."""
        s = ctx.student_output
        if not self.student_gaugan_loss:
            return {"gan": self.gan_weight * global_average(
                generator_loss(self.gan_mode, discriminate(ctx.x, s)))}
        if not ctx.paired:
            raise ValueError("student_gaugan_loss matches the student output to the ground "
                             "truth, which needs paired data. Fix: drop --student_gaugan_loss "
                             "for unpaired datasets.")
        g = spade_generator_losses(discriminate.features, ctx.x, ctx.y, s, self.vgg,
                                   self.gan_mode, vgg_weights=SPADE_VGG_WEIGHTS)
        terms = {"gan": self.gan_weight * global_average(g["g_gan"]),
                 "feat": self.lambda_feat * global_average(g["g_feat"])}
        if self.vgg is not None:
            terms["vgg"] = self.lambda_vgg * global_average(g["g_vgg"])
        return terms

    def discriminator_loss(self, discriminate, x, real, fake):
        if not self.student_gaugan_loss:
            return super().discriminator_loss(discriminate, x, real, fake)
        return spade_discriminator_losses(discriminate.features, x, real, fake,
                                          self.gan_mode)["total"]

    def student_losses(self, ctx, discriminate):
        s = ctx.student_output
        terms = self._adversarial_terms(ctx, discriminate)
        terms["recon"] = self.lambda_recon * global_average(
            per_example_mean(tf.abs(s - ctx.teacher_outputs[0])))
        if self.lambda_gt > 0:
            if not ctx.paired:
                raise ValueError("lambda_gt > 0 needs paired data (an aligned ground truth); "
                                 "set it to 0 for unpaired datasets.")
            terms["gt_recon"] = self.lambda_gt * global_average(per_example_mean(tf.abs(s - ctx.y)))
        return terms
