"""VEM losses (SPEC §2-§3), averaged over the global batch.

Energies are [B] or [B, 1] float32; averages are global-batch means
(`itgc_tf.losses.reduce.global_average`).
"""
import tensorflow as tf

from itgc_tf.losses.reduce import global_average, per_example_mean


def ebm_loss(e_pos, e_neg, l2=0.1):
    """L_EBM = mean E(t, s) - mean E(t~, s) + l2 * mean(E(t, s)^2 + E(t~, s)^2).

    e_pos: energies of data pairs (t, s); e_neg: energies of Langevin samples (t~, s).
    Minimising it lowers the energy of teacher pairs and raises that of samples.
    """
    e_pos, e_neg = per_example_mean(e_pos), per_example_mean(e_neg)
    return global_average(e_pos - e_neg + l2 * (tf.square(e_pos) + tf.square(e_neg)))


def contrastive_gap(e_pos, e_neg):
    """mean E(t~, s) - mean E(t, s): > 0 when the critic separates data from samples."""
    return global_average(per_example_mean(e_neg) - per_example_mean(e_pos))


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
    return global_average(energies[:batch] - energies[batch:])
