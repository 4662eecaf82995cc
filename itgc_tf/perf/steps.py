"""A model's train step compiled as Keras compiles it, and what its graph holds."""
import collections
import resource
import time

import tensorflow as tf


def peak_rss_mb():
    """Peak resident memory of this process so far, MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def peak_device_mb():
    """Peak memory TensorFlow allocated on the first visible GPU in this process so far,
    MiB; None without a GPU."""
    if not tf.config.get_visible_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2.0**20


def compiled_step(model, batch):
    """(step, traced): ``step()`` runs the model's train step once on ``batch`` (a dict
    of arrays), compiled as Keras compiles it for ``fit`` (tf.function,
    reduce_retracing, XLA per the model's ``jit_compile``) and returns its logs as
    floats; ``traced()`` is (how often it was traced: 1 = no retracing, the graph of
    its trace)."""
    function = tf.function(model.train_step, reduce_retracing=True,
                           jit_compile=model.jit_compile)
    data = tf.nest.map_structure(tf.constant, batch)

    def step():
        return {k: float(v) for k, v in function(data).items()}

    def traced():
        return (function.experimental_get_tracing_count(),
                function.get_concrete_function(data).graph)

    return step, traced


def first_call_s(fn):
    """Wall seconds of one call of ``fn`` (tracing and compilation on a first call)."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def graph_op_counts(graph_def):
    """Counter of op types over a GraphDef's nodes and its function library."""
    ops = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops
