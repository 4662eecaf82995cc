"""VEM losses (SPEC §2-§3), averaged over the global batch.

Energies are [B] or [B, 1] float32. Averages use ``tf.nn.compute_average_loss``:
the plain mean outside tf.distribute; inside a replica it divides by the global
batch, so summing gradients over replicas gives the global-batch gradient.
"""
import tensorflow as tf


def _per_example(e):
    return tf.reshape(tf.cast(e, tf.float32), [-1])


def global_mean(values):
    """Mean of per-example values [B] over the global batch (see module doc)."""
    return tf.nn.compute_average_loss(_per_example(values))


def ebm_loss(e_pos, e_neg, l2=0.1):
    """L_EBM = mean E(t, s) - mean E(t~, s) + l2 * mean(E(t, s)^2 + E(t~, s)^2).

    e_pos: energies of data pairs (t, s); e_neg: energies of Langevin samples (t~, s).
    Minimising it lowers the energy of teacher pairs and raises that of samples.
    """
    e_pos, e_neg = _per_example(e_pos), _per_example(e_neg)
    return global_mean(e_pos - e_neg + l2 * (tf.square(e_pos) + tf.square(e_neg)))


def contrastive_gap(e_pos, e_neg):
    """mean E(t~, s) - mean E(t, s): > 0 when the critic separates data from samples."""
    return global_mean(_per_example(e_neg) - _per_example(e_pos))


def mi_loss(critic, t, s, t_neg):
    """L_MI = mean E(t, s) - mean E(t~, s), with gradient flowing into s only.

    t (teacher output) and t_neg (Langevin sample) are constants, and the critic's
    variables are read as constants too (the student step must not train the
    critic). Shapes: t, s, t_neg as the critic expects; returns a scalar.
    """
    trainable = [tf.stop_gradient(v) for v in critic.trainable_variables]
    frozen = [tf.stop_gradient(v) for v in critic.non_trainable_variables]
    t, t_neg = tf.stop_gradient(t), tf.stop_gradient(t_neg)
    batch = tf.shape(t)[0]
    # One critic pass over [t; t~] with s repeated: half the kernel launches of two passes.
    energies, _ = critic.stateless_call(
        trainable, frozen, (tf.concat([t, t_neg], 0), tf.concat([s, s], 0)), training=False)
    return global_mean(energies[:batch] - energies[batch:])
