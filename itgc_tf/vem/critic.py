"""The variational distribution q(t|s) = exp(-E(t, s)) / Z(s) as energy networks.

A critic is a Keras model called as ``critic((t, s), training=...)`` that returns
one energy per example, shape [B, 1], always in float32 (even under a mixed
precision policy: energies and the Langevin update stay float32). Critics split
the computation into ``condition(s)`` (work that does not depend on t, done once per
Langevin chain: for `EnergyCritic` the pooled s and every spectrally normalised
kernel) and ``energy_given(t, cond)``.
"""
import keras
import tensorflow as tf

from itgc_tf.models.layers import leaky_relu
from itgc_tf.vem.spectral_norm import SNConv2D, SNDense


class Critic(keras.Model):
    """Base class: ``call((t, s))`` = ``energy_given(t, condition(s))`` -> [B, 1] float32.

    Sub-layers must be created with ``dtype=self.dtype_policy`` (float32 unless asked
    otherwise), so a global mixed-precision policy never reaches the energies.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)

    def condition(self, s, training=False):
        """Work shared by every energy evaluation of one chain (anything not depending
        on t; a tensor or a nest of tensors). Default: s as float32."""
        return tf.cast(s, tf.float32)

    def energy_given(self, t, cond, training=False):
        raise NotImplementedError

    def call(self, inputs, training=False):
        t, s = inputs
        return self.energy_given(t, self.condition(s, training), training)


# Most channels for which `avg_pool_half` runs as a convolution with a block-diagonal
# box kernel (9 C^2 MACs per output): for images its gradient is 1.7-3.3x faster than
# AvgPoolGrad's (256², batch 1-4); for wide feature maps the pool is cheaper.
POOL_AS_CONV_MAX_CHANNELS = 4


def avg_pool_half(x):
    """3x3 average pool, stride 2, zero padding 1, padding counted in the mean
    (PyTorch ``AvgPool2d(3, 2, 1)``). [B, H, W, C] -> [B, ceil(H/2), ceil(W/2), C]."""
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]])
    channels = x.shape[-1]
    if channels is not None and channels <= POOL_AS_CONV_MAX_CHANNELS:
        box = tf.eye(channels)[tf.newaxis, tf.newaxis] * tf.fill([3, 3, 1, 1], 1 / 9)
        return tf.nn.conv2d(x, tf.cast(box, x.dtype), strides=2, padding="VALID")
    return tf.nn.avg_pool2d(x, ksize=3, strides=2, padding="VALID")


def pooled_conv_kernel(kernel):
    """The 2x2 average pool (stride 2) of a 3x3 convolution folded into its kernel: for
    [3, 3, C, D] ``kernel`` the [4, 4, C, D] K with conv(x, K, stride 2, zero padding 1)
    = avg_pool_2x2(conv(x, kernel, stride 1, SAME)) exactly (both are linear; the
    pooled outputs see only in-range or zero-padded inputs). 4/9 of the MACs, and no
    pooling pass forward or backward."""
    return 0.25 * sum(tf.pad(kernel, [[a, 1 - a], [b, 1 - b], [0, 0], [0, 0]])
                      for a in (0, 1) for b in (0, 1))


def _pooled_conv(x, kernel):
    """avg_pool_2x2(conv3x3(x)) given ``kernel`` = `pooled_conv_kernel` of the 3x3
    kernel (no bias). [B, H, W, C] -> [B, H // 2, W // 2, D]. Even static H, W: "SAME"
    (which pads 1 on each side there, and whose gradient runs oneDNN's kernel: ~1.2x
    faster than explicit padding's), else explicit padding."""
    even = all(size is not None and size % 2 == 0 for size in x.shape[1:3])
    padding = "SAME" if even else [[0, 0], [1, 1], [1, 1], [0, 0]]
    return tf.nn.conv2d(x, kernel, strides=2, padding=padding)


def _biased_leaky_relu(x, bias, leak):
    """LeakyReLU(x + bias), bias [C]. Biases are added after a sum of convolutions, never
    between a convolution and an addition: TF 2.21's oneDNN remapper fuses Conv2D +
    BiasAdd + Add + LeakyRelu into one op that applies slope 0.2 whatever the alpha
    (tests/test_vem_critic_reference.py compares graph-mode energies with NumPy)."""
    return leaky_relu(tf.nn.bias_add(x, bias), leak)


def _check_same_size(t, s, note=""):
    """Raise a clear error when t and s have different (known) spatial sizes."""
    a, b = t.shape[1:3], s.shape[1:3]
    if a.is_fully_defined() and b.is_fully_defined() and a != b:
        raise ValueError(
            f"EnergyCritic needs t and s of the same spatial size; got t {t.shape} and s "
            f"{s.shape}{' ' + note if note else ''}. Resize one of them (or tap feature maps of "
            "equal size) first.")


class _ResBlock(keras.layers.Layer):
    """out = LeakyReLU(AvgPool2x2(shortcut(h) + conv2(LeakyReLU(conv1(h))))).

    conv1: 3x3, c_in -> c_in; conv2: 3x3, c_in -> ``filters``, starts N(0, 1e-10) and
    is only bounded (W / max(sigma, 1)); shortcut: 3x3 conv c_in -> ``filters`` when
    the channel count changes, identity otherwise. [B, H, W, c_in] -> [B, H/2, W/2, filters].
    """

    def __init__(self, filters, leak, sigma_gradient=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.leak, self.sigma_gradient = filters, leak, sigma_gradient
        self.shortcut = None

    def build(self, input_shape):
        c_in, dtype, sn = input_shape[-1], self.dtype_policy, dict(sigma_gradient=self.sigma_gradient)
        self.conv1 = SNConv2D(c_in, 3, name="conv1", dtype=dtype, **sn)
        self.conv2 = SNConv2D(self.filters, 3, bounded=True, name="conv2", dtype=dtype,
                              kernel_initializer=keras.initializers.RandomNormal(stddev=1e-10),
                              **sn)
        self.conv1.build(input_shape)
        self.conv2.build(input_shape)
        if c_in != self.filters:
            self.shortcut = SNConv2D(self.filters, 3, name="shortcut", dtype=dtype, **sn)
            self.shortcut.build(input_shape)

    def sn_layers(self):
        """{name: SN conv} of this block."""
        convs = dict(conv1=self.conv1, conv2=self.conv2, shortcut=self.shortcut)
        return {name: conv for name, conv in convs.items() if conv is not None}

    def kernels(self, training=False):
        """{name: kernel} for `call`: conv1's normalized kernel; conv2's and the
        shortcut's with the block's average pool folded in (`pooled_conv_kernel`)."""
        return {name: conv.normalized_kernel(training) if name == "conv1"
                else pooled_conv_kernel(conv.normalized_kernel(training))
                for name, conv in self.sn_layers().items()}

    def call(self, h, kernels, training=False):
        """kernels: `kernels` (per chain: `EnergyCritic.kernels`). The pool distributes
        over the sum: pool(skip + branch) = pool(skip) + pool(branch), each pooled
        convolution run as one stride-2 convolution."""
        branch = _pooled_conv(leaky_relu(self.conv1(h, kernels["conv1"]), self.leak),
                              kernels["conv2"])
        if self.shortcut is not None:
            skip, bias = _pooled_conv(h, kernels["shortcut"]), self.conv2.bias + self.shortcut.bias
        else:
            skip, bias = tf.nn.avg_pool2d(h, ksize=2, strides=2, padding="VALID"), self.conv2.bias
        return _biased_leaky_relu(skip + branch, bias, self.leak)


@keras.saving.register_keras_serializable(package="itgc_tf")
class EnergyCritic(Critic):
    """The reference "ResNet EBM" over the channel concatenation of t and s.

    Inputs t [B, H, W, t_channels] and s [B, H, W, s_channels] (images in [-1, 1]
    or feature maps); with ``pool_inputs`` each is first average-pooled to half
    size (3x3, stride 2, pad 1). Then: 3x3 stem conv to ``base_width // 2``
    channels + LeakyReLU; ``n_blocks`` residual blocks (see ``_ResBlock``), each
    halving the spatial size, channels doubling in the first ``doublings`` blocks;
    ReLU, global average pool, linear -> energy [B, 1]. Every conv and the linear
    layer is spectrally normalised (sigma without gradient unless
    ``sigma_gradient``); every LeakyReLU has slope ``leak`` (0.01, PyTorch's
    default, as the reference). Convs start N(0, 1) with zero bias (each block's
    second conv N(0, 1e-10), only bounded); the head as PyTorch's ``nn.Linear``.
    Defaults (base_width 16, 7 blocks) are the reference's ``ResnetEBM(input_nc=16,
    n_blocks=7)``: 107,473 trainable parameters; they need inputs of at least
    255x255. The authors' paired Pix2Pix distiller uses base_width 64.
    """

    def __init__(self, t_channels=3, s_channels=3, base_width=16, n_blocks=7, doublings=2,
                 leak=0.01, pool_inputs=True, sigma_gradient=False, **kwargs):
        super().__init__(**kwargs)
        if base_width < 2 or base_width % 2:
            raise ValueError(f"base_width must be an even number >= 2, got {base_width}.")
        if n_blocks < 1:
            raise ValueError(f"n_blocks must be >= 1, got {n_blocks}.")
        self.t_channels, self.s_channels = t_channels, s_channels
        self.base_width, self.n_blocks, self.doublings = base_width, n_blocks, doublings
        self.leak, self.pool_inputs, self.sigma_gradient = leak, pool_inputs, sigma_gradient
        width, dtype, sn = base_width // 2, self.dtype_policy, dict(sigma_gradient=sigma_gradient)
        # Built here (every shape is known), so `kernels` exists before the first call;
        # in the critic's name scope, as Keras would on the first call.
        with keras.name_scope(self.name):
            self.stem = SNConv2D(width, 3, name="stem", dtype=dtype, **sn)
            self.stem.build((None, None, None, t_channels + s_channels))
            self.blocks = []
            for i in range(n_blocks):
                c_in, width = width, width * 2 if i < doublings else width
                self.blocks.append(_ResBlock(width, leak, name=f"block_{i}", dtype=dtype, **sn))
                self.blocks[-1].build((None, None, None, c_in))
            self.head = SNDense(1, name="head", dtype=dtype, **sn)
            self.head.build((None, width))

    def min_input_size(self):
        """Smallest H and W the blocks accept (each block halves the size)."""
        pooled = 2 ** self.n_blocks
        return 2 * pooled - 1 if self.pool_inputs else pooled

    def _check_input(self, x, channels, what):
        shape = x.shape
        if shape.rank != 4 or (shape[-1] is not None and shape[-1] != channels):
            raise ValueError(
                f"EnergyCritic expects {what} of shape [B, H, W, {channels}], got {shape}. "
                f"Build the critic with {what[0]}_channels={shape[-1]} or pass the right tensor.")
        small = [d for d in shape[1:3] if d is not None and d < self.min_input_size()]
        if small:
            raise ValueError(
                f"EnergyCritic with n_blocks={self.n_blocks} needs inputs of at least "
                f"{self.min_input_size()}x{self.min_input_size()}, got {what} of shape {shape}. "
                f"Use fewer blocks (n_blocks <= {self.max_blocks_for(min(small))}) or larger inputs.")

    def max_blocks_for(self, size):
        """Largest n_blocks usable at spatial size ``size``."""
        pooled = -(-size // 2) if self.pool_inputs else size
        return max(pooled.bit_length() - 1, 0)

    def kernels(self, training=False):
        """Every spectrally normalised kernel, {"stem", "head": kernel, "block_i":
        {name: kernel}}: W / sigma per `SNConv2D.normalized_kernel` (a training call
        refines each layer's power iteration once), the blocks' in the form their
        call takes (`_ResBlock.kernels`)."""
        return dict(stem=self.stem.normalized_kernel(training),
                    head=self.head.normalized_kernel(training),
                    **{block.name: block.kernels(training) for block in self.blocks})

    def condition(self, s, training=False):
        """{"s_stem": the stem conv's s half [B, H', W', base_width // 2] (s pooled first
        with ``pool_inputs``), "kernels": `kernels`}: constant along a Langevin chain, so
        computed once for it (the stem conv is linear in its input channels:
        stem(concat(t, s)) = conv(t, W_t) + conv(s, W_s) + b)."""
        s = tf.cast(s, tf.float32)
        self._check_input(s, self.s_channels, "s")
        s = avg_pool_half(s) if self.pool_inputs else s
        kernels = self.kernels(training)
        w_s = kernels["stem"][:, :, self.t_channels:, :]
        return dict(s_stem=tf.nn.conv2d(s, w_s, 1, "SAME"), kernels=kernels)

    def energy_given(self, t, cond, training=False):
        del training  # the kernels in cond carry the training-time power iteration
        t = tf.cast(t, tf.float32)
        self._check_input(t, self.t_channels, "t")
        t = avg_pool_half(t) if self.pool_inputs else t
        kernels = cond["kernels"]
        _check_same_size(t, cond["s_stem"], "after pooling" if self.pool_inputs else "")
        w_t = kernels["stem"][:, :, :self.t_channels, :]
        h = _biased_leaky_relu(tf.nn.conv2d(t, w_t, 1, "SAME") + cond["s_stem"], self.stem.bias,
                               self.leak)
        for block in self.blocks:
            h = block(h, kernels[block.name])
        h = tf.reduce_mean(tf.nn.relu(h), axis=[1, 2])
        return self.head(h, kernels["head"])

    def call(self, inputs, training=False):
        t, s = inputs
        _check_same_size(t, s)
        return super().call(inputs, training)

    def get_config(self):
        return super().get_config() | dict(
            t_channels=self.t_channels, s_channels=self.s_channels, base_width=self.base_width,
            n_blocks=self.n_blocks, doublings=self.doublings, leak=self.leak,
            pool_inputs=self.pool_inputs, sigma_gradient=self.sigma_gradient)


@keras.saving.register_keras_serializable(package="itgc_tf")
class MLPEnergyCritic(Critic):
    """Energy over low-dimensional vectors: MLP on concat(t, s).

    t [B, Dt], s [B, Ds] -> energy [B, 1]. Used for the exact-bound check on
    scalar Gaussians and for vector features.
    """

    def __init__(self, hidden=(64, 64), activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.hidden, self.activation = tuple(hidden), activation
        self.layers_ = [keras.layers.Dense(h, activation=activation, name=f"dense_{i}",
                                           dtype=self.dtype_policy)
                        for i, h in enumerate(self.hidden)]
        self.out = keras.layers.Dense(1, name="energy", dtype=self.dtype_policy)

    def energy_given(self, t, cond, training=False):
        h = tf.concat([tf.cast(t, tf.float32), cond], axis=-1)
        for layer in self.layers_:
            h = layer(h)
        return self.out(h)

    def get_config(self):
        return super().get_config() | dict(hidden=self.hidden, activation=self.activation)
