"""The two reductions every loss uses: per example, then over the global batch.

``global_average`` is ``tf.nn.compute_average_loss``: the plain mean outside
tf.distribute; inside a replica it divides by the GLOBAL batch, so summing
gradients over replicas gives the global-batch gradient.
"""
import tensorflow as tf


def per_example_mean(x):
    """Mean over all non-batch axes: [B, ...] -> [B] float32."""
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def global_average(values):
    """Average of per-example ``values`` ([B], or [B, ...] first averaged per example)
    over the global batch: a float32 scalar (this replica's share under a strategy)."""
    return tf.nn.compute_average_loss(per_example_mean(values))
