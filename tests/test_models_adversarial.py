"""Adversarial losses against independent formulas."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.adversarial import (adversarial_loss, discriminator_loss,
                                        generator_loss)

LOGITS = np.random.default_rng(0).normal(size=(3, 4, 4, 1)).astype("float32")


def _mean(x):
    return x.reshape(len(x), -1).mean(1)


def _softplus(x):
    return np.log1p(np.exp(x))


@pytest.mark.parametrize("mode,real,fake,gen", [
    ("lsgan", lambda l: (l - 1) ** 2, lambda l: l ** 2, lambda l: (l - 1) ** 2),
    ("vanilla", lambda l: _softplus(-l), lambda l: _softplus(l),
     lambda l: _softplus(-l)),
    ("hinge", lambda l: np.maximum(0, 1 - l), lambda l: np.maximum(0, 1 + l),
     lambda l: -l),
])
def test_losses_match_formulas_per_example(mode, real, fake, gen):
    for target, formula in ((True, real), (False, fake)):
        out = adversarial_loss(mode, LOGITS, target).numpy()
        assert out.shape == (3,)
        np.testing.assert_allclose(out, _mean(formula(LOGITS)), rtol=1e-5)
    np.testing.assert_allclose(generator_loss(mode, LOGITS).numpy(),
                               _mean(gen(LOGITS)), rtol=1e-5, atol=1e-6)
    fake_logits = LOGITS[::-1]
    np.testing.assert_allclose(
        discriminator_loss(mode, LOGITS, fake_logits).numpy(),
        0.5 * (_mean(real(LOGITS)) + _mean(fake(fake_logits))), rtol=1e-5)


def test_vanilla_is_binary_cross_entropy_on_logits():
    bce = keras.losses.BinaryCrossentropy(from_logits=True, reduction=None)
    expected = bce(np.ones_like(LOGITS), LOGITS).numpy().reshape(3, -1).mean(1)
    np.testing.assert_allclose(adversarial_loss("vanilla", LOGITS, True),
                               expected, rtol=1e-5)


def test_multi_scale_logits_sum_their_means():
    small = LOGITS[:, :2, :2]
    out = adversarial_loss("lsgan", [LOGITS, small], True).numpy()
    np.testing.assert_allclose(out, _mean((LOGITS - 1) ** 2)
                               + _mean((small - 1) ** 2), rtol=1e-5)


def test_discriminator_loss_is_lower_when_it_separates():
    good = discriminator_loss("vanilla", tf.fill((2, 3, 3, 1), 5.0),
                              tf.fill((2, 3, 3, 1), -5.0))
    bad = discriminator_loss("vanilla", tf.fill((2, 3, 3, 1), -5.0),
                             tf.fill((2, 3, 3, 1), 5.0))
    assert np.all(good.numpy() < 0.01) and np.all(bad.numpy() > 4.0)


def test_unknown_mode_lists_choices():
    with pytest.raises(ValueError, match="lsgan, vanilla, hinge"):
        generator_loss("wgan", LOGITS)
