"""Base-method student losses: OMGD's SSIM / VGG style / VGG feature / TV /
channel distillation, and the frozen VGG16 feature extractor they use; CAT's
kernel alignment."""
from itgc_tf.losses.kernel_alignment import kernel_alignment
from itgc_tf.losses.perceptual import (
    OMGD_DEFAULT_WEIGHTS, OMGD_FEATURE_LAYER, channel_distillation_loss, feature_loss, gram_matrix,
    omgd_student_losses, ssim_loss, style_loss, total_variation_loss)
from itgc_tf.losses.vgg import (
    OMGD_VGG_LAYERS, PYTORCH_NAMES, RANDOM_VGG_WARNING, VGGFeatures, caffe_preprocess,
    keras_cache_path)

__all__ = [
    "OMGD_DEFAULT_WEIGHTS", "OMGD_FEATURE_LAYER", "channel_distillation_loss", "feature_loss",
    "gram_matrix", "omgd_student_losses", "ssim_loss", "style_loss", "total_variation_loss",
    "OMGD_VGG_LAYERS", "PYTORCH_NAMES", "RANDOM_VGG_WARNING", "VGGFeatures", "caffe_preprocess",
    "keras_cache_path", "kernel_alignment",
]
