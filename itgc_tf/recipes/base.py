"""What a base compression method ("recipe") contributes to the Distiller.

A recipe is a Keras layer (so it can own weights, e.g. 1x1 feature adapters)
that turns one step's tensors into weighted student loss terms. The Distiller
does everything else (teacher forward, VEM, optimiser steps, discriminator).
"""
import dataclasses

import keras
import tensorflow as tf

from itgc_tf.models.layers import norm_layer, weight_init


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


class Recipe(keras.layers.Layer):
    """Base class. Subclasses set the class attributes and ``student_losses``.

    Class attributes:
      uses_discriminator: the student trains against its own discriminator.
      online_teachers: the teachers are trained in the same loop (OMGD).
      term_names: names of the terms ``student_losses`` returns.
    """

    uses_discriminator = False
    online_teachers = False
    term_names = ()

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


def per_example_mean(x):
    """Mean over all non-batch axes: [B, ...] -> [B] float32."""
    x = tf.cast(x, tf.float32)
    return tf.reduce_mean(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


def global_average(per_example):
    """Average [B] values over the global batch (sums correctly across replicas)."""
    return tf.nn.compute_average_loss(per_example)


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


ADAPTERS = {"conv": conv_adapter, "conv_bn_relu": conv_bn_relu_adapter}


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
