import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.training.adam import TorchAdam


def _torch_adam(w, grads, lr, b1, b2, eps):
    """torch.optim.Adam's update, written from its documentation, in float64."""
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr / (1 - b1 ** t) * m / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


@pytest.mark.parametrize("grad_scale", [1.0, 1e-7])
def test_torch_adam_matches_pytorch_semantics(grad_scale):
    """At gradients near eps the epsilon placement decides the step size."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4))
    grads = [grad_scale * rng.normal(size=(3, 4)) for _ in range(5)]
    var = tf.Variable(w0, dtype=tf.float32)
    optimizer = TorchAdam(1e-3, beta_1=0.0, beta_2=0.999, epsilon=1e-8)
    for g in grads:
        optimizer.apply([tf.constant(g, tf.float32)], [var])
    expected = _torch_adam(w0, grads, 1e-3, 0.0, 0.999, 1e-8)
    np.testing.assert_allclose(var.numpy(), expected, rtol=0, atol=1e-6)
    if grad_scale < 1e-6:  # Keras' own Adam with the same eps takes other steps here
        keras_var = tf.Variable(w0, dtype=tf.float32)
        keras_adam = tf.keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.999, epsilon=1e-8)
        for g in grads:
            keras_adam.apply([tf.constant(g, tf.float32)], [keras_var])
        assert np.abs(keras_var.numpy() - expected).max() > 1e-4


def test_torch_adam_round_trips_its_config():
    optimizer = TorchAdam(2e-4, beta_1=0.0)
    clone = TorchAdam.from_config(optimizer.get_config())
    assert (clone.beta_1, clone.epsilon) == (0.0, 1e-8)
    with pytest.raises(ValueError, match="amsgrad"):
        TorchAdam(amsgrad=True)
