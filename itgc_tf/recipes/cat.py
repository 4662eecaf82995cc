"""CAT (Jin et al., CVPR 2021; SPEC §6): GAN + reconstruction + kernel-alignment
distillation of intermediate features, without learnable adapters.

As CAT's ``distillers/inception_distiller.py::backward_G``:

    L = lambda_gan · L_GAN(D_s(s)) + lambda_recon · |s − r|_1
        + lambda_distill · Σ_pairs (−KA(f_s, f_t))

where r is the ground truth on paired data (CAT's ``aligned`` mode) and the
teacher output on unpaired data, and KA is ``itgc_tf.losses.kernel_alignment``
(per replica, as CAT's per-GPU KA). The default pairs are CAT's mapping layers
``down_sampling.9`` and ``features.2/5/8``: ``down_1``, ``block_2``, ``block_5``,
``block_8`` of the inception (or ResNet) generators.
"""
import dataclasses

import tensorflow as tf

from itgc_tf.losses.kernel_alignment import kernel_alignment
from itgc_tf.models.adversarial import GAN_MODES, generator_loss
from itgc_tf.recipes.base import Recipe, global_average, per_example_mean

CAT_PAIRS = (("down_1", "down_1"), ("block_2", "block_2"), ("block_5", "block_5"),
             ("block_8", "block_8"))


@dataclasses.dataclass(frozen=True)
class CATConfig:
    """Options of the ``cat`` recipe (defaults: CAT's option defaults,
    ``distillers/base_inception_distiller.py``; its scripts set others).

    lambda_gan: weight of the student's GAN loss (CAT --lambda_gan, 1).
    lambda_recon: weight of the L1 reconstruction loss to the ground truth (paired)
      or the teacher output (unpaired) (CAT --lambda_recon, 100; horse2zebra script 5).
    lambda_distill: weight of the summed negative kernel alignments (CAT
      --lambda_distill, 1; cityscapes script 0.5).
    pairs: (teacher_tap, student_tap) feature pairs aligned by KA; any shapes with
      the same batch size.
    centered: centre the Gram matrices (CKA) instead of CAT's uncentred KA.
    gan_mode: lsgan | vanilla | hinge (CAT's default hinge; its horse2zebra script:
      lsgan). The Distiller's discriminator must use the same (``--gan_mode``).
    """
    lambda_gan: float = 1.0
    lambda_recon: float = 100.0
    lambda_distill: float = 1.0
    pairs: tuple = CAT_PAIRS
    centered: bool = False
    gan_mode: str = "hinge"

    def __post_init__(self):
        for name in ("lambda_gan", "lambda_recon", "lambda_distill"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}.")
        object.__setattr__(self, "pairs", tuple(tuple(p) for p in self.pairs))
        if self.lambda_distill > 0 and not self.pairs:
            raise ValueError("cat with lambda_distill > 0 needs (teacher_tap, student_tap) pairs, "
                             "e.g. down_1:down_1,block_2:block_2; or set lambda_distill=0.")
        if any(len(p) != 2 for p in self.pairs):
            raise ValueError(f"pairs must be (teacher_tap, student_tap) pairs, got {self.pairs}.")
        if self.gan_mode not in GAN_MODES:
            raise ValueError(f"gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}.")


class CAT(Recipe):
    """The ``cat`` recipe; ``build_recipe("cat", **CATConfig fields)``."""

    uses_discriminator = True
    term_names = ("gan", "recon", "distill")

    def __init__(self, name="cat", **options):
        super().__init__(name=name)
        self.config = CATConfig(**options)

    def feature_pairs(self):
        return self.config.pairs if self.config.lambda_distill > 0 else ()

    def student_losses(self, ctx, discriminate):
        c, s = self.config, ctx.student_output
        target = ctx.y if ctx.paired else ctx.teacher_outputs[0]
        alignments = [kernel_alignment(ctx.student_features[s_tap],
                                       ctx.teacher_features[t_tap], c.centered)
                      for t_tap, s_tap in self.feature_pairs()]
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        return {
            "gan": c.lambda_gan * global_average(generator_loss(c.gan_mode,
                                                                 discriminate(ctx.x, s))),
            "recon": c.lambda_recon * global_average(per_example_mean(tf.abs(s - target))),
            # a share per replica: the replicas' shares sum to the mean of their KAs
            "distill": -c.lambda_distill * tf.add_n([tf.constant(0.0)] + alignments) / replicas,
        }
