"""Latency of a generator: a Keras model, an exported SavedModel or a TFLite file.

Timing is wall-clock (time.perf_counter) of one call including the copy of its
outputs to numpy (which waits for asynchronous GPU work), after `warmup` untimed
calls. Report the median; p90 shows the jitter.
"""
import dataclasses
import time

import numpy as np
import tensorflow as tf

from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner


@dataclasses.dataclass(frozen=True)
class LatencyStats:
    """Per-call latency in milliseconds over `runs` timed calls."""
    median_ms: float
    p90_ms: float
    runs: int


def _to_numpy(outputs):
    return tf.nest.map_structure(lambda t: t.numpy() if hasattr(t, "numpy") else np.asarray(t), outputs)


def time_interleaved(fns, repeats, warmup=1):
    """Wall and process-CPU seconds of each no-argument callable, interleaved round
    by round, so that a varying machine load hits them alike.

    Each callable must block until its work is done. Returns {name: (wall runs, cpu
    runs)} of the ``repeats`` rounds after ``warmup`` untimed ones.
    """
    runs = {name: ([], []) for name in fns}
    for round_ in range(warmup + repeats):
        for name, fn in fns.items():
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            if round_ >= warmup:
                runs[name][0].append(time.perf_counter() - wall)
                runs[name][1].append(time.process_time() - cpu)
    return runs


def measure_latency(fn, example, warmup=10, runs=50):
    """Times `fn(example)`.

    Args:
      fn: callable on `example` (a Keras model — wrap it in tf.function to time
        graph execution —, a `SavedModelRunner`, a `TFLiteRunner`, ...).
      example: its input, e.g. one image [1, H, W, C] float32 in [-1, 1].
      warmup: untimed calls first (tracing, allocation, caches).
      runs: timed calls (>= 1).

    Returns:
      LatencyStats(median_ms, p90_ms, runs).
    """
    return measure_latencies({"fn": fn}, example, warmup=warmup, runs=runs)["fn"]


def measure_latencies(fns, example, warmup=10, runs=50):
    """Times several callables on `example`, interleaved: each round calls every one
    once, so a change in machine load during the measurement affects all alike (their
    ratio, e.g. a speed-up, stays fair on a shared machine).

    Args:
      fns: {name: callable}, as `measure_latency`'s `fn`.
      example, warmup, runs: as `measure_latency` (`warmup` untimed rounds first).

    Returns:
      {name: LatencyStats}.
    """
    if runs < 1 or warmup < 0:
        raise ValueError(f"measure_latency needs runs >= 1 and warmup >= 0; got runs={runs}, "
                         f"warmup={warmup}.")
    timed = time_interleaved({name: (lambda fn=fn: _to_numpy(fn(example))) for name, fn in fns.items()},
                             runs, warmup)
    return {name: LatencyStats(median_ms=float(np.median(wall) * 1e3),
                               p90_ms=float(np.percentile(wall, 90) * 1e3), runs=runs)
            for name, (wall, _) in timed.items()}


def saved_model_latency(export_dir, example, signature="serving_default", warmup=10, runs=50):
    """Latency of one signature of the SavedModel at `export_dir` on `example`."""
    return measure_latency(SavedModelRunner(export_dir, signature), example, warmup=warmup, runs=runs)


def tflite_latency(tflite_path, example=None, num_threads=None, warmup=10, runs=50):
    """Latency of a TFLite generator on `example` [1, H, W, C] (None: zeros of its
    fixed input shape)."""
    runner = TFLiteRunner(tflite_path, num_threads=num_threads)
    if example is None:
        example = np.zeros(runner.input_shape, np.float32)
    return measure_latency(runner, example, warmup=warmup, runs=runs)
