"""Latency of a generator: a Keras model, an exported SavedModel or a TFLite file.

Timing is wall-clock (time.perf_counter) of one call including the copy of its
outputs to numpy (which waits for asynchronous GPU work), after `warmup` untimed
calls. Report the median; p90 shows the jitter.
"""
import dataclasses
import statistics
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


def median_wall_ms(runs):
    """{name: median wall milliseconds} of `time_interleaved`'s ``runs``."""
    return {name: 1000.0 * statistics.median(wall) for name, (wall, _) in runs.items()}


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


def runs_within(fns, example, budget_s, min_runs=3, max_runs=30):
    """How many interleaved rounds of ``fns`` on ``example`` fit in ``budget_s`` seconds
    (clipped to [min_runs, max_runs]), from one untimed warm-up round and one timed round."""
    calls = {name: (lambda fn=fn: _to_numpy(fn(example))) for name, fn in fns.items()}
    round_s = sum(wall[0] for wall, _ in time_interleaved(calls, 1, warmup=1).values())
    return int(np.clip(budget_s // max(round_s, 1e-9), min_runs, max_runs))


def speedup_row(runtime, size, batch, teacher, student, example, budget_s=3.0,
                min_runs=3, max_runs=30):
    """One row of a teacher-vs-student speed table: both callables timed interleaved on
    ``example`` [batch, size, size, C], as many rounds as fit in ``budget_s`` (`runs_within`).

    The latency is the fastest call (as ``timeit`` advises: other processes on a shared
    machine only ever add time, and a burst of load can hit a few long calls of one
    model only); the medians are kept beside it.

    Returns {runtime, size, batch, teacher_latency_ms, student_latency_ms (fastest),
    speedup_x (teacher / student), teacher_median_ms, student_median_ms, runs, reason
    (None: measured)}.
    """
    fns = {"teacher": teacher, "student": student}
    runs = runs_within(fns, example, budget_s, min_runs, max_runs)
    calls = {name: (lambda fn=fn: _to_numpy(fn(example))) for name, fn in fns.items()}
    wall = {name: np.asarray(times) * 1e3
            for name, (times, _) in time_interleaved(calls, runs, warmup=0).items()}
    return dict(runtime=runtime, size=size, batch=batch,
                teacher_latency_ms=float(wall["teacher"].min()),
                student_latency_ms=float(wall["student"].min()),
                speedup_x=float(wall["teacher"].min() / wall["student"].min()),
                teacher_median_ms=float(np.median(wall["teacher"])),
                student_median_ms=float(np.median(wall["student"])), runs=runs, reason=None)


def skipped_row(runtime, size, batch, reason):
    """A speed-table row that was not measured, saying why."""
    return dict(runtime=runtime, size=size, batch=batch, teacher_latency_ms=None,
                student_latency_ms=None, speedup_x=None, teacher_median_ms=None,
                student_median_ms=None, runs=0, reason=reason)


def format_speed_table(rows):
    """The rows of `speedup_row` / `skipped_row` as aligned text lines."""
    lines = [f"{'runtime':<18}{'size':>9}{'batch':>6}{'teacher ms':>12}{'student ms':>12}"
             f"{'speed-up':>10}{'runs':>6}"]
    for row in rows:
        size = f"{row['size']}x{row['size']}"
        if row["reason"] is not None:
            lines.append(f"{row['runtime']:<18}{size:>9}{row['batch']:>6}  not measured: "
                         f"{row['reason']}")
            continue
        lines.append(f"{row['runtime']:<18}{size:>9}{row['batch']:>6}"
                     f"{row['teacher_latency_ms']:>12.1f}{row['student_latency_ms']:>12.1f}"
                     f"{row['speedup_x']:>9.2f}x{row['runs']:>6}")
    return lines
