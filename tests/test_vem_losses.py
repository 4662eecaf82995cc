import numpy as np
import tensorflow as tf

from itgc_tf.losses.reduce import global_average
from itgc_tf.vem import EnergyCritic, contrastive_gap, ebm_loss, mi_loss


def _critic():
    critic = EnergyCritic(base_width=8, n_blocks=2)
    critic((tf.zeros([1, 16, 16, 3]), tf.zeros([1, 16, 16, 3])))
    for v in critic.trainable_variables:  # leave the near-zero init: make every path matter
        v.assign(tf.random.normal(v.shape, stddev=0.3))
    for _ in range(5):  # spectral-norm estimates follow the new kernels
        critic((tf.zeros([1, 16, 16, 3]), tf.zeros([1, 16, 16, 3])), training=True)
    return critic


def test_ebm_loss_matches_numpy():
    e_pos = np.array([0.5, -1.0, 2.0], np.float32)
    e_neg = np.array([1.5, 0.0, -0.5], np.float32)
    expected = e_pos.mean() - e_neg.mean() + 0.1 * np.mean(e_pos ** 2 + e_neg ** 2)
    np.testing.assert_allclose(ebm_loss(e_pos[:, None], e_neg, l2=0.1), expected, rtol=1e-6)
    np.testing.assert_allclose(contrastive_gap(e_pos, e_neg), e_neg.mean() - e_pos.mean(),
                               rtol=1e-6)


def test_mi_loss_gradient_is_energy_gradient_difference_in_s_only():
    critic = _critic()
    t, s, t_neg = (tf.random.uniform([3, 16, 16, 3], -1, 1, seed=i) for i in range(3))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([t, s, t_neg])
        loss = mi_loss(critic, t, s, t_neg)
    grad_s = tape.gradient(loss, s)
    assert tape.gradient(loss, t) is None
    assert tape.gradient(loss, t_neg) is None
    assert all(g is None for g in tape.gradient(loss, critic.trainable_variables))

    # Independent computation: dE/ds at (t, s) minus dE/ds at (t~, s), averaged over the batch.
    with tf.GradientTape(persistent=True) as tape2:
        tape2.watch(s)
        e_pos = tf.reduce_sum(critic((t, s)))
        e_neg = tf.reduce_sum(critic((t_neg, s)))
    expected = (tape2.gradient(e_pos, s) - tape2.gradient(e_neg, s)) / 3.0
    np.testing.assert_allclose(grad_s, expected, atol=1e-5 * float(tf.reduce_max(tf.abs(expected))))
    np.testing.assert_allclose(
        loss, tf.reduce_mean(critic((t, s)) - critic((t_neg, s))), rtol=1e-5, atol=1e-6)
    assert float(tf.reduce_max(tf.abs(grad_s))) > 0


def test_global_mean_divides_by_the_global_batch(two_replica_strategy):
    values = tf.constant([1.0, 2.0, 3.0, 6.0])
    dataset = tf.data.Dataset.from_tensor_slices(values).batch(4)
    dist = two_replica_strategy.experimental_distribute_dataset(dataset)
    per_replica = two_replica_strategy.run(global_average, args=(next(iter(dist)),))
    total = two_replica_strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
    np.testing.assert_allclose(total, 3.0)
