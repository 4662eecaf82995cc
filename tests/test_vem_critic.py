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


def test_reference_layer_shapes():
    """SPEC §5: input_nc 16, 7 blocks, channels 8 -> 16 -> 32 then constant."""
    critic = EnergyCritic(name="energy_critic")
    critic(_pair(1, 256))
    kernels = {v.path: tuple(v.shape) for v in critic.weights if v.name == "kernel"}
    assert kernels.pop("energy_critic/stem/kernel") == (3, 3, 6, 8)
    assert kernels.pop("energy_critic/block_0/conv1/kernel") == (3, 3, 8, 16)
    assert kernels.pop("energy_critic/block_0/conv2/kernel") == (3, 3, 16, 16)
    assert kernels.pop("energy_critic/block_0/shortcut/kernel") == (3, 3, 8, 16)
    assert kernels.pop("energy_critic/block_1/conv1/kernel") == (3, 3, 16, 32)
    assert kernels.pop("energy_critic/block_1/shortcut/kernel") == (3, 3, 16, 32)
    assert kernels.pop("energy_critic/head/kernel") == (32, 1)
    for i in range(2, 7):
        assert kernels.pop(f"energy_critic/block_{i}/conv1/kernel") == (3, 3, 32, 32)
    assert list(kernels.values()) == [(3, 3, 32, 32)] * 6  # conv2 of blocks 1..6
    for block in critic.blocks:  # residual branches start near zero
        assert float(tf.reduce_max(tf.abs(block.conv2.kernel))) < 1e-8


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
