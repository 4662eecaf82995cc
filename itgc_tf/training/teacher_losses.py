"""Per-step losses of the pix2pix, CycleGAN and GauGAN (SPADE) teachers, as pure functions.

They run the given networks (with ``training``) and return dicts of PER-EXAMPLE
losses, each of shape [B], plus ``"total"``, the weighted sum the optimiser
minimises. Average over the global batch with ``tf.nn.compute_average_loss``.
The teachers' ``train_step``s and the online-teacher distillers (OMGD) both call
these, so the objectives live in one place. Unweighted terms are reported
(e.g. ``g_l1`` is the mean absolute error, not λ_L1 times it).
"""
import tensorflow as tf

from itgc_tf.losses.reduce import per_example_mean
from itgc_tf.models.adversarial import (adversarial_loss, discriminator_loss,
                                        generator_loss)


def l1_per_example(x, y):
    """Mean absolute difference per example: [B, ...] × [B, ...] -> [B]."""
    return per_example_mean(tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)))


def pix2pix_discriminator_losses(discriminator, real_a, real_b, fake_b,
                                 gan_mode="vanilla", training=True):
    """Conditional D on (A, real B) vs (A, fake B); fake B is a constant.

    Returns {"d_real", "d_fake", "total" = 0.5·(d_real + d_fake)}, each [B].
    """
    real_logits = discriminator(tf.concat([real_a, real_b], -1),
                                training=training)
    fake_logits = discriminator(
        tf.concat([real_a, tf.stop_gradient(fake_b)], -1), training=training)
    d_real = adversarial_loss(gan_mode, real_logits, True)
    d_fake = adversarial_loss(gan_mode, fake_logits, False)
    return {"d_real": d_real, "d_fake": d_fake,
            "total": 0.5 * (d_real + d_fake)}


def pix2pix_generator_losses(discriminator, real_a, real_b, fake_b,
                             gan_mode="vanilla", lambda_l1=100.0,
                             training=True):
    """G's conditional GAN loss on (A, fake B) plus λ_L1·|fake B − real B|.

    Returns {"g_gan", "g_l1", "total" = g_gan + lambda_l1·g_l1}, each [B].
    """
    fake_logits = discriminator(tf.concat([real_a, fake_b], -1),
                                training=training)
    g_gan = generator_loss(gan_mode, fake_logits)
    g_l1 = l1_per_example(fake_b, real_b)
    return {"g_gan": g_gan, "g_l1": g_l1, "total": g_gan + lambda_l1 * g_l1}


def cyclegan_generator_losses(g_ab, g_ba, d_a, d_b, real_a, real_b,
                              gan_mode="lsgan", lambda_cycle=10.0,
                              lambda_identity=0.5, training=True):
    """Both generators' CycleGAN objective.

    ``g_ab``: A -> B, ``g_ba``: B -> A; ``d_a`` judges domain-A images, ``d_b``
    domain-B images. Terms, each [B]:
      gan_ab  = GAN(d_b(g_ab(A)), real)      gan_ba  = GAN(d_a(g_ba(B)), real)
      cycle_a = |g_ba(g_ab(A)) − A|          cycle_b = |g_ab(g_ba(B)) − B|
      idt_ab  = |g_ab(B) − B|                idt_ba  = |g_ba(A) − A|
    (identity terms only when lambda_identity > 0);
    total = gan_ab + gan_ba + λ_cyc·(cycle_a + cycle_b)
            + λ_cyc·λ_idt·(idt_ab + idt_ba).

    Returns (losses, fakes) with fakes = {"fake_a": g_ba(B), "fake_b": g_ab(A)}.
    """
    fake_b = g_ab(real_a, training=training)
    fake_a = g_ba(real_b, training=training)
    losses = {
        "gan_ab": generator_loss(gan_mode, d_b(fake_b, training=training)),
        "gan_ba": generator_loss(gan_mode, d_a(fake_a, training=training)),
        "cycle_a": l1_per_example(g_ba(fake_b, training=training), real_a),
        "cycle_b": l1_per_example(g_ab(fake_a, training=training), real_b),
    }
    total = (losses["gan_ab"] + losses["gan_ba"]
             + lambda_cycle * (losses["cycle_a"] + losses["cycle_b"]))
    if lambda_identity > 0:
        losses["idt_ab"] = l1_per_example(g_ab(real_b, training=training),
                                          real_b)
        losses["idt_ba"] = l1_per_example(g_ba(real_a, training=training),
                                          real_a)
        total += lambda_cycle * lambda_identity * (losses["idt_ab"]
                                                   + losses["idt_ba"])
    losses["total"] = total
    return losses, {"fake_a": fake_a, "fake_b": fake_b}


def cyclegan_discriminator_losses(d_a, d_b, real_a, real_b, fake_a, fake_b,
                                  gan_mode="lsgan", training=True):
    """Both discriminators' loss; the fakes (e.g. from an image pool) are
    constants. Returns {"d_a", "d_b", "total" = d_a + d_b}, each [B], with
    d_x = 0.5·(GAN(d_x(real), real) + GAN(d_x(fake), fake))."""
    losses = {
        "d_a": discriminator_loss(
            gan_mode, d_a(real_a, training=training),
            d_a(tf.stop_gradient(fake_a), training=training)),
        "d_b": discriminator_loss(
            gan_mode, d_b(real_b, training=training),
            d_b(tf.stop_gradient(fake_b), training=training)),
    }
    losses["total"] = losses["d_a"] + losses["d_b"]
    return losses


# SPADE's VGG loss weights on relu1_1 .. relu5_1 (Keras VGG16: blockI_conv1).
SPADE_VGG_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1",
                    "block5_conv1")
SPADE_VGG_WEIGHTS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0)


def _scale_mean(mode, logits, real, for_discriminator=True):
    """SPADE's GAN loss over a multi-scale D: the MEAN of the per-scale losses. [B]."""
    return adversarial_loss(mode, logits, real, for_discriminator) / len(logits)


def spade_discriminator_losses(d_features, semantics, real, fake, gan_mode="hinge",
                               training=True):
    """GauGAN's D step: D on concat([semantic map, image]), real vs (constant) fake.

    ``d_features``: `itgc_tf.models.discriminators.discriminator_features` of the D.
    Returns {"d_real", "d_fake", "total" = d_real + d_fake}, each [B]; every term is
    averaged over the D's scales (SPADE's GANLoss), without pix2pix's 0.5.
    """
    real_out = d_features(tf.concat([semantics, real], -1), training=training)
    fake_out = d_features(tf.concat([semantics, tf.stop_gradient(fake)], -1),
                          training=training)
    d_real = _scale_mean(gan_mode, [s[-1] for s in real_out], True)
    d_fake = _scale_mean(gan_mode, [s[-1] for s in fake_out], False)
    return {"d_real": d_real, "d_fake": d_fake, "total": d_real + d_fake}


def spade_generator_losses(d_features, semantics, real, fake, vgg=None, gan_mode="hinge",
                           lambda_feat=10.0, lambda_vgg=10.0, vgg_weights=None,
                           training=True):
    """GauGAN's G objective, each term [B]:

      g_gan  = mean over scales of GAN(D(semantic, fake), real)       (hinge: -D)
      g_feat = sum over scales and D layers of |D_l(fake) - D_l(real)|_1 mean / num_D
               (real features constant)
      g_vgg  = sum_l w_l |VGG_l(fake) - VGG_l(real)|_1 mean   (``vgg``: a VGGFeatures;
               w_l = ``vgg_weights``, SPADE's 1/32, 1/16, 1/8, 1/4, 1; skipped if None)
      total  = g_gan + lambda_feat·g_feat + lambda_vgg·g_vgg
    """
    fake_out = d_features(tf.concat([semantics, fake], -1), training=training)
    real_out = d_features(tf.concat([semantics, real], -1), training=training)
    losses = {"g_gan": _scale_mean(gan_mode, [s[-1] for s in fake_out], True,
                                   for_discriminator=False)}
    feat = [l1_per_example(f, tf.stop_gradient(r))
            for fs, rs in zip(fake_out, real_out) for f, r in zip(fs[:-1], rs[:-1])]
    losses["g_feat"] = tf.add_n(feat) / len(fake_out)
    total = losses["g_gan"] + lambda_feat * losses["g_feat"]
    if vgg is not None:
        f_fake, f_real = vgg(fake), vgg(real)
        names = vgg.layer_names
        weights = vgg_weights or [1.0] * len(names)
        losses["g_vgg"] = tf.add_n([w * l1_per_example(f_fake[n], tf.stop_gradient(f_real[n]))
                                    for w, n in zip(weights, names)])
        total += lambda_vgg * losses["g_vgg"]
    losses["total"] = total
    return losses
