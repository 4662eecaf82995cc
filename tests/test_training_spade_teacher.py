"""GauGAN / SPADE teacher: losses against independent computations, discriminator
features, TTUR optimisers, and training at toy size on demo:labels2photo."""
import numpy as np
import pytest
import tensorflow as tf

from data_helpers import demo_cache, demo_cache_dir  # noqa: F401 (fixtures)
from itgc_tf.data import DataConfig, build_dataset
from itgc_tf.losses.vgg import VGGFeatures
from itgc_tf.models.discriminators import discriminator_features
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.training.teacher_losses import (spade_discriminator_losses,
                                             spade_generator_losses)
from itgc_tf.training.teachers import SPADE_VGG_LAYERS, SPADETeacher, ttur_optimizers


def _discriminator(channels):
    return build_discriminator("multi_scale", channels, ndf=4, n_layers=2, norm="instance",
                               spectral_norm=True, num_D=2)


def test_discriminator_features_are_layers_then_logits_per_scale():
    d = _discriminator(5)
    x = tf.random.uniform((2, 32, 32, 5))
    feats = discriminator_features(d)(x)
    assert len(feats) == 2 and [len(f) for f in feats] == [4, 4]
    for scale, logits in zip(feats, d(x)):
        np.testing.assert_allclose(scale[-1].numpy(), logits.numpy(), atol=1e-6)


def test_spade_losses_match_independent_hinge_and_feature_matching():
    d_feat = discriminator_features(_discriminator(5))
    rng = np.random.default_rng(0)
    sem = tf.constant(rng.integers(0, 2, (2, 32, 32, 2)), tf.float32)
    real = tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32)
    fake = tf.constant(rng.uniform(-1, 1, (2, 32, 32, 3)), tf.float32)
    g = spade_generator_losses(d_feat, sem, real, fake, training=False)
    d = spade_discriminator_losses(d_feat, sem, real, fake, training=False)
    f_out = [[t.numpy() for t in s] for s in d_feat(tf.concat([sem, fake], -1))]
    r_out = [[t.numpy() for t in s] for s in d_feat(tf.concat([sem, real], -1))]
    per = lambda x: x.reshape(2, -1).mean(1)  # noqa: E731
    np.testing.assert_allclose(g["g_gan"], np.mean([-per(s[-1]) for s in f_out], 0), rtol=1e-5)
    feat = sum(per(np.abs(a - b)) for fs, rs in zip(f_out, r_out)
               for a, b in zip(fs[:-1], rs[:-1])) / 2
    np.testing.assert_allclose(g["g_feat"], feat, rtol=1e-5)
    np.testing.assert_allclose(g["total"], g["g_gan"] + 10 * g["g_feat"], rtol=1e-5)
    d_real = np.mean([per(np.maximum(0, 1 - s[-1])) for s in r_out], 0)
    d_fake = np.mean([per(np.maximum(0, 1 + s[-1])) for s in f_out], 0)
    np.testing.assert_allclose(d["total"], d_real + d_fake, rtol=1e-5)
    same = spade_generator_losses(d_feat, sem, real, real, training=False)
    np.testing.assert_allclose(same["g_feat"], 0, atol=1e-7)


def test_ttur_learning_rates_and_channel_check():
    g_opt, d_opt = ttur_optimizers(2e-4)
    assert float(g_opt.learning_rate) == pytest.approx(1e-4)
    assert float(d_opt.learning_rate) == pytest.approx(4e-4)
    assert float(g_opt.beta_1) == 0.0 and float(d_opt.beta_2) == pytest.approx(0.9)
    with pytest.raises(ValueError, match="input_nc=10"):
        SPADETeacher(build_generator("spade", 7, 3, 2), _discriminator(9))


@pytest.mark.slow
def test_teacher_losses_decrease_on_demo_labels2photo(demo_cache):
    config = DataConfig(dataset="demo:labels2photo", label_nc=6, load_size=72, crop_size=64,
                        batch_size=4)
    ds = build_dataset(config).repeat()
    fixed = next(iter(build_dataset(config, "test", training=False)))
    generator = build_generator("spade", config.semantic_nc, 3, 2, norm="batch")
    vgg = VGGFeatures(SPADE_VGG_LAYERS, allow_random_weights_for_testing=True)
    teacher = SPADETeacher(generator, _discriminator(config.semantic_nc + 3), vgg)
    teacher.compile(*ttur_optimizers(2e-3))

    def l1():
        return float(tf.reduce_mean(tf.abs(teacher(fixed["A"]) - fixed["B"])))

    before = l1()
    history = teacher.fit(ds, steps_per_epoch=8, epochs=4, verbose=0).history
    assert set(history) >= {"g_gan", "g_feat", "g_vgg", "d_real", "d_fake"}
    assert history["g_vgg"][-1] < history["g_vgg"][0]
    assert l1() < before
