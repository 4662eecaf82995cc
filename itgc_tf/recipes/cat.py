"""CAT (Jin et al., CVPR 2021; SPEC §6): GAN + reconstruction + kernel-alignment
distillation of intermediate features, without learnable adapters.

As CAT's ``distillers/inception_distiller.py::backward_G``:

    L = lambda_gan · L_GAN(D_s(s)) + lambda_recon · |s − r|_1
        + lambda_distill · Σ_pairs (−KA(f_s, f_t))

where r is the ground truth on paired data (CAT's ``aligned`` mode) and the
teacher output on unpaired data, and KA is ``itgc_tf.losses.kernel_alignment``
(per replica, as CAT's per-GPU KA). CAT's pairs are its mapping layers
``down_sampling.9`` and ``features.2/5/8``: ``down_1``, ``block_2``, ``block_5``,
``block_8`` of the inception (or ResNet) generators (``CAT_PAIRS``; the library
default, which ``--distill_pairs`` names explicitly).
"""
import dataclasses

import tensorflow as tf

from itgc_tf.losses.kernel_alignment import kernel_alignment
from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.models.adversarial import GAN_MODES, generator_loss
from itgc_tf.options import require
from itgc_tf.recipes.base import Recipe
from itgc_tf.recipes.options import CAT_PAIRS, CATOptions


class CAT(Recipe):
    """The ``cat`` recipe. Library defaults are CAT's (``distill_pairs=CAT_PAIRS``,
    lambda_recon 100, ``gan_mode`` hinge); ``gan_mode`` must be the Distiller's."""

    options_class = CATOptions
    uses_discriminator = True
    term_names = ("gan", "recon", "distill")

    @classmethod
    def from_options(cls, options, *, gan_mode, name):
        return cls(**dataclasses.asdict(options), gan_mode=gan_mode, name=name)

    def __init__(self, distill_pairs=CAT_PAIRS, lambda_recon=100.0, lambda_distill=1.0,
                 lambda_gan=1.0, centered=False, gan_mode="hinge", name="cat"):
        super().__init__(name=name)
        self.options = CATOptions(distill_pairs=tuple(tuple(p) for p in distill_pairs),
                                  lambda_recon=lambda_recon, lambda_distill=lambda_distill,
                                  lambda_gan=lambda_gan, centered=centered)
        require(gan_mode in GAN_MODES, f"gan_mode must be one of {GAN_MODES}, got {gan_mode!r}. "
                "Fix: pass --gan_mode=lsgan, vanilla or hinge.")
        self.gan_mode = gan_mode

    def feature_pairs(self):
        return self.options.distill_pairs if self.options.lambda_distill > 0 else ()

    def student_losses(self, ctx, discriminate):
        o, s = self.options, ctx.student_output
        target = ctx.y if ctx.paired else ctx.teacher_outputs[0]
        alignments = [kernel_alignment(ctx.student_features[s_tap],
                                       ctx.teacher_features[t_tap], o.centered)
                      for t_tap, s_tap in self.feature_pairs()]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return {
            "gan": o.lambda_gan * global_average(generator_loss(self.gan_mode,
                                                                 discriminate(ctx.x, s))),
            "recon": o.lambda_recon * global_average(per_example_mean(tf.abs(s - target))),
            # a share per replica: the replicas' shares sum to the mean of their KAs
            "distill": -o.lambda_distill * tf.add_n([tf.constant(0.0)] + alignments) / replicas,
        }
