import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.vem import EnergyCritic, ebm_loss
from itgc_tf.vem.spectral_norm import SNConv2D, SNDense


def _pair(batch, size, ct=3, cs=3):
    return (tf.random.uniform([batch, size, size, ct], -1, 1, seed=1),
            tf.random.uniform([batch, size, size, cs], -1, 1, seed=2))


@pytest.mark.parametrize("batch,size,ct,cs,blocks", [
    (2, 16, 3, 3, 3), (3, 32, 1, 3, 4), (1, 20, 8, 4, 2), (2, 17, 3, 3, 3)])
def test_one_energy_per_example(batch, size, ct, cs, blocks):
    critic = EnergyCritic(t_channels=ct, s_channels=cs, base_width=8, n_blocks=blocks)
    energy = critic(_pair(batch, size, ct, cs))
    assert energy.shape == (batch, 1)
    assert energy.dtype == tf.float32


def _reference_parameter_count(input_nc, n_blocks=7):
    """Trainable parameters of the authors' ResnetEBM, counted from SPEC §5."""
    conv = lambda c_in, c_out: 9 * c_in * c_out + c_out  # noqa: E731
    width = input_nc // 2
    total = conv(6, width)
    for i in range(n_blocks):
        c_out = 2 * width if i < 2 else width
        total += conv(width, width) + conv(width, c_out) + (conv(width, c_out) if c_out != width else 0)
        width = c_out
    return total + width + 1


def test_reference_critic_has_the_authors_parameter_count():
    for width, expected in ((16, 107_473), (64, _reference_parameter_count(64))):
        critic = EnergyCritic(base_width=width)
        critic(_pair(1, 256))
        assert sum(int(np.prod(v.shape)) for v in critic.trainable_variables) == expected
    assert _reference_parameter_count(16) == 107_473


def test_reference_layer_shapes():
    """SPEC §5: input_nc 16, 7 blocks, channels 8 -> 16 -> 32 then constant; conv1
    keeps c_in, conv2 maps c_in -> c_out, a shortcut conv only where channels change."""
    critic = EnergyCritic(name="energy_critic")
    critic(_pair(1, 256))
    kernels = {v.path: tuple(v.shape) for v in critic.weights if v.name == "kernel"}
    assert kernels.pop("energy_critic/stem/kernel") == (3, 3, 6, 8)
    assert kernels.pop("energy_critic/block_0/conv1/kernel") == (3, 3, 8, 8)
    assert kernels.pop("energy_critic/block_0/conv2/kernel") == (3, 3, 8, 16)
    assert kernels.pop("energy_critic/block_0/shortcut/kernel") == (3, 3, 8, 16)
    assert kernels.pop("energy_critic/block_1/conv1/kernel") == (3, 3, 16, 16)
    assert kernels.pop("energy_critic/block_1/conv2/kernel") == (3, 3, 16, 32)
    assert kernels.pop("energy_critic/block_1/shortcut/kernel") == (3, 3, 16, 32)
    assert kernels.pop("energy_critic/head/kernel") == (32, 1)
    for i in range(2, 7):
        assert kernels.pop(f"energy_critic/block_{i}/conv1/kernel") == (3, 3, 32, 32)
        assert kernels.pop(f"energy_critic/block_{i}/conv2/kernel") == (3, 3, 32, 32)
    assert not kernels


def test_reference_initialisation():
    """Convs N(0, 1) with zero bias, conv2 N(0, 1e-10), head uniform +-1/sqrt(fan_in)."""
    critic = EnergyCritic()
    critic(_pair(1, 256))
    convs = [critic.stem] + [b.conv1 for b in critic.blocks] + \
        [b.shortcut for b in critic.blocks if b.shortcut is not None]
    kernels = np.concatenate([layer.kernel.numpy().ravel() for layer in convs])
    assert np.std(kernels) == pytest.approx(1.0, abs=0.02)
    assert abs(np.mean(kernels)) < 0.02
    small = np.concatenate([b.conv2.kernel.numpy().ravel() for b in critic.blocks])
    assert np.std(small) == pytest.approx(1e-10, rel=0.05)
    for layer in convs + [b.conv2 for b in critic.blocks]:
        assert not np.any(layer.bias.numpy())
    bound = 1 / np.sqrt(32)
    head = np.concatenate([critic.head.kernel.numpy().ravel(), critic.head.bias.numpy()])
    assert np.all(np.abs(head) <= bound) and np.std(head) > bound / 4


def test_too_small_or_mismatched_inputs_are_named():
    critic = EnergyCritic(base_width=8, n_blocks=4)
    with pytest.raises(ValueError, match=r"at least 31x31.*n_blocks <= 3"):
        critic(_pair(1, 16))
    t, _ = _pair(1, 32)
    _, s = _pair(1, 64)
    with pytest.raises(ValueError, match=r"same spatial size.*\(1, 32, 32, 3\).*\(1, 64, 64, 3\)"):
        critic((t, s))
    with pytest.raises(ValueError, match="s_channels=1"):
        critic((t, tf.zeros([1, 32, 32, 1])))


def _true_spectral_norm(layer):
    w = layer.normalized_kernel().numpy()
    return np.linalg.svd(w.reshape(-1, w.shape[-1]), compute_uv=False)[0]


def test_spectral_norms_after_training():
    critic = EnergyCritic(base_width=8, n_blocks=2)
    optimizer = keras.optimizers.Adam(1e-4, beta_1=0.0)
    t, s = _pair(4, 16)
    for _ in range(5):  # u, v start exact; one power step per training call tracks W
        with tf.GradientTape() as tape:
            e_pos = critic((t, s), training=True)
            e_neg = critic((tf.zeros_like(t), s), training=True)
            loss = ebm_loss(e_pos, e_neg, 0.1)
        optimizer.apply(tape.gradient(loss, critic.trainable_variables),
                        critic.trainable_variables)
    critic((t, s), training=True)  # the next step's forward pass: (u, v) follow the new W
    forced = [critic.stem, critic.head] + [b.conv1 for b in critic.blocks] + \
             [b.shortcut for b in critic.blocks]
    for layer in forced:
        assert _true_spectral_norm(layer) == pytest.approx(1.0, abs=0.02), layer.path
    for block in critic.blocks:
        assert _true_spectral_norm(block.conv2) <= 1.0 + 1e-4
    # A bounded layer with large weights is scaled down to norm 1.
    big = SNDense(4, bounded=True, power_iterations=20)
    big(tf.zeros([1, 5]), training=True)
    big.kernel.assign(10 * tf.eye(5, 4))
    big(tf.zeros([1, 5]), training=True)
    assert _true_spectral_norm(big) == pytest.approx(1.0, abs=1e-4)


def test_sn_conv_matches_keras_conv_with_the_normalized_kernel():
    layer = SNConv2D(5, 3, power_iterations=3)
    x = tf.random.normal([2, 8, 8, 4])
    y = layer(x, training=True)
    reference = keras.layers.Conv2D(5, 3, padding="same")
    reference.build(x.shape)
    reference.set_weights([layer.normalized_kernel().numpy(), layer.bias.numpy()])
    np.testing.assert_allclose(y, reference(x), atol=1e-5)


def test_save_and_reload_preserves_energies(tmp_path):
    critic = EnergyCritic(t_channels=3, s_channels=1, base_width=8, n_blocks=2)
    t, s = _pair(2, 16, 3, 1)
    critic((t, s), training=True)
    for v in critic.trainable_variables:
        v.assign(tf.random.normal(v.shape, stddev=0.2))
    expected = critic((t, s))
    path = str(tmp_path / "critic.keras")
    critic.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_allclose(restored((t, s)), expected, rtol=1e-5, atol=1e-6)
    assert restored.get_config()["s_channels"] == 1


def test_energies_stay_float32_under_a_mixed_precision_policy():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        critic = EnergyCritic(base_width=8, n_blocks=2)
        energy = critic((tf.zeros([1, 16, 16, 3], tf.float16), tf.zeros([1, 16, 16, 3], tf.float16)))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert energy.dtype == tf.float32
    assert {v.dtype for v in critic.weights} == {"float32"}
    assert {layer.compute_dtype for layer in [critic.stem, critic.head, *critic.blocks]} == {
        "float32"}


@pytest.mark.parametrize("scale,bounded", [(3.0, False), (3.0, True), (0.05, True)])
def test_spectral_norm_gradient_holds_sigma_constant(scale, bounded):
    """The reference computes sigma from W.data: d/dW <g, x W/sigma'> = x^T g / sigma',
    sigma' = sigma (forced) or max(sigma, 1) (bounded), with no term through sigma."""
    rng = np.random.default_rng(0)
    layer = SNDense(4, bounded=bounded)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    g = rng.normal(size=(6, 4)).astype(np.float32)
    layer(x)
    layer.kernel.assign(scale * rng.normal(size=(5, 4)))
    for _ in range(30):
        layer(x, training=True)  # converge (u, v) to the new kernel
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * g)
    grad = tape.gradient(loss, layer.kernel).numpy()
    sigma = np.linalg.svd(layer.kernel.numpy(), compute_uv=False)[0]
    divisor = max(sigma, 1.0) if bounded else sigma
    assert (sigma > 1) == (scale > 1)
    np.testing.assert_allclose(grad, x.T @ g / divisor, rtol=1e-4, atol=1e-6)


def test_sigma_gradient_option_differentiates_through_sigma():
    """sigma_gradient=True (Miyato et al.): sigma = v^T W u carries gradient, so
    d/dW <g, x W/sigma> = G/sigma - <G, W>/sigma^2 v u^T with G = x^T g."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 5)).astype(np.float32)
    g = rng.normal(size=(6, 4)).astype(np.float32)
    layer = SNDense(4, sigma_gradient=True)
    layer(x)
    layer.kernel.assign(rng.normal(size=(5, 4)))
    for _ in range(3):
        layer(x, training=True)
    w, u, v = layer.kernel.numpy(), layer.u.numpy(), layer.v.numpy()
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x) * g)
    sigma = v @ w @ u
    big_g = x.T @ g
    expected = big_g / sigma - np.sum(big_g * w) / sigma ** 2 * np.outer(v, u)
    np.testing.assert_allclose(tape.gradient(loss, layer.kernel).numpy(), expected,
                               rtol=1e-4, atol=1e-6)
    assert np.abs(expected - big_g / sigma).max() > 1e-2  # the sigma term is not negligible
