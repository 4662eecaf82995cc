"""Pix2PixTeacher and CycleGANTeacher: they learn at toy size, follow the
originals' update order, track every loss, and report misuse clearly."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.discriminators import n_layer_discriminator
from itgc_tf.models.resnet import resnet_generator
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.teacher_losses import (pix2pix_discriminator_losses,
                                             pix2pix_generator_losses)
from itgc_tf.training.teachers import (CycleGANTeacher, Pix2PixTeacher,
                                       default_optimizer)


def blocky_images(n, size=16, seed=0):
    """Piecewise-constant images in [-1, 1]: [n, size, size, 3]."""
    coarse = np.random.default_rng(seed).uniform(-1, 1, (n, 4, 4, 3))
    return np.repeat(np.repeat(coarse, size // 4, 1), size // 4, 2).astype(
        "float32")


def pix2pix(ngf=4, n_blocks=6):
    return Pix2PixTeacher(resnet_generator(3, 3, ngf, n_blocks),
                          n_layer_discriminator(6, ndf=8, n_layers=2))


def test_pix2pix_learns_the_mapping():
    """B is a fixed function of A (negated, channels reversed)."""
    a = blocky_images(8)
    b = -a[..., ::-1]
    teacher = pix2pix()
    teacher.compile()
    start = float(np.mean(np.abs(teacher(a) - b)))
    data = tf.data.Dataset.from_tensor_slices({"A": a, "B": b}).repeat()
    history = teacher.fit(data.batch(4), steps_per_epoch=100, epochs=3,
                          shuffle=False, verbose=0).history
    end = float(np.mean(np.abs(teacher(a) - b)))
    assert end < 0.5 * start
    assert sorted(history) == ["d_fake", "d_real", "g_gan", "g_l1"]
    assert all(np.isfinite(v).all() for v in history.values())
    assert history["g_l1"][-1] < history["g_l1"][0]


@pytest.mark.slow  # trains a toy CycleGAN for several epochs
def test_cyclegan_cycle_loss_drops():
    a, b = blocky_images(8, seed=1), blocky_images(8, seed=2)
    teacher = CycleGANTeacher(
        resnet_generator(3, 3, 8, 1), resnet_generator(3, 3, 8, 1),
        n_layer_discriminator(3, ndf=4, n_layers=2),
        n_layer_discriminator(3, ndf=4, n_layers=2), pool_size=4, seed=0)
    teacher.compile(default_optimizer(1e-3), default_optimizer(1e-3))
    data = tf.data.Dataset.from_tensor_slices({"A": a, "B": b}).repeat()
    history = teacher.fit(data.batch(2), steps_per_epoch=20, epochs=5,
                          shuffle=False, verbose=0).history
    assert sorted(history) == ["cycle_a", "cycle_b", "d_a", "d_b", "gan_ab",
                               "gan_ba", "idt_ab", "idt_ba"]
    assert all(np.isfinite(v).all() for v in history.values())
    for term in ("cycle_a", "cycle_b"):
        assert history[term][-1] < 0.7 * history[term][0]
    assert int(teacher.pool_a.num_images) == 4
    assert teacher(a).shape == a.shape


def test_pix2pix_step_updates_d_then_g_against_the_updated_d():
    """One train_step equals the original's order computed by hand with SGD:
    D step on the current fake, then G step through the UPDATED D."""
    keras.utils.set_random_seed(3)
    teacher = pix2pix(n_blocks=1)
    teacher.compile(keras.optimizers.SGD(0.5), keras.optimizers.SGD(0.5))
    g, d = teacher.generator, teacher.discriminator
    a, b = blocky_images(2), -blocky_images(2, seed=5)
    initial = [w.numpy() for w in g.weights + d.weights]

    def sgd(tape, loss, variables):
        for v, grad in zip(variables, tape.gradient(loss, variables)):
            v.assign_sub(0.5 * grad)

    def by_hand(g_sees_updated_d):
        for v, w in zip(g.weights + d.weights, initial):
            v.assign(w)
        fake = g(a, training=True)
        with tf.GradientTape() as tape:
            d_loss = tf.reduce_mean(pix2pix_discriminator_losses(
                d, a, b, fake)["total"])
        old_d = [v.numpy() for v in d.weights]
        sgd(tape, d_loss, d.trainable_variables)
        new_d = [v.numpy() for v in d.weights]
        if not g_sees_updated_d:
            for v, w in zip(d.weights, old_d):
                v.assign(w)
        with tf.GradientTape() as tape:
            g_loss = tf.reduce_mean(pix2pix_generator_losses(
                d, a, b, g(a, training=True))["total"])
        sgd(tape, g_loss, g.trainable_variables)
        return [v.numpy() for v in g.weights], new_d

    g_expected, d_expected = by_hand(True)
    g_other_order, _ = by_hand(False)
    for v, w in zip(g.weights + d.weights, initial):
        v.assign(w)
    teacher.train_step({"A": tf.constant(a), "B": tf.constant(b)})
    for v, w in zip(d.weights, d_expected):
        np.testing.assert_allclose(v.numpy(), w, atol=1e-5)
    for v, w in zip(g.weights, g_expected):
        np.testing.assert_allclose(v.numpy(), w, atol=1e-5)
    assert max(np.abs(x - y).max()
               for x, y in zip(g_expected, g_other_order)) > 1e-4


def test_default_optimizers_are_the_originals():
    teacher = pix2pix(n_blocks=1)
    teacher.compile()
    for optimizer in (teacher.g_optimizer, teacher.d_optimizer):
        assert type(optimizer) is FusedAdam  # Keras' Adam, one fused kernel per variable
        assert float(optimizer.learning_rate) == pytest.approx(2e-4)
        assert optimizer.beta_1 == 0.5 and optimizer.beta_2 == 0.999
    assert teacher.optimizer is teacher.g_optimizer


def test_identity_terms_can_be_turned_off():
    gens = [resnet_generator(3, 3, 4, 1) for _ in range(2)]
    ds = [n_layer_discriminator(3, ndf=4, n_layers=1) for _ in range(2)]
    teacher = CycleGANTeacher(*gens, *ds, lambda_identity=0.0)
    assert [m.name for m in teacher.metrics] == [
        "gan_ab", "gan_ba", "cycle_a", "cycle_b", "d_a", "d_b"]


def test_batches_must_be_dicts_with_a_and_b():
    teacher = pix2pix(n_blocks=1)
    teacher.compile()
    x = tf.zeros((1, 16, 16, 3))
    with pytest.raises(ValueError, match=r"batches \{'A': images, 'B': "
                                         r"images\}, got tuple"):
        teacher.train_step((x, x))
    with pytest.raises(ValueError, match=r"got \['A', 'C'\]"):
        teacher.train_step({"A": x, "C": x})


def test_pix2pix_discriminator_channels_checked():
    with pytest.raises(ValueError, match="build it with input_nc=6"):
        Pix2PixTeacher(resnet_generator(3, 3, 4, 1),
                       n_layer_discriminator(3, ndf=4))


def test_unknown_gan_mode():
    with pytest.raises(ValueError, match="Unknown gan_mode 'wgan'"):
        Pix2PixTeacher(resnet_generator(3, 3, 4, 1),
                       n_layer_discriminator(6, ndf=4), gan_mode="wgan")


def test_affine_discriminator_norms_train_with_the_teacher():
    """CAT's --norm_affine_D: the discriminator's γ, β are updated by the D step."""
    a = blocky_images(4)
    disc = n_layer_discriminator(6, ndf=4, n_layers=2, norm_affine=True)
    teacher = Pix2PixTeacher(resnet_generator(3, 3, 4, 1), disc)
    teacher.compile(default_optimizer(1e-2), default_optimizer(1e-2))
    affine = [w for w in disc.weights if w.path.endswith(("gamma", "beta"))]
    before = [w.numpy().copy() for w in affine]
    data = tf.data.Dataset.from_tensor_slices({"A": a, "B": -a}).repeat()
    history = teacher.fit(data.batch(2), steps_per_epoch=2, epochs=1, shuffle=False,
                          verbose=0).history
    assert all(np.isfinite(v).all() for v in history.values())
    assert len(affine) == 4
    assert all(np.abs(w.numpy() - w0).max() > 1e-4 for w, w0 in zip(affine, before))
