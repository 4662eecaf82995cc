"""The exact Barber-Agakov bound for low-dimensional (scalar t) problems.

    I(T; S) >= H(T) + E_{p(t,s)}[log q(t|s)],   log q(t|s) = -E(t, s) - log Z(s)

log Z(s) is integrated on a fine uniform grid over t (log-sum-exp of the
rectangle rule, exact to the grid's resolution for smooth, decaying integrands);
the outer expectation uses quadrature nodes of p(t, s) (e.g. Gauss-Hermite),
whose error is far below Monte-Carlo noise.
"""
import math

import numpy as np
import tensorflow as tf


def log_partition(critic, s, t_grid):
    """log Z(s) = log integral exp(-E(t, s)) dt on a uniform grid.

    critic: energies [N, 1] for (t [N, 1], s [N, Ds]). s: [M, Ds]; t_grid: [G] uniform.
    Returns [M] float64.
    """
    t_grid = np.asarray(t_grid, np.float64)
    dt = t_grid[1] - t_grid[0]
    s = np.asarray(s, np.float32)
    m, g = s.shape[0], t_grid.shape[0]
    t = np.tile(t_grid.astype(np.float32)[None, :, None], [m, 1, 1]).reshape(m * g, 1)
    s_rep = np.repeat(s, g, axis=0)
    energy = critic((tf.constant(t), tf.constant(s_rep)), training=False).numpy()
    neg = -energy.reshape(m, g).astype(np.float64)
    peak = neg.max(axis=1, keepdims=True)
    return (peak[:, 0] + np.log(np.exp(neg - peak).sum(axis=1))) + math.log(dt)


def mi_lower_bound(critic, t, s, weights, t_grid, entropy_t):
    """H(T) + sum_i w_i (-E(t_i, s_i) - log Z(s_i)) in nats.

    t: [N, 1] and s: [N, Ds] quadrature nodes (or samples) of p(t, s); weights: [N]
    summing to 1; t_grid: uniform grid covering the support of q(t|s); entropy_t:
    H(T) in nats. Returns a Python float.
    """
    weights = np.asarray(weights, np.float64)
    energy = critic((tf.constant(t, tf.float32), tf.constant(s, tf.float32)),
                    training=False).numpy()[:, 0].astype(np.float64)
    log_q = -energy - log_partition(critic, s, t_grid)
    return float(entropy_t + np.sum(weights * log_q))


def gaussian_pair_quadrature(rho, order=40):
    """Nodes and weights of (t, s) ~ N(0, [[1, rho], [rho, 1]]).

    Product Gauss-Hermite rule: s = z1, t = rho z1 + sqrt(1 - rho^2) z2.
    Returns t [order^2, 1], s [order^2, 1], weights [order^2] (sum 1).
    """
    z, w = np.polynomial.hermite_e.hermegauss(order)
    w = w / w.sum()
    z1, z2 = np.meshgrid(z, z, indexing="ij")
    s = z1.reshape(-1, 1)
    t = rho * s + math.sqrt(1.0 - rho ** 2) * z2.reshape(-1, 1)
    return t, s, np.outer(w, w).reshape(-1)


def gaussian_mutual_information(rho):
    """True I(T; S) = -0.5 log(1 - rho^2) nats for unit jointly Gaussian (t, s)."""
    return -0.5 * math.log(1.0 - rho ** 2)


def gaussian_entropy(variance=1.0):
    """Differential entropy 0.5 log(2 pi e variance) nats of a scalar Gaussian."""
    return 0.5 * math.log(2.0 * math.pi * math.e * variance)
