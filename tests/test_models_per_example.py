"""per_example_forward: the outputs of one inference-mode call, computed by one forward
pass per example (one trace, one call per example) where that applies (in a graph, no
GPU, static batch 2..max)."""
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import SIZE, toy_distiller
from graph_helpers import inlined_op_count, nested_calls
from itgc_tf.models import per_example
from itgc_tf.models.per_example import PER_EXAMPLE_MAX_BATCH, per_example_forward
from itgc_tf.models.registry import build_generator
from itgc_tf.models.taps import feature_taps


def _graph(fn, batch, size=SIZE):
    """GraphDef of ``fn`` traced for a [batch, size, size, 3] input."""
    spec = tf.TensorSpec([batch, size, size, 3], tf.float32)
    return tf.function(fn).get_concrete_function(spec).graph.as_graph_def()


def _convolutions(fn, batch, size=SIZE):
    """Conv2D ops that ``fn`` runs for a [batch, size, size, 3] input (nested calls
    inlined)."""
    return inlined_op_count(_graph(fn, batch, size), "Conv2D")


def _batch_norm_unet():
    """A U-Net with batch norms whose moving statistics are not the initial 0 / 1."""
    model = build_generator("unet_32", 3, 3, ngf=4, norm="batch")
    rng = np.random.default_rng(0)
    for weight in model.non_trainable_weights:
        low = 0.5 if "variance" in weight.path else -0.5
        weight.assign(rng.uniform(low, 1.0, weight.shape))
    return model


@pytest.mark.parametrize("network", ["tapped_resnet", "batch_norm_unet"])
def test_equals_one_inference_call_with_one_forward_per_example(network):
    if network == "tapped_resnet":  # instance norms; a nest of outputs
        model = feature_taps(build_generator("resnet_6blocks", 3, 3, ngf=4), ["down_1", "block_2"])
    else:
        model = _batch_norm_unet()
    x = tf.random.uniform([3, SIZE, SIZE, 3], -1, 1, seed=1)
    want = model(x, training=False)
    got = tf.function(lambda x: per_example_forward(model, x))(x)
    tf.nest.assert_same_structure(got, want)
    for g, w in zip(tf.nest.flatten(got), tf.nest.flatten(want)):
        assert g.shape == w.shape
        # float32 rounding: a single image's convolutions may sum in another order
        np.testing.assert_allclose(g.numpy(), w.numpy(), atol=1e-5 * np.abs(w).max())
    single = _convolutions(lambda x: model(x, training=False), 3)
    assert single > 0
    assert _convolutions(lambda x: per_example_forward(model, x), 3) == 3 * single
    # The model is traced once, and that one function is called per example.
    assert list(nested_calls(_graph(lambda x: per_example_forward(model, x), 3)).values()) == [3]


@pytest.mark.parametrize("batch", [None, 1, PER_EXAMPLE_MAX_BATCH + 1, "gpu"])
def test_one_call_for_dynamic_single_or_large_batches_and_on_a_gpu(batch, monkeypatch):
    if batch == "gpu":
        monkeypatch.setattr(per_example, "auto_uses_fast_kernels", lambda: False)
        batch = 2
    model = build_generator("unet_16", 3, 3, ngf=2)
    assert (_convolutions(lambda x: per_example_forward(model, x), batch, 16)
            == _convolutions(lambda x: model(x, training=False), batch, 16))


def test_the_distillers_frozen_teacher_runs_per_example_in_inference_mode_only():
    distiller = toy_distiller(teacher_width=4)
    teacher = distiller.teachers[0]
    x = tf.random.uniform([2, SIZE, SIZE, 3], -1, 1, seed=2)
    (out,), _ = distiller._teacher_forward(x)
    want = teacher(x, training=False).numpy()
    np.testing.assert_allclose(out.numpy(), want, atol=1e-5 * np.abs(want).max())
    single = _convolutions(lambda x: teacher(x, training=False), 2)
    assert _convolutions(lambda x: distiller._teacher_forward(x)[0], 2) == 2 * single
    # Batch statistics (teacher_batchnorm="train") couple the examples: one call.
    assert _convolutions(lambda x: distiller._teacher_forward(x, training=True)[0], 2) == single
