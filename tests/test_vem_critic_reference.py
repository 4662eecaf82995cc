"""EnergyCritic against an independent NumPy implementation of the authors'
ResNet EBM, written from SPEC §5 (no TensorFlow in the reference path)."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.vem import EnergyCritic
from itgc_tf.vem.critic import POOL_AS_CONV_MAX_CHANNELS, avg_pool_half
from itgc_tf.vem.spectral_norm import SNConv2D, SNDense
from numpy_reference import numpy_valid_conv

SLOPE = 0.01  # PyTorch's LeakyReLU default


def _normalize(x):
    return x / (np.linalg.norm(x) + 1e-12)


def _np_spectral_kernel(kernel, u, v, bounded, training):
    """W / sigma (or W / max(sigma, 1)); sigma from one power step on [out, n] when training."""
    w = kernel.reshape(-1, kernel.shape[-1]).T.astype(np.float64)  # PyTorch layout [out, n]
    u, v = u.astype(np.float64), v.astype(np.float64)
    if training:
        v = _normalize(u @ w)
        u = _normalize(v @ w.T)
    sigma = u @ w @ v
    return kernel.astype(np.float64) / (max(sigma, 1.0) if bounded else sigma), sigma


def _np_conv3x3(x, kernel, bias):
    """Cross-correlation, stride 1, zero padding 1. x [B, H, W, C], kernel [3, 3, C, D]."""
    return numpy_valid_conv(np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0))), kernel) + bias


def _np_pool_half(x):
    """3x3 average pool, stride 2, zero padding 1 counted in the mean."""
    h, w = x.shape[1:3]
    ho, wo = (h - 1) // 2 + 1, (w - 1) // 2 + 1
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    return sum(padded[:, i:i + 2 * ho - 1:2, j:j + 2 * wo - 1:2]
               for i in range(3) for j in range(3)) / 9.0


def _np_pool2(x):
    b, h, w, c = x.shape
    x = x[:, :h // 2 * 2, :w // 2 * 2]
    return x.reshape(b, h // 2, 2, w // 2, 2, c).mean(axis=(2, 4))


def _leaky(x):
    return np.where(x > 0, x, SLOPE * x)


def _weights(layer):
    return {name: getattr(layer, name).numpy() for name in ("kernel", "bias", "u", "v")}


def np_resnet_ebm(params, t, s, training):
    """Energies [B, 1] of the reference network; params: per-layer weight dicts."""
    sigmas = []

    def sn_conv(p, x, bounded=False):
        kernel, sigma = _np_spectral_kernel(p["kernel"], p["u"], p["v"], bounded, training)
        sigmas.append((bounded, sigma))
        return _np_conv3x3(x, kernel, p["bias"])

    x = np.concatenate([_np_pool_half(t), _np_pool_half(s)], axis=-1).astype(np.float64)
    h = _leaky(sn_conv(params["stem"], x))
    for block in params["blocks"]:
        branch = sn_conv(block["conv2"], _leaky(sn_conv(block["conv1"], h)), bounded=True)
        skip = sn_conv(block["shortcut"], h) if "shortcut" in block else h
        h = _leaky(_np_pool2(skip + branch))
    features = np.maximum(h, 0).mean(axis=(1, 2))
    kernel, _ = _np_spectral_kernel(params["head"]["kernel"], params["head"]["u"],
                                    params["head"]["v"], False, training)
    return features @ kernel + params["head"]["bias"], sigmas


def _params(critic):
    blocks = []
    for block in critic.blocks:
        entry = {"conv1": _weights(block.conv1), "conv2": _weights(block.conv2)}
        if block.shortcut is not None:
            entry["shortcut"] = _weights(block.shortcut)
        blocks.append(entry)
    return {"stem": _weights(critic.stem), "blocks": blocks, "head": _weights(critic.head)}


def _perturbed_critic(base_width, n_blocks, size, seed):
    """A critic whose bounded convs have spectral norms both above and below 1."""
    critic = EnergyCritic(base_width=base_width, n_blocks=n_blocks)
    rng = np.random.default_rng(seed)
    t = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    s = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    critic((t, s))
    for i, block in enumerate(critic.blocks):  # even blocks: sigma >> 1; odd: << 1
        scale = 0.5 if i % 2 == 0 else 0.002
        block.conv2.kernel.assign(rng.normal(0, scale, block.conv2.kernel.shape))
    for layer in critic._flatten_layers():
        if isinstance(layer, (SNConv2D, SNDense)):
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape))
    for _ in range(8):  # let (u, v) follow the new kernels
        critic((t, s), training=True)
    return critic, t, s


@pytest.mark.parametrize("base_width,n_blocks,size", [(16, 7, 256), (8, 3, 40), (8, 2, 27)])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("graph", [False, True])
def test_energies_equal_an_independent_numpy_reference(base_width, n_blocks, size, training,
                                                       graph):
    """Eagerly and in a tf.function (where grappler's fusions apply: one of TF 2.21's
    gave the stem a LeakyReLU slope of 0.2 instead of 0.01)."""
    critic, t, s = _perturbed_critic(base_width, n_blocks, size, seed=size)
    params = _params(critic)  # before the call: a training call refines (u, v)
    expected, sigmas = np_resnet_ebm(params, t, s, training)
    call = tf.function(critic) if graph else critic
    energies = call((t, s), training=training).numpy()
    bounded = [sigma for is_bounded, sigma in sigmas if is_bounded]
    assert min(bounded) < 1 < max(bounded)  # both sides of the bound are exercised
    scale = np.abs(expected).max()
    assert scale > 1e-3
    np.testing.assert_allclose(energies, expected, rtol=1e-5, atol=1e-5 * scale)


def test_training_call_stores_the_refined_power_iteration_pair():
    critic, t, s = _perturbed_critic(8, 3, 40, seed=3)
    before = _params(critic)
    critic((t, s), training=True)
    p = before["stem"]
    w = p["kernel"].reshape(-1, p["kernel"].shape[-1]).T.astype(np.float64)
    v = _normalize(p["u"] @ w)
    np.testing.assert_allclose(critic.stem.v.numpy(), v, atol=1e-6)
    np.testing.assert_allclose(critic.stem.u.numpy(), _normalize(v @ w.T), atol=1e-6)


@pytest.mark.parametrize("channels", [3, 8])  # a box convolution; the pool
@pytest.mark.parametrize("height,width", [(10, 9), (7, 12)])
def test_avg_pool_half_equals_numpy(channels, height, width):
    assert (channels <= POOL_AS_CONV_MAX_CHANNELS) == (channels == 3)
    x = np.random.default_rng(channels).normal(size=(2, height, width, channels))
    np.testing.assert_allclose(avg_pool_half(tf.constant(x, tf.float32)).numpy(),
                               _np_pool_half(x), atol=1e-6)
