"""How well the anchor step and its parts use the CPU's cores (section ``core_scaling``).

Each piece (the anchor step, kd and kd+VEM, float32, and three of its parts: the frozen
teacher's forward pass, the student's forward and backward passes, the Langevin chain)
is timed in processes limited to one thread (``TF_NUM_INTRAOP_THREADS`` and
``TF_NUM_INTEROP_THREADS`` = 1) and in processes with TensorFlow's default threads, in
the order one, default, default, one so that a drifting load hits both alike. Perfect
use of c cores would divide the one-thread time by c, so one-thread time / c bounds what
any scheduling of these kernels can reach on this machine.
"""
import json
import os
import statistics
import subprocess
import sys

from itgc_tf.eval.report import usable_cpu_cores
from itgc_tf.perf.devices import HIDE_GPUS_ENV

PIECES = ("anchor_kd", "anchor_kd_vem", "teacher_forward", "student_train", "langevin_chain")
ONE_THREAD = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1"}
ORDER = ("one", "default", "default", "one")
_TAG = "CORE_SCALING "


def time_pieces(size, batch, repeats, pieces=PIECES):
    """{"intra_op_threads": TensorFlow's intra-op pool size in this process, "ms" and
    "cpu_ms": {piece: median wall / process-CPU ms of ``repeats`` calls after two warm-up
    calls}}, each piece built as in `itgc_tf.perf.anchor` (critic blocks as many as
    ``size`` allows, at most 7; the three parts share one set of networks)."""
    from itgc_tf.eval.latency import time_interleaved
    from itgc_tf.perf.anchor import anchor_parts, anchor_step, intra_op_threads
    from itgc_tf.perf.networks import critic_blocks

    blocks, parts = critic_blocks(size), {}
    result = dict(intra_op_threads=intra_op_threads(), ms={}, cpu_ms={})
    for piece in pieces:
        if piece.startswith("anchor_"):
            fn = anchor_step(size, batch, piece == "anchor_kd_vem", critic_blocks=blocks)
        else:
            parts = parts or anchor_parts(size, batch, blocks)
            fn = parts[piece]
        (wall, cpu), = time_interleaved({piece: fn}, repeats, warmup=2).values()
        result["ms"][piece] = 1000.0 * statistics.median(wall)
        result["cpu_ms"][piece] = 1000.0 * statistics.median(cpu)
    return result


def worker_env(threads):
    """The environment of a `time_pieces` process: ``threads`` "one" (ONE_THREAD) or
    "default" (TF's own counts); GPUs hidden, since core counts are the CPU's."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **HIDE_GPUS_ENV)
    for name in ONE_THREAD:
        env.pop(name, None)
    if threads == "one":
        env.update(ONE_THREAD)
    return env


def _run_worker(threads, spec, timeout):
    """`time_pieces` of ``spec`` in a fresh interpreter, one thread or TF's default."""
    env = worker_env(threads)
    code = ("import json, sys\nfrom itgc_tf.perf.core_scaling import _TAG, time_pieces\n"
            "print(_TAG + json.dumps(time_pieces(**json.loads(sys.argv[1]))))")
    done = subprocess.run([sys.executable, "-c", code, json.dumps(spec)], capture_output=True,
                          text=True, env=env, timeout=timeout)
    lines = [line[len(_TAG):] for line in done.stdout.splitlines() if line.startswith(_TAG)]
    if done.returncode or not lines:
        raise RuntimeError(f"core_scaling worker ({threads} threads) failed, exit "
                           f"{done.returncode}: {done.stderr.strip()[-1500:]}")
    return json.loads(lines[-1])


def measure_core_scaling(spec):
    """spec: {size, batch, repeats[, pieces][, timeout]}. Returns one record per piece:
    {piece, size, batch, cores (this process may use), one_thread_ms, all_threads_ms,
    one_thread_cpu_ms, all_threads_cpu_ms (medians over the processes of each kind of
    their medians), scaling_x (one / all), ideal_ms (one_thread_ms / cores: every core
    busy with the one-thread work), threads_seen ([intra-op pool size] of the
    processes, in run order)}."""
    pieces = tuple(spec.get("pieces", PIECES))
    unknown = sorted(set(pieces) - set(PIECES))
    if unknown:
        raise ValueError(f"Unknown core_scaling pieces {unknown}; choose from {list(PIECES)}.")
    work = dict(size=spec["size"], batch=spec["batch"], repeats=spec["repeats"], pieces=pieces)
    runs = [(kind, _run_worker(kind, work, spec.get("timeout", 3600))) for kind in ORDER]
    cores = usable_cpu_cores()
    records = []
    for piece in pieces:
        ms, cpu = ({kind: statistics.median(r[key][piece] for k, r in runs if k == kind)
                    for kind in ("one", "default")} for key in ("ms", "cpu_ms"))
        records.append(dict(piece=piece, size=spec["size"], batch=spec["batch"], cores=cores,
                            one_thread_ms=ms["one"], all_threads_ms=ms["default"],
                            one_thread_cpu_ms=cpu["one"], all_threads_cpu_ms=cpu["default"],
                            scaling_x=ms["one"] / ms["default"], ideal_ms=ms["one"] / cores,
                            threads_seen=[r["intra_op_threads"] for _, r in runs]))
    return records


# The targets the bounds are stated against: kd+VEM at 2x the PyTorch anchor's
# throughput, and VEM adding at most 10 % to the kd step.
TARGET_SPEEDUP, TARGET_VEM_ADDS = 2.0, 0.10
_STEP_PIECE = {False: "anchor_kd", True: "anchor_kd_vem"}


def speedup_bounds(vs_torch, core_scaling):
    """What the targets ask of core use and of work, from the float32 ``vs_torch``
    records and the ``core_scaling`` anchor-step records of the same size and batch (one
    run). Per match {size, batch, vem, torch_ms, one_thread_ms, all_threads_ms,
    scaling_x, perfect_speedup_x (torch_ms / ideal_ms: the speed-up if every core did the
    one-thread work, with no idle time), scaling_for_2x (one_thread_ms / (torch_ms / 2):
    the core scaling 2x needs), work_cut_for_2x (the share of the one-thread work 2x needs
    removed at today's scaling; 0 when 2x is reached), vem_work_share (kd+VEM records:
    one-thread work VEM adds / the kd step's), scaling_for_vem_adds_10pct (kd+VEM records:
    the scaling at which kd+VEM takes 1.1x the kd step's default-thread time)}."""
    steps = {(r["size"], r["batch"], r["piece"]): r for r in core_scaling
             if r["piece"] in _STEP_PIECE.values()}
    records = []
    for row in vs_torch:
        key = row["size"], row["batch"]
        step = steps.get((*key, _STEP_PIECE[row["vem"]]))
        if row["precision"] != "float32" or step is None:
            continue
        kd = steps.get((*key, _STEP_PIECE[False]))
        target_ms = row["torch_ms"] / TARGET_SPEEDUP
        vem_terms = dict(vem_work_share=None, scaling_for_vem_adds_10pct=None)
        if row["vem"] and kd is not None:
            vem_terms = dict(
                vem_work_share=step["one_thread_ms"] / kd["one_thread_ms"] - 1,
                scaling_for_vem_adds_10pct=step["one_thread_ms"] / (
                    (1 + TARGET_VEM_ADDS) * kd["all_threads_ms"]))
        records.append(dict(
            size=row["size"], batch=row["batch"], vem=row["vem"],
            torch_ms=row["torch_ms"], one_thread_ms=step["one_thread_ms"],
            all_threads_ms=step["all_threads_ms"], scaling_x=step["scaling_x"],
            perfect_speedup_x=row["torch_ms"] / step["ideal_ms"],
            scaling_for_2x=step["one_thread_ms"] / target_ms,
            # At a fixed scaling, time and one-thread work shrink together.
            work_cut_for_2x=max(0.0, 1 - target_ms / step["all_threads_ms"]),
            **vem_terms))
    return records
