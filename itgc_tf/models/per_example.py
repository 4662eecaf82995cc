"""Inference-mode forward passes run one example at a time (frozen teachers on CPU).

A generator in inference mode treats the examples of a batch independently (instance
norms normalise each image; batch norms use their moving statistics), so
``model(x, training=False)`` equals the concatenation of ``model(x_i)`` over the
examples. On a CPU the single-example graphs are independent, and TensorFlow's
inter-op threads run them side by side. With the reference kd step's frozen
MobileResNet-9 (ngf 64) teacher, the step at 256² ran 1.05-1.17x faster at batch 2-4
and 1.06x at batch 8 (kd and kd+VEM, interleaved, outputs bit-identical); a dense
ResNet-9 teacher neither gains nor loses (docs/PERFORMANCE.md, section per_example of
scripts/benchmark.py).

The single-example pass is traced once, as a nested `tf.function` called once per
example. TensorFlow inlines the calls, so the step runs the same graph as with one trace
per example, but its first call traces the model once, not B times (MobileResNet-9 ngf
64, batch 4, 64 px: the forward pass's first call 2.0-2.4 s against 3.3-3.8 s; the same
outputs and step time).
"""
import tensorflow as tf

from itgc_tf.models.layers import auto_uses_fast_kernels

# Largest static batch run one example at a time: the step's graph holds one copy of the
# model per example, so its size and graph-optimisation time grow with it (measured up
# to 8).
PER_EXAMPLE_MAX_BATCH = 8


def runs_per_example(batch):
    """Whether `per_example_forward` splits a batch of static size ``batch`` (None:
    dynamic): 2 <= batch <= `PER_EXAMPLE_MAX_BATCH` and no GPU visible (measured on CPU
    only; on a GPU one call per example would multiply kernel launches)."""
    return (batch is not None and 2 <= batch <= PER_EXAMPLE_MAX_BATCH
            and auto_uses_fast_kernels())


def per_example_forward(model, x):
    """``model(x, training=False)``, computed per example where `runs_per_example` in a
    graph (eagerly, one call).

    Args:
      model: a Keras model whose inference-mode call treats examples independently
        (every generator of `itgc_tf.models.registry`); any nest of outputs.
      x: [B, ...] input.
    Returns:
      the model's outputs for x (the same nest; each [B, ...]).
    """
    batch = x.shape[0]
    if tf.executing_eagerly() or not runs_per_example(batch):  # eager ops run one by one
        return model(x, training=False)
    forward = tf.function(lambda example: model(example, training=False), autograph=False)
    outputs = [forward(example) for example in tf.split(x, batch)]
    return tf.nest.map_structure(lambda *parts: tf.concat(parts, 0), *outputs)
