"""Spectrally normalised convolution and dense layers, as in the VEM reference EBM.

Each layer keeps the raw weight (PyTorch's ``weight_orig``) as its trainable
``kernel`` and a power-iteration vector ``u`` (PyTorch's ``weight_u``). The
weight used in the forward pass is ``W / sigma`` (forced, spectral norm 1) or
``W / max(sigma, 1)`` (bounded: only scaled down), where ``sigma`` is the
power-iteration estimate of the largest singular value of ``W`` reshaped to
``[out, -1]``.

As in the VEM reference (its ``snlayer.py`` computes sigma from ``W.data``),
sigma is a constant for autodiff by default: the gradient of ``W / sigma`` is
``grad / sigma``, with no term through sigma. ``sigma_gradient=True`` gives the
form of Miyato et al. / PyTorch's ``spectral_norm`` instead, where sigma = u^T W v
carries gradient through ``W``.

``u`` is refined by one power step per training call and held fixed otherwise
(inference, Langevin sampling), so sampling never changes the critic. ``v``
(PyTorch's ``weight_v``) is kept as well so that inference reuses exactly the
last training estimate. ``(u, v)`` start as the exact top singular pair of the
initial kernel. The reference starts ``u`` at random but refines it on every
forward pass (K Langevin calls and the training passes, 12+ power steps per
iteration), so its estimate is converged after the first iteration; the exact
start gives that converged state from step one with one step per training call.

Keras's own ``SpectralNormalization`` wrapper cannot express the bounded
variant, keeps sigma's gradient and rewrites the kernel in place, so it is not
used here.
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

    def _init_sn(self, bounded, power_iterations, sigma_gradient):
        if power_iterations < 1:
            raise ValueError(f"power_iterations must be >= 1, got {power_iterations}.")
        self.bounded = bounded
        self.power_iterations = power_iterations
        self.sigma_gradient = sigma_gradient

    def _w_mat(self):
        kernel = tf.convert_to_tensor(self.kernel)
        return tf.reshape(kernel, [-1, kernel.shape[-1]])

    def _add_uv(self):
        """Create u [out] and v [n] as the exact top singular pair of the initial kernel.

        The pair is computed here and given as the variables' initial values (an
        ``assign`` would be lost when Keras builds the layer inside a stateless
        scope, e.g. on a model's first call).
        """
        with tf.init_scope():  # variables hold concrete values here, even while tracing
            left, _, right_t = np.linalg.svd(self._w_mat().numpy().astype(np.float64),
                                             full_matrices=False)

        def initial(vector):
            return lambda shape, dtype=None: tf.constant(vector.astype(np.float32), dtype)

        self.u = self.add_weight(name="u", shape=right_t[0].shape, trainable=False,
                                 initializer=initial(right_t[0]))
        self.v = self.add_weight(name="v", shape=left[:, 0].shape, trainable=False,
                                 initializer=initial(left[:, 0]))

    def sigma(self, training=False):
        """Power-iteration estimate u^T W v of the kernel's largest singular value.

        Training calls refine (u, v) by ``power_iterations`` steps and store them;
        other calls use the stored pair, so they reproduce the last training value.
        Without ``sigma_gradient`` the result is a constant for autodiff.
        """
        w_mat = self._w_mat()
        u, v = tf.convert_to_tensor(self.u), tf.convert_to_tensor(self.v)
        if training:
            for _ in range(self.power_iterations):
                u, v = _power_step(tf.stop_gradient(w_mat), u)
            self.u.assign(u)
            self.v.assign(v)
        u, v = tf.stop_gradient(u), tf.stop_gradient(v)
        if not self.sigma_gradient:
            w_mat = tf.stop_gradient(w_mat)
        return tf.tensordot(u, tf.linalg.matvec(w_mat, v, transpose_a=True), 1)

    def normalized_kernel(self, training=False):
        """The kernel actually used: W / sigma, or W / max(sigma, 1) when bounded."""
        sigma = self.sigma(training)
        if self.bounded:
            sigma = tf.maximum(sigma, 1.0)
        return self.kernel / sigma

    def _sn_config(self, config):
        config.update(bounded=self.bounded, power_iterations=self.power_iterations,
                      sigma_gradient=self.sigma_gradient)
        return config


@keras.saving.register_keras_serializable(package="itgc_tf")
class SNConv2D(_SpectralNormMixin, keras.layers.Layer):
    """Spectrally normalised 2-D convolution, stride 1, zero 'same' padding.

    Input [B, H, W, C_in] -> output [B, H, W, filters]. The kernel starts N(0, 1)
    and the bias at 0, as every conv of the reference EBM.
    """

    def __init__(self, filters, kernel_size=3, bounded=False, power_iterations=1,
                 kernel_initializer=None, use_bias=True, sigma_gradient=False, **kwargs):
        super().__init__(**kwargs)
        self._init_sn(bounded, power_iterations, sigma_gradient)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=1.0)
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

    def call(self, x, kernel=None, training=False):
        """``kernel``: the normalized kernel when computed already (default: computed
        here, `normalized_kernel`)."""
        kernel = self.normalized_kernel(training) if kernel is None else kernel
        y = tf.nn.conv2d(x, kernel, strides=1, padding="SAME")
        return tf.nn.bias_add(y, self.bias) if self.use_bias else y

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.filters)

    def get_config(self):
        return self._sn_config(super().get_config() | dict(
            filters=self.filters, kernel_size=self.kernel_size, use_bias=self.use_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer)))


@keras.saving.register_keras_serializable(package="itgc_tf")
class SNDense(_SpectralNormMixin, keras.layers.Layer):
    """Spectrally normalised dense layer. Input [..., C_in] -> [..., units].

    Default initialisation is PyTorch's ``nn.Linear``: kernel and bias uniform in
    +-1/sqrt(C_in) (the reference EBM's head keeps it).
    """

    def __init__(self, units, bounded=False, power_iterations=1, kernel_initializer=None,
                 sigma_gradient=False, **kwargs):
        super().__init__(**kwargs)
        self._init_sn(bounded, power_iterations, sigma_gradient)
        self.units = units
        self.kernel_initializer = (keras.initializers.get(kernel_initializer)
                                   if kernel_initializer is not None else None)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        def torch_default():
            return keras.initializers.RandomUniform(-fan_in ** -0.5, fan_in ** -0.5)

        self.kernel = self.add_weight(name="kernel", shape=(fan_in, self.units),
                                      initializer=self.kernel_initializer or torch_default())
        self.bias = self.add_weight(
            name="bias", shape=(self.units,),
            initializer="zeros" if self.kernel_initializer else torch_default())
        self._add_uv()

    def call(self, x, kernel=None, training=False):
        """``kernel``: as `SNConv2D.call`."""
        kernel = self.normalized_kernel(training) if kernel is None else kernel
        return tf.matmul(x, kernel) + self.bias

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        initializer = (keras.initializers.serialize(self.kernel_initializer)
                       if self.kernel_initializer is not None else None)
        return self._sn_config(super().get_config() | dict(
            units=self.units, kernel_initializer=initializer))
