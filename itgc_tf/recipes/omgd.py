"""OMGD (Ren et al., ICCV 2021): online multi-granularity distillation (SPEC §6).

The teachers train online (the Distiller runs their own GAN steps); the student
never sees a discriminator and learns from every teacher's output through
SSIM + VGG16 Gram style + VGG16 relu2_2 feature + total variation, plus channel
distillation between mapped student taps and the first teacher's taps.
"""
from itgc_tf.losses.perceptual import (OMGD_DEFAULT_WEIGHTS, channel_distillation_loss,
                                       omgd_student_losses)
from itgc_tf.losses.reduce import global_average
from itgc_tf.recipes.base import AdaptsFeatures, FeatureAdapters, Recipe
from itgc_tf.recipes.options import OMGDOptions


class OMGD(AdaptsFeatures, Recipe):
    """L = sum_teachers [w_ssim (1 - SSIM) + w_style Style + w_feat Feat + w_tv TV](s, t_k)
         + lambda_cd * CD(conv1x1(s_taps), t_taps).

    vgg: a ``VGGFeatures`` (frozen), or None without style and feature terms.
    pairs: (teacher_tap, student_tap) for channel
    distillation (may be empty when lambda_cd is 0). weights: OMGD term weights.
    cd_adapter: the student-tap mapping (``base.ADAPTERS``): ``conv`` (1x1 conv) or
    ``conv_bn_relu`` (OMGD's own: 1x1 conv without bias + BatchNorm + ReLU).
    """

    options_class = OMGDOptions
    online_teachers = True

    @classmethod
    def from_options(cls, options, *, gan_mode, name, vgg=None, ssim_filter_size=11):
        """``vgg``: a ready `VGGFeatures` (default: ImageNet weights from
        ``options.vgg_weights`` or the Keras cache; none is built when
        ``lambda_style`` and ``lambda_feature`` are both 0); ``ssim_filter_size``: the
        SSIM window (smaller for small images)."""
        del gan_mode  # the OMGD student never sees a discriminator
        from itgc_tf.losses.vgg import VGGFeatures
        weights = dict(ssim=options.lambda_ssim, style=options.lambda_style,
                       feature=options.lambda_feature, tv=options.lambda_tv)
        if vgg is None and (options.lambda_style > 0 or options.lambda_feature > 0):
            vgg = VGGFeatures(weights_path=options.vgg_weights)
        return cls(vgg,
                   pairs=options.distill_pairs, lambda_cd=options.lambda_cd, weights=weights,
                   ssim_filter_size=ssim_filter_size, cd_adapter=options.cd_adapter, name=name)

    def __init__(self, vgg, pairs=(), lambda_cd=5e2, weights=None, ssim_filter_size=11,
                 cd_adapter="conv", **kwargs):
        super().__init__(**kwargs)
        if lambda_cd < 0:
            raise ValueError(f"lambda_cd must be >= 0, got {lambda_cd}.")
        if lambda_cd > 0 and not pairs:
            raise ValueError("omgd with lambda_cd > 0 needs (teacher_tap, student_tap) pairs for "
                             "channel distillation, e.g. --distill_pairs=block_8:block_8; or set "
                             "--lambda_cd=0.")
        self.vgg, self.lambda_cd = vgg, lambda_cd
        self.weights_ = dict(OMGD_DEFAULT_WEIGHTS, **(weights or {}))
        self.ssim_filter_size = ssim_filter_size
        self.adapters = FeatureAdapters(pairs, cd_adapter, name="cd_adapters")

    @property
    def term_names(self):
        return ("ssim", "style", "feature", "tv") + (("cd",) if self.lambda_cd > 0 else ())

    def student_losses(self, ctx, discriminate):
        del discriminate  # the OMGD student never sees a discriminator
        sums = {}
        for t in ctx.teacher_outputs:
            terms = omgd_student_losses(ctx.student_output, t, self.vgg, self.weights_,
                                        self.ssim_filter_size)
            for name in ("ssim", "style", "feature", "tv"):
                sums[name] = sums.get(name, 0.0) + self.weights_[name] * terms[name]
        losses = {name: global_average(value) for name, value in sums.items()}
        if self.lambda_cd > 0:
            teacher, mapped = zip(*self.adapted_pairs(ctx))
            losses["cd"] = self.lambda_cd * global_average(
                channel_distillation_loss(list(mapped), list(teacher)))
        return losses
