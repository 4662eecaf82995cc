"""OMGD's shared teacher discriminator: one D step on the sum of both teachers' D losses,
then one G step on the sum of their pix2pix losses, checked against a hand computation."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.training.teacher_losses import (pix2pix_discriminator_losses,
                                             pix2pix_generator_losses)
from itgc_tf.training.teachers import SharedDiscriminatorPix2Pix

LR = 0.1


def _models():
    keras.utils.set_random_seed(3)
    gens = [build_generator("unet_16", 3, 3, ngf, name_prefix=f"g{ngf}_") for ngf in (4, 2)]
    disc = build_discriminator("n_layers", 6, ndf=4, n_layers=1)
    return gens, disc


def _sgd_gradient_step(variables, loss_fn):
    with tf.GradientTape() as tape:
        loss = loss_fn()
    for v, g in zip(variables, tape.gradient(loss, variables)):
        v.assign_sub(LR * g)


def test_one_d_step_on_the_summed_losses_then_one_g_step_against_the_updated_d():
    rng = np.random.default_rng(0)
    a = tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))
    b = tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))

    gens, disc = _models()
    start = [w.numpy() for m in (*gens, disc) for w in m.weights]
    # hand computation with plain SGD
    fakes = [g(a, training=True) for g in gens]
    _sgd_gradient_step(disc.trainable_variables, lambda: tf.reduce_mean(tf.add_n([
        pix2pix_discriminator_losses(disc, a, b, f, "lsgan")["total"] for f in fakes])))
    g_vars = [v for g in gens for v in g.trainable_variables]
    _sgd_gradient_step(g_vars, lambda: tf.reduce_mean(tf.add_n([
        pix2pix_generator_losses(disc, a, b, g(a, training=True), "lsgan", 100.0)["total"]
        for g in gens])))
    want = [w.numpy() for m in (*gens, disc) for w in m.weights]

    for w, value in zip([w for m in (*gens, disc) for w in m.weights], start):
        w.assign(value)
    teacher = SharedDiscriminatorPix2Pix(gens, disc, lambda_l1=100.0, gan_mode="lsgan")
    teacher.compile(keras.optimizers.SGD(LR), keras.optimizers.SGD(LR))
    logs = teacher.train_step({"A": a, "B": b})
    got = [w.numpy() for m in (*gens, disc) for w in m.weights]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-6)
    assert {f"{t}_{k}" for k in (0, 1) for t in ("g_gan", "g_l1", "d_real", "d_fake")} \
        == set(logs)


def test_shared_discriminator_needs_several_generators():
    gens, disc = _models()
    with pytest.raises(ValueError, match="Fix:"):
        SharedDiscriminatorPix2Pix(gens[:1], disc)
