"""PatchGAN, multi-scale PatchGAN and PixelGAN: output sizes as the PyTorch
originals, 70×70 receptive field, spectral norm, affine instance norms."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.config import DiscriminatorConfig
from itgc_tf.models.discriminators import (multi_scale_discriminator,
                                           n_layer_discriminator,
                                           pixel_discriminator)
from itgc_tf.models.registry import build_discriminator


def _torch_conv_size(size, stride, k=4, pad=1):
    return (size + 2 * pad - k) // stride + 1


@pytest.mark.parametrize("size", [32, 37, 64])
@pytest.mark.parametrize("n_layers", [1, 2, 3])
def test_patchgan_output_size_matches_pytorch_formula(size, n_layers):
    model = n_layer_discriminator(3, ndf=2, n_layers=n_layers)
    expected = size
    for n in range(n_layers + 2):  # n_layers-1 stride-2 convs after the first
        expected = _torch_conv_size(expected, 2 if n < n_layers else 1)
    out = model(tf.zeros((1, size, size, 3)))
    assert out.shape == (1, expected, expected, 1)


@pytest.mark.parametrize("n_layers,field", [(1, 16), (2, 34), (3, 70)])
def test_patchgan_receptive_field(n_layers, field):
    """The input pixels one logit depends on span field×field (norm off, so
    positions are not coupled through instance statistics)."""
    model = n_layer_discriminator(1, ndf=2, n_layers=n_layers, norm="none")
    x = tf.random.uniform((1, 96, 96, 1))
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x)
        centre = logits[0, logits.shape[1] // 2, logits.shape[2] // 2, 0]
    grad = tape.gradient(centre, x)[0, :, :, 0].numpy()
    rows = np.nonzero(np.abs(grad).sum(1))[0]
    cols = np.nonzero(np.abs(grad).sum(0))[0]
    assert rows[-1] - rows[0] + 1 == field
    assert cols[-1] - cols[0] + 1 == field


def test_multi_scale_returns_one_patch_map_per_scale():
    model = multi_scale_discriminator(6, ndf=2, n_layers=3, num_D=3)
    outs = model(tf.zeros((2, 128, 128, 6)))
    assert [o.shape for o in outs] == [(2, 14, 14, 1), (2, 6, 6, 1),
                                       (2, 2, 2, 1)]


def test_multi_scale_second_scale_sees_average_pooled_image():
    """Scale 1 equals a single PatchGAN (same weights) on the pooled image."""
    model = multi_scale_discriminator(1, ndf=2, n_layers=1, num_D=2,
                                      norm="none")
    single = n_layer_discriminator(1, ndf=2, n_layers=1, norm="none")
    single.set_weights([w.numpy() for w in model.weights
                        if w.path.startswith("scale_1_")])
    x = tf.random.uniform((1, 16, 16, 1))
    padded = tf.pad(x, [[0, 0], [0, 1], [0, 1], [0, 0]])
    ones = tf.pad(tf.ones_like(x), [[0, 0], [0, 1], [0, 1], [0, 0]])
    pooled = (tf.nn.avg_pool2d(padded, 3, 2, "VALID")
              / tf.nn.avg_pool2d(ones, 3, 2, "VALID"))  # padding excluded
    np.testing.assert_allclose(model(x)[1].numpy(), single(pooled).numpy(),
                               atol=1e-6)


def test_pixel_discriminator_is_per_pixel():
    """Changing one pixel changes only its own logit (norm off: instance norm
    would couple the pixels)."""
    model = pixel_discriminator(3, ndf=4, norm="none")
    x = tf.random.uniform((1, 8, 8, 3))
    assert model(x).shape == (1, 8, 8, 1)
    y = x.numpy().copy()
    y[0, 3, 4] += 1.0
    diff = np.abs(model(y).numpy() - model(x).numpy())[0, :, :, 0]
    assert np.count_nonzero(diff) == 1 and diff[3, 4] > 0


def test_spectral_norm_bounds_the_kernels_after_a_training_call():
    model = n_layer_discriminator(3, ndf=4, n_layers=2, spectral_norm=True)
    x = tf.random.uniform((2, 32, 32, 3))
    for _ in range(20):  # power iterations converge over calls
        model(x, training=True)
    kernels = [w for w in model.weights if w.path.endswith("kernel")]
    assert len(kernels) == 4
    for kernel in kernels:
        matrix = tf.reshape(kernel, [-1, kernel.shape[-1]]).numpy()
        assert np.linalg.norm(matrix, 2) == pytest.approx(1.0, rel=0.05)


@pytest.mark.parametrize("build,smallest", [
    (lambda: n_layer_discriminator(3, ndf=2, n_layers=3), 24),
    (lambda: n_layer_discriminator(3, ndf=2, n_layers=2), 12),
    (lambda: multi_scale_discriminator(3, ndf=2, n_layers=3, num_D=2), 47),
])
def test_too_small_inputs_are_reported(build, smallest):
    model = build()
    outs = model(tf.zeros((1, smallest, smallest, 3)))
    assert all(o.shape[1] >= 1 for o in tf.nest.flatten(outs))
    with pytest.raises(ValueError, match=f"at least {smallest}, got "
                                         f"{smallest - 1}x{smallest - 1}"):
        model(tf.zeros((1, smallest - 1, smallest - 1, 3)))


@pytest.mark.parametrize("build", [
    lambda: n_layer_discriminator(3, n_layers=0),
    lambda: multi_scale_discriminator(3, num_D=0),
])
def test_invalid_depths_are_reported(build):
    with pytest.raises(ValueError, match="must be >= 1"):
        build()


def _norm_weights(model, which):
    return [w for w in model.weights if w.path.split("/")[-1] == which]


@pytest.mark.parametrize("name,norms", [("n_layers", 2), ("multi_scale", 4), ("pixel", 1)])
def test_norm_affine_adds_trainable_gamma_and_beta_exactly_when_set(name, norms):
    plain = build_discriminator(name, 6, ndf=4, n_layers=2, num_D=2)
    affine = build_discriminator(name, 6, ndf=4, n_layers=2, num_D=2, norm_affine=True)
    assert not _norm_weights(plain, "gamma") and not _norm_weights(plain, "beta")
    gammas, betas = _norm_weights(affine, "gamma"), _norm_weights(affine, "beta")
    assert len(gammas) == len(betas) == norms
    trainable = {id(w) for w in affine.trainable_weights}
    assert all(id(w) in trainable for w in gammas + betas)
    assert len(affine.trainable_weights) == len(plain.trainable_weights) + 2 * norms
    # One (γ, β) per channel of the conv each norm follows.
    convs = [w for w in affine.weights if w.path.endswith("kernel")]
    assert sorted(g.shape[0] for g in gammas) == sorted(
        k.shape[-1] for k in convs if k.shape[-1] in {g.shape[0] for g in gammas})


def test_affine_norms_start_as_the_plain_discriminator_and_their_offset_acts():
    plain = n_layer_discriminator(3, ndf=4, n_layers=2)
    affine = n_layer_discriminator(3, ndf=4, n_layers=2, norm_affine=True)
    for w in affine.weights:
        if w.path.endswith(("kernel", "bias")):
            w.assign(next(p for p in plain.weights if p.path == w.path))
    x = tf.random.uniform((2, 32, 32, 3), -1, 1, seed=3)
    np.testing.assert_allclose(affine(x), plain(x), atol=1e-6)
    # γ = 0 on the last norm makes its output β alone: the logits stop depending on x.
    _norm_weights(affine, "gamma")[-1].assign(tf.zeros_like(_norm_weights(affine, "gamma")[-1]))
    _norm_weights(affine, "beta")[-1].assign(tf.fill(_norm_weights(affine, "beta")[-1].shape, 0.3))
    y = tf.random.uniform((2, 32, 32, 3), -1, 1, seed=4)
    np.testing.assert_allclose(affine(x), affine(y), atol=1e-6)
    assert np.abs(plain(x) - plain(y)).max() > 1e-3


@pytest.mark.parametrize("norm", ["batch", "none"])
def test_norm_affine_without_instance_norm_is_refused_with_its_fix(norm):
    with pytest.raises(ValueError, match="instance norm only.*Fix: drop --norm_affine_D"):
        build_discriminator("n_layers", 3, ndf=4, norm=norm, norm_affine=True)


def test_discriminator_config_norm_affine_d_reaches_the_network():
    assert _norm_weights(DiscriminatorConfig(norm_affine_D=True, n_layers_D=2, ndf=4).build(3),
                         "gamma")
    assert not _norm_weights(DiscriminatorConfig(n_layers_D=2, ndf=4).build(3), "gamma")
