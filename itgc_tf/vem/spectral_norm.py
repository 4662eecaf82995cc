"""Spectrally normalised convolution and dense layers, as in the VEM reference EBM.

Each layer keeps the raw weight (PyTorch's ``weight_orig``) as its trainable
``kernel`` and a power-iteration vector ``u`` (PyTorch's ``weight_u``). The
weight used in the forward pass is ``W / sigma`` (forced, spectral norm 1) or
``W / max(sigma, 1)`` (bounded: only scaled down), where ``sigma`` is the
power-iteration estimate of the largest singular value of ``W`` reshaped to
``[out, -1]``. The estimate carries gradient through ``W``; ``u`` is refined by
one power step per training call and held fixed otherwise (inference, Langevin
sampling), so sampling never changes the critic. ``v`` (PyTorch's ``weight_v``)
is kept as well so that inference reuses exactly the last training estimate.

Keras's own ``SpectralNormalization`` wrapper cannot express the bounded
variant and rewrites the kernel in place, so it is not used here.
"""
import keras
import numpy as np
import tensorflow as tf

_EPS = 1e-12


def _power_step(w_mat, u):
    """One power iteration. w_mat: [n, out], u: [out]. Returns (u_new, v)."""
    v = tf.math.l2_normalize(tf.linalg.matvec(w_mat, u), epsilon=_EPS)
    u_new = tf.math.l2_normalize(tf.linalg.matvec(w_mat, v, transpose_a=True), epsilon=_EPS)
    return u_new, v


class _SpectralNormMixin:
    """Shared power-iteration logic; the host layer creates ``kernel`` then calls ``_add_uv``."""

    def _init_sn(self, bounded, power_iterations):
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}.")
        self.bounded = bounded
        self.power_iterations = power_iterations

    def _w_mat(self):
        kernel = tf.convert_to_tensor(self.kernel)
        return tf.reshape(kernel, [-1, kernel.shape[-1]])

    def _add_uv(self):
        """Create u [out] and v [n] as the exact top singular pair of the initial kernel."""
        n, out = self._w_mat().shape
        self.u = self.add_weight(name="u", shape=(out,), trainable=False, initializer="ones")
        self.v = self.add_weight(name="v", shape=(n,), trainable=False, initializer="ones")
        with tf.init_scope():  # variables hold concrete values here, even while tracing
            left, _, right_t = np.linalg.svd(self._w_mat().numpy().astype(np.float64),
                                             full_matrices=False)
            self.v.assign(left[:, 0].astype(np.float32))
            self.u.assign(right_t[0].astype(np.float32))

    def sigma(self, training=False):
        """Power-iteration estimate u^T W v of the kernel's largest singular value.

        Training calls refine (u, v) by ``power_iterations`` steps and store them;
        other calls use the stored pair, so they reproduce the last training value.
        """
        w_mat = self._w_mat()
        u, v = tf.convert_to_tensor(self.u), tf.convert_to_tensor(self.v)
        if training:
            for _ in range(self.power_iterations):
                u, v = _power_step(tf.stop_gradient(w_mat), u)
            self.u.assign(u)
            self.v.assign(v)
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        return tf.tensordot(u, tf.linalg.matvec(w_mat, v, transpose_a=True), 1)

    def normalized_kernel(self, training=False):
        """The kernel actually used: W / sigma, or W / max(sigma, 1) when bounded."""
        sigma = self.sigma(training)
        if self.bounded:
            sigma = tf.maximum(sigma, 1.0)
        return self.kernel / sigma

    def _sn_config(self, config):
        config.update(bounded=self.bounded, power_iterations=self.power_iterations)
        return config


@keras.saving.register_keras_serializable(package="itgc_tf")
class SNConv2D(_SpectralNormMixin, keras.layers.Layer):
    """Spectrally normalised 2-D convolution, stride 1, zero 'same' padding.

    Input [B, H, W, C_in] -> output [B, H, W, filters].
    """

    def __init__(self, filters, kernel_size=3, bounded=False, power_iterations=1,
                 kernel_initializer="glorot_uniform", use_bias=True, **kwargs):
        super().__init__(**kwargs)
        self._init_sn(bounded, power_iterations)
        self.filters = filters
        self.kernel_size = kernel_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.use_bias = use_bias

    def build(self, input_shape):
        k = self.kernel_size
        self.kernel = self.add_weight(
            name="kernel", shape=(k, k, input_shape[-1], self.filters),
            initializer=self.kernel_initializer)
        self.bias = (self.add_weight(name="bias", shape=(self.filters,), initializer="zeros")
                     if self.use_bias else None)
        self._add_uv()

    def call(self, x, training=False):
        y = tf.nn.conv2d(x, self.normalized_kernel(training), strides=1, padding="SAME")
        return y + self.bias if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return self._sn_config(super().get_config() | dict(
            filters=self.filters, kernel_size=self.kernel_size, use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer)))


@keras.saving.register_keras_serializable(package="itgc_tf")
class SNDense(_SpectralNormMixin, keras.layers.Layer):
    """Spectrally normalised dense layer. Input [..., C_in] -> [..., units]."""

    def __init__(self, units, bounded=False, power_iterations=1,
                 kernel_initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        self._init_sn(bounded, power_iterations)
        self.units = units
        self.kernel_initializer = keras.initializers.get(kernel_initializer)

    def build(self, input_shape):
        self.kernel = self.add_weight(name="kernel", shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer)
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self._add_uv()

    def call(self, x, training=False):
        return tf.matmul(x, self.normalized_kernel(training)) + self.bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return self._sn_config(super().get_config() | dict(
            units=self.units,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer)))
