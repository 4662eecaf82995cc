"""What a base compression method ("recipe") contributes to the Distiller.

A recipe is a Keras layer (so it can own weights, e.g. 1x1 feature adapters)
that turns one step's tensors into weighted student loss terms. The Distiller
does everything else (teacher forward, VEM, optimiser steps, discriminator).
"""
import dataclasses

import keras
import tensorflow as tf

from itgc_tf.options import option, require


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
class RecipeOptions:
    """Base of every recipe's options (a frozen dataclass of `option` fields that
    validates itself); the field names are the flag names."""
    flag_group = "recipe"

    def non_negative(self, *names):
        for name in names:
            require(getattr(self, name) >= 0, f"{name} must be >= 0, got "
                    f"{getattr(self, name)}. Fix: pass --{name} >= 0.")


@dataclasses.dataclass(frozen=True)
class FeaturePairsOptions(RecipeOptions):
    """The (teacher_tap, student_tap) pairs of recipes that match intermediate features."""
    distill_pairs: tuple[tuple[str, str], ...] = option(
        (), "TEACHER_TAP:STUDENT_TAP pairs for feature distillation (gan_compression), "
        "kernel alignment (cat) or channel distillation (omgd), e.g. "
        "block_2:block_2,block_5:block_5. Taps: stem, down_<i>, block_<i>, up_<i>.",
        kind="pairs")


@dataclasses.dataclass(frozen=True)
class FeatureDistillOptions(FeaturePairsOptions):
    """The feature pairs and the weight of their distillation term."""
    lambda_distill: float = option(1.0, "gan_compression/cat: feature-distillation weight (cat: "
                                   "of the summed negative kernel alignments).")


class Recipe(keras.layers.Layer):
    """Base class. Subclasses set the class attributes, ``from_options`` and
    ``student_losses``.

    Class attributes:
      options_class: the `RecipeOptions` dataclass of the recipe's flags.
      uses_discriminator: the student trains against its own discriminator.
      online_teachers: the teachers are trained in the same loop (OMGD).
      term_names: names of the terms ``student_losses`` returns.
    """

    options_class = RecipeOptions
    uses_discriminator = False
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

        ``discriminate(x, image)`` gives the student discriminator's logits (only
        for recipes with ``uses_discriminator``).
        """
        raise NotImplementedError


class FeatureAdapters(keras.layers.Layer):
    """Learnable 1x1 convs mapping student taps to their teacher taps' channels.

    GAN Compression's feature-distillation mapping: one conv per (teacher_tap,
    student_tap) pair, in the order given.
    """

    def __init__(self, pairs, **kwargs):
        super().__init__(**kwargs)
        self.pairs = tuple(tuple(p) for p in pairs)
        self.convs = []

    def build_for(self, teacher_shapes, student_shapes):
        """Create the convs; shapes are {tap: (h, w, c)} (h, w may be None)."""
        for t_tap, s_tap in self.pairs:
            t_shape, s_shape = teacher_shapes[t_tap], student_shapes[s_tap]
            if None not in (*t_shape[:2], *s_shape[:2]) and t_shape[:2] != s_shape[:2]:
                raise ValueError(
                    f"Feature pair ({t_tap!r}, {s_tap!r}) has different spatial sizes: teacher "
                    f"{t_shape}, student {s_shape}. Pair taps at the same resolution.")
            conv = keras.layers.Conv2D(t_shape[-1], 1, name=f"adapt_{s_tap}_to_{t_tap}")
            conv.build((None, None, None, s_shape[-1]))
            self.convs.append(conv)
        self.built = True

    def call(self, student_features):
        """[mapped student feature [B, h, w, c_teacher]] in the order of ``pairs``."""
        return [conv(student_features[s_tap])
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
        mapped = self.adapters(ctx.student_features)
        return [(ctx.teacher_features[t_tap], m) for m, (t_tap, _) in zip(mapped,
                                                                           self.adapters.pairs)]
