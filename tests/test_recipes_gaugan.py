"""GAN Compression's GauGAN student loss (--student_gaugan_loss): every term of the
kd / gan_compression recipes and the student discriminator's loss against NumPy on
discriminator features and VGG activations, the switch it makes, and its flags."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.losses.vgg import VGGFeatures
from itgc_tf.models.discriminators import discriminator_features
from itgc_tf.models.registry import build_discriminator
from itgc_tf.recipes import build_recipe
from itgc_tf.recipes.base import StepContext, StudentDiscriminator
from itgc_tf.training.builders import gaugan_objective
from itgc_tf.training.config import DistillConfig
from itgc_tf.training.teacher_losses import SPADE_VGG_LAYERS, SPADE_VGG_WEIGHTS
from test_cli import _parse

LABELS, SIZE, NUM_D = 4, 32, 2


@pytest.fixture(scope="module")
def toy():
    """A multi-scale D on concat([semantic map, image]), a random VGG, one step's tensors."""
    rng = np.random.default_rng(0)
    d = build_discriminator("multi_scale", LABELS + 3, ndf=4, n_layers=2, num_D=NUM_D)
    vgg = VGGFeatures(SPADE_VGG_LAYERS, allow_random_weights_for_testing=True)
    image = lambda: tf.constant(rng.uniform(-1, 1, (2, SIZE, SIZE, 3)), tf.float32)  # noqa
    ids = rng.integers(0, LABELS, (2, SIZE, SIZE))
    ctx = StepContext(x=tf.constant(np.eye(LABELS)[ids], tf.float32), y=image(),
                      teacher_outputs=[image()],
                      teacher_features={"f": tf.constant(rng.normal(size=(2, 8, 8, 6)),
                                                         tf.float32)},
                      student_output=image(),
                      student_features={"f": tf.constant(rng.normal(size=(2, 8, 8, 3)),
                                                         tf.float32)},
                      paired=True)
    discriminate = StudentDiscriminator(lambda x, img: d(tf.concat([x, img], -1)),
                                        discriminator_features(d), "hinge")
    return ctx, discriminate, vgg


def _recipe(vgg, gaugan=True):
    recipe = build_recipe("gan_compression", pairs=[("f", "f")], lambda_distill=10.0,
                          lambda_recon=0.5, gan_mode="hinge", student_gaugan_loss=gaugan,
                          lambda_feat=10.0, lambda_vgg=10.0, vgg=vgg)
    recipe.build_adapters({"f": (8, 8, 6)}, {"f": (8, 8, 3)})
    return recipe


def _per_example(x):
    return x.reshape(len(x), -1).mean(1)


def test_gaugan_student_terms_equal_an_independent_computation(toy):
    ctx, discriminate, vgg = toy
    recipe = _recipe(vgg)
    assert recipe.uses_discriminator_features
    terms = recipe.student_losses(ctx, discriminate)
    assert set(terms) == set(recipe.term_names) == {"gan", "feat", "vgg", "recon", "distill"}

    x, y, s = (np.asarray(t) for t in (ctx.x, ctx.y, ctx.student_output))
    d_features = discriminate.features
    fake = [[f.numpy() for f in scale] for scale in d_features(np.concatenate([x, s], -1))]
    real = [[f.numpy() for f in scale] for scale in d_features(np.concatenate([x, y], -1))]
    assert len(fake) == NUM_D
    # hinge G loss -D, averaged (not summed) over the scales
    gan = np.mean([-_per_example(scale[-1]) for scale in fake], 0).mean()
    # L1 between D's intermediate activations of fake and real, summed, / num_D
    feat = sum(_per_example(np.abs(a - b)) for fs, rs in zip(fake, real)
               for a, b in zip(fs[:-1], rs[:-1])).mean() / NUM_D
    v_s, v_y = vgg(s), vgg(y)
    vgg_term = sum(w * np.abs(v_s[n].numpy() - v_y[n].numpy()).mean()
                   for w, n in zip(SPADE_VGG_WEIGHTS, SPADE_VGG_LAYERS))
    conv = recipe.adapters.convs[0]
    mapped = (np.einsum("bhwc,cd->bhwd", ctx.student_features["f"].numpy(),
                        conv.kernel.numpy()[0, 0]) + conv.bias.numpy())
    distill = np.mean((mapped - ctx.teacher_features["f"].numpy()) ** 2)
    recon = np.abs(s - ctx.teacher_outputs[0].numpy()).mean()
    want = {"gan": gan, "feat": 10 * feat, "vgg": 10 * vgg_term, "distill": 10 * distill,
            "recon": 0.5 * recon}
    for name, value in want.items():
        np.testing.assert_allclose(float(terms[name]), value, rtol=1e-4, err_msg=name)
    assert want["feat"] > 0 and want["vgg"] > 0

    # the student discriminator's step: hinge on real + on fake, each averaged over scales
    d_real = np.mean([_per_example(np.maximum(0, 1 - scale[-1])) for scale in real], 0)
    d_fake = np.mean([_per_example(np.maximum(0, 1 + scale[-1])) for scale in fake], 0)
    np.testing.assert_allclose(recipe.discriminator_loss(discriminate, ctx.x, ctx.y,
                                                         ctx.student_output),
                               d_real + d_fake, rtol=1e-5)


def test_without_the_option_the_student_keeps_kd_gan_and_pix2pix_discriminator_loss(toy):
    ctx, discriminate, vgg = toy
    recipe = _recipe(vgg, gaugan=False)
    assert not recipe.uses_discriminator_features and recipe.vgg is None
    terms = recipe.student_losses(ctx, discriminate)
    assert set(terms) == {"gan", "recon", "distill"}
    fake = [f.numpy() for f in discriminate(ctx.x, ctx.student_output)]
    real = [f.numpy() for f in discriminate(ctx.x, ctx.y)]
    # KD: the scales' hinge G losses summed; D: 0.5 (real + fake), scales summed
    np.testing.assert_allclose(float(terms["gan"]), sum(-_per_example(f) for f in fake).mean(),
                               rtol=1e-5)
    want_d = 0.5 * (sum(_per_example(np.maximum(0, 1 - r)) for r in real)
                    + sum(_per_example(np.maximum(0, 1 + f)) for f in fake))
    np.testing.assert_allclose(recipe.discriminator_loss(discriminate, ctx.x, ctx.y,
                                                         ctx.student_output), want_d, rtol=1e-5)


def test_gaugan_loss_refuses_unpaired_data_and_a_missing_vgg(toy):
    ctx, discriminate, vgg = toy
    unpaired = StepContext(**{**ctx.__dict__, "paired": False})
    with pytest.raises(ValueError, match="paired data. Fix:"):
        _recipe(vgg).student_losses(unpaired, discriminate)
    with pytest.raises(ValueError, match="needs the VGG.*Fix:"):
        build_recipe("kd", student_gaugan_loss=True, lambda_vgg=10.0)
    no_vgg = build_recipe("kd", student_gaugan_loss=True, lambda_vgg=0.0)
    assert no_vgg.term_names == ("gan", "feat", "recon")


def test_student_gaugan_loss_flag_takes_gaugans_weights_from_the_spade_flags():
    args = ["--dataset=demo:labels2photo", "--label_nc=6", "--recipe=gan_compression",
            "--distill_pairs=block_0:block_0", "--student_gaugan_loss", "--lambda_feat=3",
            "--lambda_vgg=0"]
    config = _parse(DistillConfig, args)
    assert config.recipe_config.student_gaugan_loss
    assert gaugan_objective(config) == dict(lambda_feat=3.0, lambda_vgg=0.0, vgg=None)
    recipe = build_recipe("gan_compression", pairs=[("f", "f")],
                          **{"student_gaugan_loss": True, **gaugan_objective(config)})
    assert recipe.lambda_feat == 3.0 and recipe.term_names[:2] == ("gan", "feat")
    plain = _parse(DistillConfig, args[:4])
    assert not plain.recipe_config.student_gaugan_loss and gaugan_objective(plain) == {}
    with pytest.raises(ValueError, match="--recipe=cat has none of them. Fix:"):
        _parse(DistillConfig, [*args[:2], "--recipe=cat", args[3], "--student_gaugan_loss"])
