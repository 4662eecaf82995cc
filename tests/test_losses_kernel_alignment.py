"""CAT's kernel alignment: equals an independent NumPy computation, invariant to
orthogonal transforms and isotropic scaling, 1 for identical features, finite
gradients for constant features."""
import numpy as np
import pytest
import tensorflow as tf
from scipy.stats import ortho_group

from itgc_tf.losses import kernel_alignment


def numpy_ka(x, y, centered=False):
    kx = [[float(np.dot(a.ravel(), b.ravel())) for b in x] for a in x]
    ky = [[float(np.dot(a.ravel(), b.ravel())) for b in y] for a in y]
    kx, ky = np.array(kx), np.array(ky)
    if centered:
        h = np.eye(len(x)) - 1.0 / len(x)
        kx, ky = h @ kx @ h, h @ ky @ h
    return np.sum(kx * ky) / np.sqrt(np.sum(kx ** 2) * np.sum(ky ** 2))


def features(seed, shape):
    return np.random.default_rng(seed).normal(0.3, 1.0, shape).astype("float32")


@pytest.mark.parametrize("centered", [False, True])
def test_equals_numpy_on_features_of_different_shapes(centered):
    x, y = features(0, (5, 4, 4, 6)), features(1, (5, 2, 3, 9))
    value = kernel_alignment(x, y, centered)
    np.testing.assert_allclose(value, numpy_ka(x, y, centered), rtol=1e-5)
    assert 0.0 <= float(value) <= 1.0 + 1e-6


@pytest.mark.parametrize("centered", [False, True])
def test_invariant_to_orthogonal_transforms_and_isotropic_scaling(centered):
    x, y = features(2, (6, 3, 3, 4)), features(3, (6, 2, 2, 5))
    q = ortho_group.rvs(36, random_state=0).astype("float32")
    x_rotated = (x.reshape(6, -1) @ q).reshape(x.shape)
    reference = float(kernel_alignment(x, y, centered))
    for a, b in ((x_rotated, y), (x, 7.5 * y), (0.01 * x_rotated, y)):
        np.testing.assert_allclose(kernel_alignment(a, b, centered), reference, rtol=1e-4)


@pytest.mark.parametrize("centered", [False, True])
def test_identical_features_align_perfectly(centered):
    x = features(4, (4, 3, 3, 2))
    np.testing.assert_allclose(kernel_alignment(x, x, centered), 1.0, rtol=1e-6)


@pytest.mark.parametrize("constant", [0.0, 2.0])
@pytest.mark.parametrize("centered", [False, True])
def test_gradients_are_finite_when_a_feature_is_constant(constant, centered):
    x = tf.Variable(np.full((3, 2, 2, 4), constant, "float32"))
    y = tf.Variable(features(5, (3, 2, 2, 4)))
    with tf.GradientTape() as tape:
        value = kernel_alignment(x, y, centered)
    grads = tape.gradient(value, [x, y])
    assert np.isfinite(float(value))
    assert all(np.all(np.isfinite(g.numpy())) for g in grads)


def test_gradient_raises_the_alignment():
    x, y = tf.Variable(features(6, (4, 8))), tf.constant(features(7, (4, 8)))
    before = float(kernel_alignment(x, y))
    for _ in range(20):
        with tf.GradientTape() as tape:
            value = kernel_alignment(x, y)
        x.assign_add(0.5 * tape.gradient(value, x))
    assert float(kernel_alignment(x, y)) > before + 0.01
