"""Adversarial losses (LSGAN, vanilla/non-saturating BCE, hinge) on raw logits.

Every function returns PER-EXAMPLE losses, shape [B]: the mean over the patch
grid (all non-batch axes) of each discriminator output; for a multi-scale
discriminator (a list of logits) the per-scale means are SUMMED, as pix2pixHD.
Average them over the global batch with ``tf.nn.compute_average_loss``.

  mode      D on real          D on fake          G on fake
  lsgan     (l - 1)^2          l^2                (l - 1)^2
  vanilla   softplus(-l)       softplus(l)        softplus(-l)   (non-saturating)
  hinge     relu(1 - l)        relu(1 + l)        -l
"""
import tensorflow as tf

from itgc_tf.losses.reduce import per_example_mean
from itgc_tf.models.config import GAN_MODES


def _check_mode(mode):
    if mode not in GAN_MODES:
        raise ValueError(
            f"Unknown gan_mode {mode!r}; use one of {', '.join(GAN_MODES)}.")


def adversarial_loss(mode, logits, target_is_real, for_discriminator=True):
    """GAN loss of ``logits`` against a real/fake target, per example.

    Args:
      mode: ``lsgan``, ``vanilla`` or ``hinge``.
      logits: [B, ...] tensor, or a list of them (multi-scale: summed).
      target_is_real: the label the logits should match.
      for_discriminator: only matters for hinge, whose generator loss is -l.

    Returns: [B] float32.
    """
    _check_mode(mode)
    if isinstance(logits, (list, tuple)):
        return tf.add_n([adversarial_loss(mode, l, target_is_real,
                                          for_discriminator) for l in logits])
    logits = tf.cast(logits, tf.float32)
    sign = 1.0 if target_is_real else -1.0
    if mode == "lsgan":
        loss = tf.square(logits - (1.0 if target_is_real else 0.0))
    elif mode == "vanilla":
        loss = tf.nn.softplus(-sign * logits)
    elif for_discriminator:
        loss = tf.nn.relu(1.0 - sign * logits)
    else:
        loss = -sign * logits
    return per_example_mean(loss)


def generator_loss(mode, fake_logits):
    """Generator's loss on D(fake), per example: [B]."""
    return adversarial_loss(mode, fake_logits, True, for_discriminator=False)


def discriminator_loss(mode, real_logits, fake_logits):
    """Discriminator loss 0.5·(loss(real, real) + loss(fake, fake)), per example.

    The 0.5 is the originals' (pix2pix/CycleGAN ``backward_D``). [B].
    """
    return 0.5 * (adversarial_loss(mode, real_logits, True)
                  + adversarial_loss(mode, fake_logits, False))
