"""Where a TFLite generator's inference time goes, from native stack samples (py-spy).

    pip install py-spy      # a profiling tool, not a dependency of itgc_tf
    python scripts/profile_tflite.py --tflite=MODEL_DIR/export/student/1/model_int8.tflite

Runs the model ``--invocations`` times on one random image in [-1, 1] (TFLiteRunner,
``--threads`` interpreter threads) under ``py-spy record --native``, then prints the
share of samples by executor (ops run by the XNNPACK delegate, and each TFLite
builtin op that runs in TFLite's own kernels, i.e. was not delegated) and by innermost
native function. Samples outside ``Interpreter.invoke`` (imports, set-up) are left
out; pool threads waiting for work count as ``wait``. docs/PERFORMANCE.md shows how
this found the slow ops of the int8 student.
"""
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from absl import app, flags

flags.DEFINE_string("tflite", None, "The .tflite model to profile.")
flags.DEFINE_integer("threads", os.cpu_count(), "Interpreter threads.")
flags.DEFINE_integer("invocations", 50, "Inference calls profiled.")
flags.DEFINE_integer("rate", 200, "py-spy samples per second.")
flags.DEFINE_integer("top", 12, "Rows per table.")
flags.DEFINE_string("json", None, "Also write the shares to this JSON file.")
flags.DEFINE_bool("worker", False, "Internal: run the inference loop (under py-spy).")
FLAGS = flags.FLAGS

_WAITS = ("syscall", "futex", "clock_nanosleep", "sched_yield", "pthread_cond_wait")
_BUILTIN_OP = re.compile(r"tflite::ops::builtin::(\w+)::")


def _name(frame):
    """A frame without its '(file or library)' suffix and template arguments."""
    name = re.sub(r" \([^()]*\)$", "", frame)
    return re.sub(r"<.*", "", name)


def classify(frames):
    """(executor, leaf) of one sampled stack (outermost frame first), or None if the
    sample is not inference work: not under Interpreter.invoke nor on a pool thread."""
    on_pool = not frames[0].endswith("MainThread") and any(
        "pthreadpool" in f or f.startswith("xnn_") for f in frames)
    if not on_pool and not any(f.startswith("Interpreter.invoke") for f in frames):
        return None
    leaf = _name(frames[-1])
    if leaf in _WAITS:
        return "wait", leaf
    if any(f.startswith(("xnn_", "tflite::xnnpack::")) for f in frames):
        return "XNNPACK delegate", leaf
    ops = [m.group(1) for m in map(_BUILTIN_OP.search, frames) if m]
    return (f"TFLite kernel: {ops[-1]}" if ops else "other"), leaf


def summarise(raw_lines):
    """Shares of samples by executor and by leaf function, from py-spy's raw format
    (one 'frame;frame;... count' line per distinct stack)."""
    by_executor, by_leaf, total = collections.Counter(), collections.Counter(), 0
    for line in raw_lines:
        stack, _, count = line.rstrip("\n").rpartition(" ")
        if not stack:
            continue
        kind = classify(stack.split(";"))
        if kind is None:
            continue
        total += int(count)
        by_executor[kind[0]] += int(count)
        by_leaf[kind[1]] += int(count)
    if not total:
        raise ValueError("No samples under Interpreter.invoke: raise --invocations, or check "
                         "that py-spy could read native stacks (--native).")
    return dict(samples=total,
                by_executor=[[k, n / total] for k, n in by_executor.most_common()],
                by_leaf=[[k, n / total] for k, n in by_leaf.most_common()])


def _py_spy():
    found = shutil.which("py-spy") or shutil.which("py-spy", path=os.path.dirname(sys.executable))
    if not found:
        raise app.UsageError("py-spy is not installed: pip install py-spy (a profiler used "
                             "only by this script).")
    return found


def _worker():
    import numpy as np
    from itgc_tf.artifacts.runners import TFLiteRunner
    runner = TFLiteRunner(FLAGS.tflite, num_threads=FLAGS.threads)
    image = np.random.default_rng(0).uniform(-1, 1, runner.input_shape).astype(np.float32)
    for _ in range(FLAGS.invocations):
        runner(image)


def main(argv):
    del argv
    if not FLAGS.tflite or not os.path.isfile(FLAGS.tflite):
        raise app.UsageError(f"--tflite must name a .tflite file, got {FLAGS.tflite!r}.")
    if FLAGS.worker:
        return _worker()
    with tempfile.TemporaryDirectory() as workdir:
        raw = os.path.join(workdir, "samples.txt")
        command = [_py_spy(), "record", "--native", "--threads", "--format", "raw",
                   "--rate", str(FLAGS.rate), "--output", raw, "--", sys.executable,
                   os.path.abspath(__file__), "--worker", f"--tflite={FLAGS.tflite}",
                   f"--threads={FLAGS.threads}", f"--invocations={FLAGS.invocations}"]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode or not os.path.isfile(raw):
            sys.exit(f"py-spy failed (exit {done.returncode}); it needs permission to trace "
                     f"(in a container: --cap-add SYS_PTRACE):\n{done.stderr[-2000:]}")
        with open(raw) as f:
            report = summarise(f)
    report |= dict(tflite=FLAGS.tflite, threads=FLAGS.threads, invocations=FLAGS.invocations)
    print(f"{report['samples']} samples of {FLAGS.tflite} ({FLAGS.threads} threads)")
    for title, rows in (("by executor", report["by_executor"]), ("by function", report["by_leaf"])):
        print(f"\n{title}")
        for name, share in rows[:FLAGS.top]:
            print(f"  {100 * share:5.1f}%  {name[:100]}")
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    app.run(main)
