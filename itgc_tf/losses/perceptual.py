"""OMGD student losses (SPEC §6): SSIM, VGG Gram style, VGG feature, total variation,
channel distillation.

Every function returns PER-EXAMPLE losses, float32 [B]; callers average over the
global batch (``tf.nn.compute_average_loss``). Images are NHWC in [-1, 1]; feature
maps are NHWC. Arguments named for the teacher (``t``, ``*_t``) are constants
(stop-gradient), as the OMGD reference detaches the teacher output: gradients flow
into the student only.

Matching the OMGD reference (``distillers/cycleganbest_distiller.py``):
- style and feature losses are PyTorch ``L1Loss`` means; a per-example mean
  averaged over the batch gives the same value.
- TV is the SUM of absolute differences of vertical and horizontal neighbours
  over H, W, C of the student output. OMGD sums over the batch as well, so its
  value equals ``sum`` of ours over the batch (identical at its CycleGAN batch 1);
  ours averaged over the batch does not grow with the batch size.
- SSIM differs on purpose: OMGD's pytorch_ssim uses zero "same" padding and the
  constants of a [0, 1] range on [-1, 1] images; here ``tf.image.ssim`` with the
  true range ``max_val=2`` over the valid (unpadded) region.
"""
import tensorflow as tf

from itgc_tf.losses.reduce import per_example_mean
from itgc_tf.losses.vgg import PYTORCH_NAMES

OMGD_DEFAULT_WEIGHTS = dict(ssim=1e1, style=1e4, feature=1e1, tv=1e-5)
OMGD_FEATURE_LAYER = "block2_conv2"  # relu2_2


def ssim_loss(s, t, filter_size=11, filter_sigma=1.5):
    """1 - SSIM(s, t) per example: [B, H, W, C] x2 in [-1, 1] -> [B], in [0, 2].

    ``tf.image.ssim`` with max_val=2 (so K1=0.01, K2=0.03 give C1=(0.02)^2,
    C2=(0.06)^2), a ``filter_size`` x ``filter_size`` Gaussian window of std
    ``filter_sigma`` applied without padding, averaged over the valid positions
    and the channels. H and W must be >= filter_size: pass a smaller
    ``filter_size`` (e.g. 7) for tiny images.
    """
    s = tf.cast(s, tf.float32)
    t = tf.stop_gradient(tf.cast(t, tf.float32))
    height, width = s.shape[1], s.shape[2]
    if (height is not None and height < filter_size) or (width is not None and width < filter_size):
        raise ValueError(f"ssim_loss: images of {height}x{width} px are smaller than the SSIM "
                         f"window ({filter_size}); pass a smaller filter_size (<= "
                         f"{min(d for d in (height, width) if d is not None)}) or larger images.")
    return 1.0 - tf.image.ssim(s, t, max_val=2.0, filter_size=filter_size,
                               filter_sigma=filter_sigma)


def gram_matrix(f):
    """Gram(f) = f fᵀ / (C·H·W): [B, H, W, C] -> [B, C, C] (f flattened to [B, HW, C])."""
    f = tf.cast(f, tf.float32)
    shape = tf.shape(f)
    flat = tf.reshape(f, [shape[0], shape[1] * shape[2], shape[3]])
    size = tf.cast(shape[1] * shape[2] * shape[3], tf.float32)
    return tf.einsum("bnc,bnd->bcd", flat, flat) / size


def _check_layers(feats, layers, who):
    missing = [name for name in layers if name not in feats]
    if missing:
        raise ValueError(f"{who}: feature maps {missing} are missing (have {sorted(feats)}); build "
                         "VGGFeatures with these layers or ask for layers it returns.")


def style_loss(feats_s, feats_t, layers=None):
    """Σ_l mean_{C×C} |Gram(s_l) - Gram(t_l)| per example -> [B].

    feats_s, feats_t: dicts {layer name: [B, H, W, C]} (e.g. from ``VGGFeatures``);
    layers: names to use (default: all of feats_s). The mean over the C×C entries
    is PyTorch's ``L1Loss``, as in OMGD.
    """
    layers = tuple(feats_s) if layers is None else tuple(layers)
    _check_layers(feats_s, layers, "style_loss (student)")
    _check_layers(feats_t, layers, "style_loss (teacher)")
    return tf.add_n([
        per_example_mean(tf.abs(gram_matrix(feats_s[name])
                                 - gram_matrix(tf.stop_gradient(feats_t[name]))))
        for name in layers])


def feature_loss(f_s, f_t):
    """mean_{H,W,C} |f_s - f_t| per example: [B, H, W, C] x2 -> [B] (OMGD: VGG relu2_2)."""
    return per_example_mean(tf.abs(tf.cast(f_s, tf.float32)
                                    - tf.stop_gradient(tf.cast(f_t, tf.float32))))


def total_variation_loss(x):
    """Σ_{H,W,C} of |x[i+1, j] - x[i, j]| + |x[i, j+1] - x[i, j]| per example:
    [B, H, W, C] -> [B] (``tf.image.total_variation``; sum, not mean, as OMGD)."""
    return tf.image.total_variation(tf.cast(x, tf.float32))


def channel_distillation_loss(s_feats, t_feats):
    """Σ_pairs mean_C (GAP(s) - GAP(t))² per example -> [B].

    s_feats, t_feats: equal-length sequences of [B, H, W, C] maps, student ones
    already mapped to the teacher's channels (the Distiller's 1×1 convs); GAP is
    the mean over H, W. As OMGD's ``calc_CD_loss`` (an MSE over B×C there).
    """
    s_feats, t_feats = list(s_feats), list(t_feats)
    if not s_feats or len(s_feats) != len(t_feats):
        raise ValueError(f"channel_distillation_loss needs equally many (>= 1) student and "
                         f"teacher feature maps; got {len(s_feats)} and {len(t_feats)}.")
    losses = []
    for i, (s, t) in enumerate(zip(s_feats, t_feats)):
        if s.shape[-1] != t.shape[-1]:
            raise ValueError(f"channel_distillation_loss pair {i}: student has {s.shape[-1]} "
                             f"channels, teacher {t.shape[-1]}; map the student features to the "
                             "teacher's channels (1×1 conv) first.")
        gap_s = tf.reduce_mean(tf.cast(s, tf.float32), axis=[1, 2])
        gap_t = tf.reduce_mean(tf.stop_gradient(tf.cast(t, tf.float32)), axis=[1, 2])
        losses.append(tf.reduce_mean(tf.square(gap_s - gap_t), axis=1))
    return tf.add_n(losses)


def _nonzero(weight):
    """False only for a weight known to be 0 (a Python number; tensors count as set)."""
    return not isinstance(weight, (int, float)) or weight != 0


def omgd_student_losses(s, t, vgg, weights=OMGD_DEFAULT_WEIGHTS, ssim_filter_size=11):
    """The OMGD student objective without channel distillation (the Distiller adds
    that from its mapped features).

    s (student output), t (teacher output): [B, H, W, C] in [-1, 1], same shape.
    vgg: a ``VGGFeatures``; the style loss uses all its layers, the feature loss
    ``block2_conv2`` (relu2_2), which it must return. None when the style and feature
    weights are both 0 (those terms are then zeros: no VGG16 weights needed).
    weights: {"ssim", "style", "feature", "tv"} -> float or scalar tensor (default SPEC §6).
    Returns {"ssim", "style", "feature", "tv": unweighted [B], "total": the
    weighted sum [B]}.
    """
    if set(weights) != set(OMGD_DEFAULT_WEIGHTS):
        raise ValueError(f"omgd_student_losses weights must have exactly the keys "
                         f"{sorted(OMGD_DEFAULT_WEIGHTS)}; got {sorted(weights)}. Start from "
                         "dict(OMGD_DEFAULT_WEIGHTS, ...) to change some.")
    if vgg is None and (_nonzero(weights["style"]) or _nonzero(weights["feature"])):
        raise ValueError("omgd_student_losses needs a VGGFeatures for its style and feature "
                         "terms. Fix: pass one, or set both weights to 0.")
    if vgg is not None and OMGD_FEATURE_LAYER not in vgg.layer_names:
        raise ValueError(f"omgd_student_losses needs VGG layer {OMGD_FEATURE_LAYER!r} "
                         f"({PYTORCH_NAMES[OMGD_FEATURE_LAYER]}) for the feature loss; the given "
                         f"VGGFeatures returns {list(vgg.layer_names)}.")
    s = tf.cast(s, tf.float32)
    t = tf.stop_gradient(tf.cast(t, tf.float32))
    if not s.shape.is_compatible_with(t.shape):
        raise ValueError(f"omgd_student_losses needs student and teacher images of one shape; got "
                         f"{s.shape} and {t.shape}.")
    # Two VGG passes, not one over [s; t]: backprop then runs through the student's
    # half only (on CPU, 4x64x64 with gradients, one concatenated pass was 1.5-2x slower).
    terms = {"ssim": ssim_loss(s, t, filter_size=ssim_filter_size),
             "tv": total_variation_loss(s)}
    if vgg is None:
        terms["style"] = terms["feature"] = tf.zeros_like(terms["tv"])
    else:
        feats_s, feats_t = vgg(s), vgg(t)
        terms["style"] = style_loss(feats_s, feats_t, vgg.layer_names)
        terms["feature"] = feature_loss(feats_s[OMGD_FEATURE_LAYER],
                                        feats_t[OMGD_FEATURE_LAYER])
    terms["total"] = tf.add_n([tf.cast(weights[name], tf.float32) * terms[name]
                               for name in OMGD_DEFAULT_WEIGHTS])
    return terms
