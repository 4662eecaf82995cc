"""What a base compression method ("recipe") contributes to the Distiller.

A recipe is a Keras layer (so it can own weights, e.g. 1x1 feature adapters)
that turns one step's tensors into weighted student loss terms. The Distiller
does everything else (teacher forward, VEM, optimiser steps, discriminator).
"""
import dataclasses
from collections.abc import Callable

import keras
import tensorflow as tf

from itgc_tf.models.adversarial import discriminator_loss
from itgc_tf.models.layers import norm_layer, weight_init
from itgc_tf.recipes.options import FEATURE_ADAPTERS, RecipeOptions


@dataclasses.dataclass
class StepContext:
    """Tensors of one training step. Images are [B, H, W, C] in [-1, 1].

    x: student/teacher input. y: ground truth (paired data) or an independent
    domain-B sample (unpaired). teacher_outputs: one image per teacher (frozen or
    online, constants). teacher_features / student_features: {tap: [B, h, w, c]}
    (teacher features of the first teacher). student_output: differentiable.
    """
    x: tf.Tensor
    y: tf.Tensor
    teacher_outputs: list
    teacher_features: dict
    student_output: tf.Tensor
    student_features: dict
    paired: bool


@dataclasses.dataclass(frozen=True)
class StudentDiscriminator:
    """The student discriminator as a recipe sees it (the Distiller makes one).

    ``d(x, image)``: its logits on concat([x, image]) (paired data) or on the image
    (unpaired); a list of per-scale logits for a multi-scale discriminator.
    features: `itgc_tf.models.discriminators.discriminator_features` of it (on the
      discriminator's own input; per scale [layer_<n> activations..., logits]), for
      feature matching; None unless the recipe's ``uses_discriminator_features``.
    gan_mode: the run's adversarial loss.
    """
    logits: Callable
    features: keras.Model | None
    gan_mode: str

    def __call__(self, x, image):
        return self.logits(x, image)


class Recipe(keras.layers.Layer):
    """Base class. Subclasses set the class attributes, ``from_options`` and
    ``student_losses``.

    Class attributes:
      options_class: the `RecipeOptions` dataclass of the recipe's flags
        (`itgc_tf.recipes.options`; the same as in the recipe's `RECIPES` entry).
      uses_discriminator: the student trains against its own discriminator.
      uses_discriminator_features: ``discriminate.features`` (the discriminator's
        intermediate activations) is needed.
      online_teachers: the teachers are trained in the same loop (OMGD).
      term_names: names of the terms ``student_losses`` returns.
    """

    options_class = RecipeOptions
    uses_discriminator = False
    uses_discriminator_features = False
    online_teachers = False
    term_names = ()

    @classmethod
    def from_options(cls, options, *, gan_mode, name):
        """The recipe its validated ``options`` describe; ``gan_mode`` is the run's
        adversarial loss."""
        raise NotImplementedError

    def feature_pairs(self):
        """(teacher_tap, student_tap) pairs the recipe needs; default none."""
        return ()

    def build_adapters(self, teacher_shapes, student_shapes):
        """Create weights once tap shapes are known: {tap: (h, w, c)} each."""
        del teacher_shapes, student_shapes
        self.built = True

    def student_losses(self, ctx, discriminate):
        """{term: weighted scalar}, averaged over the global batch.

        ``discriminate``: the `StudentDiscriminator` (only for recipes with
        ``uses_discriminator``); ``discriminate(x, image)`` gives its logits.
        """
        raise NotImplementedError

    def discriminator_loss(self, discriminate, x, real, fake):
        """Per-example loss [B] of the student-discriminator step (``fake``, the student
        output, is a constant). Default: pix2pix's 0.5 (GAN(D(x, real), real) +
        GAN(D(x, fake), fake)), a multi-scale D's scales summed."""
        return discriminator_loss(discriminate.gan_mode, discriminate(x, real),
                                  discriminate(x, fake))


def conv_adapter(t_channels, name):
    """1x1 conv with bias (Keras defaults): GAN Compression's feature mapping."""
    return keras.layers.Conv2D(t_channels, 1, name=name)


def conv_bn_relu_adapter(t_channels, name):
    """1x1 conv without bias -> BatchNorm -> ReLU: OMGD's ``build_feature_connector``
    (after its ``init_net``: kernel N(0, 0.02), BN gamma N(1, 0.02), beta 0, PyTorch's
    momentum and epsilon). Trained in training mode (batch statistics)."""
    return keras.Sequential([
        keras.layers.Conv2D(t_channels, 1, use_bias=False, kernel_initializer=weight_init(),
                            name=f"{name}_conv"),
        norm_layer("batch", name=f"{name}_bn"),
        keras.layers.ReLU(name=f"{name}_relu"),
    ], name=name)


# Keyed by `itgc_tf.recipes.options.FEATURE_ADAPTERS` (the --cd_adapter choices).
ADAPTERS = dict(zip(FEATURE_ADAPTERS, (conv_adapter, conv_bn_relu_adapter), strict=True))


class FeatureAdapters(keras.layers.Layer):
    """Learnable adapters mapping student taps to their teacher taps' channels.

    One adapter per (teacher_tap, student_tap) pair, in the order given; ``adapter``
    names its kind in ``ADAPTERS``: ``conv`` (1x1 conv with bias; GAN Compression)
    or ``conv_bn_relu`` (1x1 conv without bias + BatchNorm + ReLU; OMGD).
    """

    def __init__(self, pairs, adapter="conv", **kwargs):
        super().__init__(**kwargs)
        if adapter not in ADAPTERS:
            raise ValueError(f"Unknown feature adapter {adapter!r}; valid adapters: "
                             f"{', '.join(sorted(ADAPTERS))}. Fix: pass one of them "
                             "(--cd_adapter).")
        self.pairs = tuple(tuple(p) for p in pairs)
        self.adapter = adapter
        self.convs = []

    def build_for(self, teacher_shapes, student_shapes):
        """Create the adapters; shapes are {tap: (h, w, c)} (h, w may be None)."""
        for t_tap, s_tap in self.pairs:
            t_shape, s_shape = teacher_shapes[t_tap], student_shapes[s_tap]
            if None not in (*t_shape[:2], *s_shape[:2]) and t_shape[:2] != s_shape[:2]:
                raise ValueError(
                    f"Feature pair ({t_tap!r}, {s_tap!r}) has different spatial sizes: teacher "
                    f"{t_shape}, student {s_shape}. Pair taps at the same resolution.")
            conv = ADAPTERS[self.adapter](t_shape[-1], name=f"adapt_{s_tap}_to_{t_tap}")
            conv.build((None, None, None, s_shape[-1]))
            self.convs.append(conv)
        self.built = True

    def call(self, student_features, training=True):
        """[mapped student feature [B, h, w, c_teacher]] in the order of ``pairs``
        (BatchNorm adapters use batch statistics when ``training``)."""
        return [conv(student_features[s_tap], training=training)
                for conv, (_, s_tap) in zip(self.convs, self.pairs)]


class AdaptsFeatures:
    """Mixin of the recipes that match student taps to teacher taps through
    `FeatureAdapters` (set as ``self.adapters`` in ``__init__``)."""

    def feature_pairs(self):
        return self.adapters.pairs

    def build_adapters(self, teacher_shapes, student_shapes):
        self.adapters.build_for(teacher_shapes, student_shapes)
        self.built = True

    def adapted_pairs(self, ctx):
        """[(teacher feature, mapped student feature)] of one step, in pair order."""
        mapped = self.adapters(ctx.student_features, training=True)
        return [(ctx.teacher_features[t_tap], m) for m, (t_tap, _) in zip(mapped,
                                                                           self.adapters.pairs)]
