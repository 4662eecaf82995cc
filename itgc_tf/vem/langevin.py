"""Short-run Langevin sampling of t~ from q(t|s) (SPEC §2).

    t~^0 = stop_gradient(s)
    t~^k = t~^(k-1) - step_size * dE/dt(t~^(k-1), s) + noise_std * eps^k,  eps^k ~ N(0, I)
    t~   = stop_gradient(clip(t~^K, -1, 1))

The chain samples exp(-E/T) with temperature T = noise_std**2 / (2 step_size).
"""
import math

import tensorflow as tf

from itgc_tf.vem.config import resolve_noise_std


def langevin_temperature(step_size, noise_std):
    """Temperature T = noise_std^2 / (2 step_size) of the chain (inf when step_size is 0)."""
    noise_std = resolve_noise_std(noise_std, step_size)
    return math.inf if step_size == 0 else noise_std ** 2 / (2.0 * step_size)


def _replica_seed(seed):
    """Shape-[2] int32 stateless seed, folded with the replica id under tf.distribute."""
    seed = tf.cast(tf.reshape(tf.convert_to_tensor(seed), [-1]), tf.int32)
    seed = tf.concat([seed, tf.zeros([2], tf.int32)], 0)[:2]
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        replica = tf.cast(ctx.replica_id_in_sync_group, tf.int32)
        seed = tf.random.experimental.stateless_fold_in(seed, replica)
    return seed


def standard_normal(shape, seed):
    """N(0, 1) float32 noise of ``shape`` from a stateless shape-[2] ``seed``: Box-Muller
    on stateless uniforms, in vectorised element-wise ops (on CPU about 1.4x faster
    than ``tf.random.stateless_normal``, whose sampler runs element by element; the
    noise was a fifth of a Langevin chain's op time)."""
    n = tf.reduce_prod(shape)
    u = tf.random.stateless_uniform(tf.stack([2, (n + 1) // 2]), seed)
    radius = tf.sqrt(-2.0 * tf.math.log1p(-u[0]))  # 1 - u in (0, 1]: finite
    angle = (2.0 * math.pi) * u[1]
    return tf.reshape(tf.concat([radius * tf.cos(angle), radius * tf.sin(angle)], 0)[:n],
                      shape)


def langevin_sample(critic, s, steps=10, step_size=100.0, noise_std=0.005, clip=True, seed=0):
    """Draw t~ ~ q(.|s) by ``steps`` Langevin updates started at s.

    Args:
      critic: a ``Critic`` (``condition``/``energy_given``) giving energies [B, 1].
      s: student output [B, ...] (images in [-1, 1], feature maps or vectors).
      steps: K >= 0 (Python int: the loop is a ``tf.while_loop``, one trace for any K).
      step_size: eta >= 0. noise_std: sigma >= 0 or ``"auto"`` (= sqrt(2 eta)).
      clip: clip the final sample to [-1, 1] (images).
      seed: int or shape-[2] int tensor; noise of step k uses fold_in(seed, k), and
        the replica id under a multi-replica strategy, so a fixed seed reproduces.
    Returns:
      float32 tensor shaped like s, with no gradient attached.
    """
    if steps < 0 or step_size < 0:
        raise ValueError(f"Langevin steps and step_size must be >= 0, got {steps}, {step_size}.")
    noise_std = resolve_noise_std(noise_std, step_size)
    s = tf.stop_gradient(tf.cast(s, tf.float32))
    cond = tf.nest.map_structure(tf.stop_gradient, critic.condition(s))
    base_seed = _replica_seed(seed)

    def body(k, t):
        with tf.GradientTape() as tape:
            tape.watch(t)
            energy = tf.reduce_sum(critic.energy_given(t, cond))
        grad = tape.gradient(energy, t)
        t = t - step_size * grad
        if noise_std > 0:
            step_seed = tf.random.experimental.stateless_fold_in(base_seed, k)
            t = t + noise_std * standard_normal(tf.shape(t), step_seed)
        return k + 1, t

    _, t = tf.while_loop(lambda k, _: k < steps, body, (tf.constant(0), s),
                         parallel_iterations=1)
    if clip:
        t = tf.clip_by_value(t, -1.0, 1.0)
    return tf.stop_gradient(t)
