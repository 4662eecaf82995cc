"""SPADE teacher -> GAN Compression's compressed SPADE student through the shared
Distiller: kd (L1 to the teacher, a PatchGAN D) on the default strategy, and
gan_compression with VEM on the output image and GauGAN's student loss
(--student_gaugan_loss, a two-scale D) on two replicas against one, then on the default
strategy. The generator input is a semantic map (more channels than the output image)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.losses.vgg import VGGFeatures
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.recipes import build_recipe
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.teacher_losses import SPADE_VGG_LAYERS
from itgc_tf.vem.config import VEMConfig

SIZE, LABELS = 64, 5
PALETTE = np.random.default_rng(7).uniform(-1, 1, (LABELS, 3)).astype("float32")
TOY_VEM = dict(critic_width=8, critic_blocks=3)


def label_pairs(n=8, seed=0):
    """One-hot 8x8-block label maps [n, 64, 64, 5] and their palette photos."""
    ids = np.random.default_rng(seed).integers(0, LABELS, (n, SIZE // 8, SIZE // 8))
    ids = ids.repeat(8, 1).repeat(8, 2)
    return {"A": np.eye(LABELS, dtype="float32")[ids], "B": PALETTE[ids]}


def gaugan_student_loss():
    """GAN Compression's GauGAN student: GauGAN's terms (random VGG), no L1 to the teacher."""
    return dict(student_gaugan_loss=True, lambda_recon=0.0, gan_mode="hinge",
                vgg=VGGFeatures(SPADE_VGG_LAYERS, allow_random_weights_for_testing=True))


def spade_distiller(recipe, vem_weight, gaugan=False, **vem_options):
    """GauGAN's student judged by a two-scale D (``gaugan``), else by a PatchGAN."""
    teacher = build_generator("spade", LABELS, 3, ngf=4, norm="batch", name_prefix="teacher_")
    for weight in teacher.trainable_weights:  # xavier gain 1, not GauGAN's 0.02: a random
        if weight.path.endswith("kernel"):    # teacher whose output is not ~0
            weight.assign(weight * 50.0)
    student = build_generator("spade_compressed", LABELS, 3, ngf=4, norm="batch",
                              name_prefix="student_")
    options = {"pairs": [("block_1", "block_1"), ("up_1", "up_1")]} \
        if recipe == "gan_compression" else {}
    if gaugan:
        options |= gaugan_student_loss()
    vem = VEMConfig(vem_weight=vem_weight, **(TOY_VEM | vem_options))
    disc = build_discriminator("multi_scale" if gaugan else "n_layers", LABELS + 3, ndf=4,
                               n_layers=2, num_D=2)
    return Distiller(student, [teacher], build_recipe(recipe, **options),
                     (SIZE, SIZE, LABELS), discriminator=disc, vem=vem,
                     gan_mode="hinge" if gaugan else "lsgan")


def assert_distils(distiller, data, recipe, vem_weight, gaugan, epochs):
    """Trains ``epochs`` more epochs: finite logs, the recipe's and GauGAN's terms logged
    and falling, the student's output nearer the teacher's (not asked of GauGAN's student
    loss, which has no term pulling the output to the teacher's: it learns the photo)."""
    x = label_pairs()["A"][:4]
    teacher_out = distiller.teachers[0](x, training=False)
    gap = lambda: float(tf.reduce_mean(tf.abs(distiller(x) - teacher_out)))  # noqa: E731
    before = gap()
    history = distiller.fit(data, epochs=epochs, verbose=0, shuffle=False).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    assert ("loss_mi" in history) == (vem_weight > 0)
    assert ({"loss_feat", "loss_vgg"} <= set(history)) == gaugan
    if recipe == "gan_compression":
        assert history["loss_distill"][-1] < history["loss_distill"][0]
    if gaugan:  # learns the photo through VGG and the teacher's features, no L1 term
        assert history["loss_vgg"][-1] < history["loss_vgg"][0]
        assert np.all(np.asarray(history["loss_recon"]) == 0)
    else:
        assert history["loss_recon"][-1] < history["loss_recon"][0]
        assert gap() < before


# Slow: tracing the SPADE train step takes 10-30 s on a loaded 2-core CPU (Adam's
# update roughly doubles it), on two replicas about a minute. gan_compression with VEM and
# GauGAN's student loss trains on the default strategy in the two-replica test below (its
# one traced step serves both).
@pytest.mark.slow
def test_spade_student_distils_on_the_default_strategy():
    distiller = spade_distiller("kd", 0.0)
    # Plain SGD (loss_recon and the gap fall steadily at 0.005-0.05) traces a far smaller
    # step than Adam.
    distiller.compile(keras.optimizers.SGD(0.01), keras.optimizers.SGD(0.01))
    data = tf.data.Dataset.from_tensor_slices(label_pairs()).batch(4)
    assert_distils(distiller, data, "kd", 0.0, False, epochs=4)


# One run covers VEM, GauGAN's student loss and its two-scale D: sync batch norm in the
# SPADE blocks, the critic and the multi-scale hinge terms must all reduce across replicas.
@pytest.mark.slow
def test_spade_distillation_on_two_replicas_equals_one(two_replica_strategy):
    def make():
        d = spade_distiller("gan_compression", 0.5, gaugan=True, langevin_steps=2,
                            langevin_step_size=1.0, langevin_noise=0.0)
        d.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05),
                  critic_optimizer=keras.optimizers.SGD(0.05))
        return d

    single = make()
    with two_replica_strategy.scope():
        mirrored = make()
    for target, source in zip(mirrored.weights, single.weights):
        target.assign(source.numpy())
    data = tf.data.Dataset.from_tensor_slices(label_pairs(4)).batch(4)
    logs = [m.fit(data, epochs=1, verbose=0, shuffle=False).history for m in (single, mirrored)]
    names = ["student_loss", "loss_gan", "loss_distill", "d_loss", "loss_mi", "critic_loss",
             "loss_feat", "loss_vgg"]
    assert set(names) <= set(logs[0])
    for name in names:
        np.testing.assert_allclose(logs[1][name], logs[0][name], rtol=1e-4, atol=1e-6,
                                   err_msg=name)
    for a, b in zip(single.student.weights, mirrored.student.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-4, err_msg=a.path)
    # The default-strategy distiller distils on (SGD 0.05 diverges).
    for optimizer in (single.student_optimizer, single.discriminator_optimizer,
                      single.critic_optimizer):
        optimizer.learning_rate = 0.01
    data = tf.data.Dataset.from_tensor_slices(label_pairs()).batch(4)
    assert_distils(single, data, "gan_compression", 0.5, True, epochs=3)
