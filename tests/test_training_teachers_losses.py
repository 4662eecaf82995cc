"""Teacher loss functions against independent numpy computations, with stub
networks whose outputs are known."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.training.teacher_losses import (cyclegan_discriminator_losses,
                                             cyclegan_generator_losses,
                                             l1_per_example,
                                             pix2pix_discriminator_losses,
                                             pix2pix_generator_losses)

RNG = np.random.default_rng(0)
A, B, FAKE = (RNG.uniform(-1, 1, (3, 4, 4, 2)).astype("float32")
              for _ in range(3))


def channel_mean_d(x, training=True):
    """Stub discriminator: logits = channel mean, [B, H, W, 1]."""
    return tf.reduce_mean(x, -1, keepdims=True)


def negate(x, training=True):
    return -x


def identity(x, training=True):
    return x


def _mean(x):
    return x.reshape(len(x), -1).mean(1)


def _lsgan(logits, real):
    return _mean((logits - float(real)) ** 2)


def test_l1_per_example():
    np.testing.assert_allclose(l1_per_example(A, B), _mean(np.abs(A - B)),
                               rtol=1e-6)


def test_pix2pix_generator_losses():
    losses = pix2pix_generator_losses(channel_mean_d, A, B, FAKE, "lsgan",
                                      lambda_l1=7.0)
    logits = np.concatenate([A, FAKE], -1).mean(-1)
    np.testing.assert_allclose(losses["g_gan"], _lsgan(logits, True),
                               rtol=1e-5)
    np.testing.assert_allclose(losses["g_l1"], _mean(np.abs(FAKE - B)),
                               rtol=1e-5)
    np.testing.assert_allclose(losses["total"],
                               losses["g_gan"] + 7.0 * losses["g_l1"],
                               rtol=1e-6)


def test_pix2pix_discriminator_losses_and_constant_fake():
    fake = tf.constant(FAKE)
    with tf.GradientTape() as tape:
        tape.watch(fake)
        losses = pix2pix_discriminator_losses(channel_mean_d, A, B, fake,
                                              "lsgan")
    real_logits = np.concatenate([A, B], -1).mean(-1)
    fake_logits = np.concatenate([A, FAKE], -1).mean(-1)
    np.testing.assert_allclose(losses["d_real"], _lsgan(real_logits, True),
                               rtol=1e-5)
    np.testing.assert_allclose(losses["d_fake"], _lsgan(fake_logits, False),
                               rtol=1e-5)
    np.testing.assert_allclose(
        losses["total"], 0.5 * (losses["d_real"] + losses["d_fake"]),
        rtol=1e-6)
    assert tape.gradient(losses["total"], fake) is None


@pytest.mark.parametrize("lambda_identity", [0.5, 0.0])
def test_cyclegan_generator_losses(lambda_identity):
    """g_ab = g_ba = negation: cycles are exact, identity errors are 2|x|."""
    losses, fakes = cyclegan_generator_losses(
        negate, negate, channel_mean_d, channel_mean_d, A, B, "lsgan",
        lambda_cycle=10.0, lambda_identity=lambda_identity)
    np.testing.assert_allclose(fakes["fake_b"], -A)
    np.testing.assert_allclose(fakes["fake_a"], -B)
    np.testing.assert_allclose(losses["cycle_a"], 0.0, atol=1e-7)
    np.testing.assert_allclose(losses["cycle_b"], 0.0, atol=1e-7)
    gan_ab = _lsgan(-A.mean(-1), True)
    gan_ba = _lsgan(-B.mean(-1), True)
    np.testing.assert_allclose(losses["gan_ab"], gan_ab, rtol=1e-5)
    np.testing.assert_allclose(losses["gan_ba"], gan_ba, rtol=1e-5)
    expected = gan_ab + gan_ba
    if lambda_identity:
        np.testing.assert_allclose(losses["idt_ab"], _mean(2 * np.abs(B)),
                                   rtol=1e-5)
        np.testing.assert_allclose(losses["idt_ba"], _mean(2 * np.abs(A)),
                                   rtol=1e-5)
        expected = expected + 10.0 * lambda_identity * (
            _mean(2 * np.abs(B)) + _mean(2 * np.abs(A)))
    else:
        assert "idt_ab" not in losses and "idt_ba" not in losses
    np.testing.assert_allclose(losses["total"], expected, rtol=1e-5)


def test_cyclegan_cycle_terms_with_imperfect_inverse():
    halve = lambda x, training=True: 0.5 * x  # noqa: E731
    losses, _ = cyclegan_generator_losses(halve, identity, channel_mean_d,
                                          channel_mean_d, A, B,
                                          lambda_identity=0.0)
    np.testing.assert_allclose(losses["cycle_a"], _mean(np.abs(A) * 0.5),
                               rtol=1e-5)
    np.testing.assert_allclose(losses["cycle_b"], _mean(np.abs(B) * 0.5),
                               rtol=1e-5)


def test_cyclegan_discriminator_losses():
    losses = cyclegan_discriminator_losses(channel_mean_d, channel_mean_d,
                                           A, B, FAKE, -FAKE, "lsgan")
    d_a = 0.5 * (_lsgan(A.mean(-1), True) + _lsgan(FAKE.mean(-1), False))
    d_b = 0.5 * (_lsgan(B.mean(-1), True) + _lsgan(-FAKE.mean(-1), False))
    np.testing.assert_allclose(losses["d_a"], d_a, rtol=1e-5)
    np.testing.assert_allclose(losses["d_b"], d_b, rtol=1e-5)
    np.testing.assert_allclose(losses["total"], d_a + d_b, rtol=1e-5)
