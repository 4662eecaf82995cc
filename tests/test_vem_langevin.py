import math

import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.vem import EnergyCritic, langevin_sample, langevin_temperature, resolve_noise_std


@pytest.fixture
def critic():
    c = EnergyCritic(base_width=8, n_blocks=2)
    s = tf.zeros([2, 16, 16, 3])
    c((s, s))
    return c


@pytest.fixture
def s():
    return tf.random.uniform([2, 16, 16, 3], -0.9, 0.9, seed=3)


def test_no_step_no_noise_returns_s(critic, s):
    np.testing.assert_allclose(langevin_sample(critic, s, steps=5, step_size=0.0, noise_std=0.0),
                               s, atol=0)
    np.testing.assert_allclose(langevin_sample(critic, s, steps=0), s, atol=0)


def test_noise_only_std_is_sqrt_k_sigma(critic):
    s = tf.zeros([8, 32, 32, 3])
    sample = langevin_sample(critic, s, steps=9, step_size=0.0, noise_std=0.01, clip=False,
                             seed=5)
    np.testing.assert_allclose(np.std(sample), math.sqrt(9) * 0.01, rtol=0.03)
    np.testing.assert_allclose(np.mean(sample), 0.0, atol=1e-3)


def test_same_seed_same_sample_other_seed_other_sample(critic, s):
    a = langevin_sample(critic, s, steps=3, step_size=1.0, noise_std=0.05, seed=1)
    b = langevin_sample(critic, s, steps=3, step_size=1.0, noise_std=0.05, seed=1)
    c = langevin_sample(critic, s, steps=3, step_size=1.0, noise_std=0.05, seed=2)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - c).max() > 1e-3


def test_sample_is_clipped_and_has_no_gradient(critic, s):
    with tf.GradientTape() as tape:
        tape.watch(s)
        sample = langevin_sample(critic, s * 2, steps=2, step_size=0.0, noise_std=0.5, seed=0)
        out = tf.reduce_sum(sample)
    assert tape.gradient(out, s) is None
    assert float(tf.reduce_max(tf.abs(sample))) <= 1.0


def test_noiseless_chain_descends_the_energy_and_leaves_the_critic_unchanged(critic, s):
    for v in critic.trainable_variables:
        v.assign(tf.random.normal(v.shape, stddev=0.3, seed=4))
    before = [v.numpy().copy() for v in critic.variables]
    sample = langevin_sample(critic, s, steps=5, step_size=0.01, noise_std=0.0, clip=False)
    assert float(tf.reduce_sum(critic((sample, s)))) < float(tf.reduce_sum(critic((s, s))))
    for b, v in zip(before, critic.variables):
        np.testing.assert_array_equal(b, v.numpy())


def test_one_trace_for_many_calls_inside_tf_function(critic):
    sampler = tf.function(lambda s, seed: langevin_sample(critic, s, steps=4, step_size=1.0,
                                                          noise_std=0.1, seed=seed))
    for i in range(3):
        sampler(tf.random.uniform([2, 16, 16, 3], -1, 1), tf.constant([i, 0]))
    assert sampler.experimental_get_tracing_count() == 1


def test_noise_option_and_temperature():
    assert resolve_noise_std("auto", 0.05) == pytest.approx(math.sqrt(0.1))
    assert langevin_temperature(0.05, "auto") == pytest.approx(1.0)
    assert langevin_temperature(100.0, 0.005) == pytest.approx(1.25e-7)
    for bad in (-1.0, "loud", float("nan")):
        with pytest.raises(ValueError, match="Langevin noise"):
            resolve_noise_std(bad, 1.0)
    with pytest.raises(ValueError, match="steps and step_size"):
        langevin_sample(None, tf.zeros([1, 1]), steps=-1)


@pytest.mark.parametrize("shape", [(1, 64, 64, 3), (3, 7, 5, 1)])
def test_standard_normal_is_normal_reproducible_and_shaped(shape):
    from scipy import stats

    from itgc_tf.vem.langevin import standard_normal
    seed = tf.constant([4, 2])
    z = standard_normal(tf.constant(shape), seed).numpy()
    assert z.shape == shape and z.dtype == np.float32 and np.isfinite(z).all()
    np.testing.assert_array_equal(z, standard_normal(tf.constant(shape), seed).numpy())
    assert not np.array_equal(z, standard_normal(tf.constant(shape), seed + 1).numpy())
    big = standard_normal(tf.constant([200_000]), seed).numpy()
    assert stats.kstest(big, "norm").pvalue > 1e-3
    # The two halves (cos and sin of one draw) are uncorrelated.
    assert abs(np.corrcoef(big[:100_000], big[100_000:])[0, 1]) < 0.01


def test_chain_in_a_tf_function_equals_eager_gradient_steps(s):
    """The compiled chain (condition hoisted, grappler's fusions) against K eager steps
    t <- t - eta dE/dt of the plain critic call; a critic with shortcut and identity
    blocks and nonzero biases."""
    critic = EnergyCritic(base_width=8, n_blocks=3)
    critic((s, s))
    for i, v in enumerate(critic.trainable_variables):
        if v.name == "bias":
            v.assign(tf.random.stateless_normal(v.shape, seed=(i, 7), stddev=0.3))
    step_size, t = 100.0, tf.identity(s)  # another tensor: dE/dt leaves s out
    for _ in range(4):
        with tf.GradientTape() as tape:
            tape.watch(t)
            energy = tf.reduce_sum(critic((t, s)))
        t = t - step_size * tape.gradient(energy, t)
    chain = tf.function(lambda s: langevin_sample(critic, s, steps=4, step_size=step_size,
                                                  noise_std=0.0, clip=False))
    sample = chain(s).numpy()
    assert np.abs(t - s).max() > 1e-2  # the chain moves
    np.testing.assert_allclose(sample, t.numpy(), atol=1e-5)
