"""GAN Compression (Li et al., CVPR 2020): KD + intermediate feature distillation (its
GauGAN student: with ``student_gaugan_loss``, see `KD`)."""
import tensorflow as tf

from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.recipes.base import AdaptsFeatures, FeatureAdapters
from itgc_tf.recipes.kd import KD, kd_arguments
from itgc_tf.recipes.options import GANCompressionOptions


class GANCompression(AdaptsFeatures, KD):
    """KD terms + lambda_distill * sum_pairs MSE(t_tap, conv1x1(s_tap)).

    ``pairs``: ((teacher_tap, student_tap), ...) at equal resolution, e.g. the
    ResNet generators' ``("block_2", "block_2")``. ``adapter``: the student-tap
    mapping (``base.ADAPTERS``; GAN Compression's is ``conv``).
    """

    options_class = GANCompressionOptions

    @classmethod
    def from_options(cls, options, *, gan_mode, name, **gaugan):
        """``gaugan``: as `KD.from_options`."""
        return cls(options.distill_pairs, lambda_distill=options.lambda_distill,
                   adapter=options.cd_adapter, **kd_arguments(options, gaugan),
                   gan_mode=gan_mode, name=name)

    def __init__(self, pairs, lambda_distill=1.0, adapter="conv", **kwargs):
        super().__init__(**kwargs)
        if not pairs:
            raise ValueError("gan_compression needs at least one (teacher_tap, student_tap) pair; "
                             "e.g. --distill_pairs=block_2:block_2,block_5:block_5.")
        if lambda_distill < 0:
            raise ValueError(f"lambda_distill must be >= 0, got {lambda_distill}.")
        self.lambda_distill = lambda_distill
        self.adapters = FeatureAdapters(pairs, adapter, name="adapters")

    @property
    def term_names(self):
        return super().term_names + ("distill",)

    def student_losses(self, ctx, discriminate):
        terms = super().student_losses(ctx, discriminate)
        per_example = tf.add_n([per_example_mean(tf.square(m - t))
                                for t, m in self.adapted_pairs(ctx)])
        terms["distill"] = self.lambda_distill * global_average(per_example)
        return terms
