"""GAN Compression (Li et al., CVPR 2020): KD + intermediate feature distillation."""
import tensorflow as tf

from itgc_tf.recipes.base import FeatureAdapters, global_average, per_example_mean
from itgc_tf.recipes.kd import KD


class GANCompression(KD):
    """KD terms + lambda_distill * sum_pairs MSE(t_tap, conv1x1(s_tap)).

    ``pairs``: ((teacher_tap, student_tap), ...) at equal resolution, e.g. the
    ResNet generators' ``("block_2", "block_2")``. ``adapter``: the student-tap
    mapping (``base.ADAPTERS``; GAN Compression's is ``conv``).
    """

    def __init__(self, pairs, lambda_distill=1.0, adapter="conv", **kwargs):
        super().__init__(**kwargs)
        if not pairs:
            raise ValueError("gan_compression needs at least one (teacher_tap, student_tap) pair; "
                             "e.g. --distill_pairs=block_2:block_2,block_5:block_5.")
        if lambda_distill < 0:
            raise ValueError(f"lambda_distill must be >= 0, got {lambda_distill}.")
        self.lambda_distill = lambda_distill
        self.adapters = FeatureAdapters(pairs, adapter, name="adapters")

    def feature_pairs(self):
        return self.adapters.pairs

    def build_adapters(self, teacher_shapes, student_shapes):
        self.adapters.build_for(teacher_shapes, student_shapes)
        self.built = True

    @property
    def term_names(self):
        return super().term_names + ("distill",)

    def student_losses(self, ctx, discriminate):
        terms = super().student_losses(ctx, discriminate)
        mapped = self.adapters(ctx.student_features, training=True)
        per_example = tf.add_n([
            per_example_mean(tf.square(m - ctx.teacher_features[t_tap]))
            for m, (t_tap, _) in zip(mapped, self.adapters.pairs)])
        terms["distill"] = self.lambda_distill * global_average(per_example)
        return terms
