"""CAT's kernel alignment between teacher and student feature maps (Jin et al.,
CVPR 2021, ``utils/common.py::KA``; SPEC §6).

Each example's feature map is flattened to a row; K_x = X Xᵀ and K_y = Y Yᵀ are
the [B, B] Gram matrices over the examples of the batch (linear kernels), and

    KA(X, Y) = <K_x, K_y>_F / (||K_x||_F ||K_y||_F)            in [0, 1]

CAT's code does NOT centre the features (its paper calls the index "global
kernel alignment"); ``centered=True`` gives the centred form (CKA, Kornblith et
al. 2019): K ← H K H with H = I − 11ᵀ/B. Either way only the batch axes must
agree: teacher and student may differ in channels and spatial size, so no
adapter is needed. KA is invariant to orthogonal transforms and isotropic
scaling of either feature's rows, and equals 1 for identical features.

A batch-level statistic: under a distribution strategy each replica aligns its
own examples (as CAT's DataParallel does per GPU).
"""
import tensorflow as tf

_EPSILON = 1e-12


def _unit_gram(features, centered):
    """Gram matrix of the flattened rows, divided by its Frobenius norm: [B, B]."""
    rows = tf.reshape(tf.cast(features, tf.float32), [tf.shape(features)[0], -1])
    gram = tf.matmul(rows, rows, transpose_b=True)
    if centered:
        gram -= tf.reduce_mean(gram, axis=0, keepdims=True)
        gram -= tf.reduce_mean(gram, axis=1, keepdims=True)
    # sqrt(. + eps): a finite gradient when a feature is constant (centred Gram 0).
    return gram * tf.math.rsqrt(tf.reduce_sum(gram * gram) + _EPSILON)


def kernel_alignment(x, y, centered=False):
    """KA of feature maps x [B, ...] and y [B, ...] (same B): a float32 scalar
    in [0, 1]; 1 when the two Gram matrices are proportional."""
    return tf.reduce_sum(_unit_gram(x, centered) * _unit_gram(y, centered))
