"""Benchmark harness: training-step throughput, the VEM share of a step, inference
latency of exported generators, peak host memory and input-pipeline throughput.

    python scripts/benchmark.py --quick --json=bench_quick.json   # < 3 min on 2 CPU cores
    python scripts/benchmark.py --json=bench.json     # 256/128, batch 1/4, XLA off/on: hours
    python scripts/benchmark.py --sizes=128 --batches=1 --jit=off --configs=kd,kd_vem

Results, method and findings on the project's machine: docs/PERFORMANCE.md.

Networks have the reference shapes: teacher ResNet-9 ngf 64, student MobileResNet-9
ngf 16, PatchGAN discriminators ndf 64 (3 layers), energy critic base width 16 with
7 blocks at 256x256 (at smaller sizes the most that fit: 6 at 128x128). Every network
has random weights: time does not depend on weight values (OMGD's VGG16 included, built
with ``allow_random_weights_for_testing``). Inputs are one fixed in-memory batch of
``demo:enhance`` images, so the input pipeline is not in the step time; it is
measured on its own (section ``data``).

Method. Each measurement runs in a fresh subprocess (``--noisolate``: all in this
process), so its peak RSS is that of one configuration. A step is the model's
train step compiled as Keras compiles it for ``fit`` (``tf.function`` with
reduce_retracing, XLA per ``--jit``), called on the fixed batch. The first call (tracing,
compilation) is reported apart and excluded; each figure is the median of
``--repeats`` timed calls after it, each call ending with a host copy of a result.
Functions compared with each other (sections ``vem_share``, ``latency`` and
``precision``) are timed interleaved, round after round, so that the machine's varying
load hits them alike.

Sections (``--sections``) and their JSON records, every time in seconds unless named _ms:
  train: {config, size, batch, jit, step_s, step_s_runs, images_per_s, cpu_s_per_step,
    first_call_s, traces, peak_rss_mb, rss_before_first_step_mb, peak_device_mb (peak GPU
    memory TF allocated; None on the CPU)}; ``jit`` is whether
    XLA was really on; ``cpu_s_per_step`` is process CPU time (less load-dependent than
    wall time); ``traces`` counts traces of the compiled train step (1 = no retracing).
  vem_share: kd and kd+VEM at one size/batch, XLA off: {size, batch, critic_blocks,
    kd_step_s, kd_vem_step_s, kd_vem_k0_step_s (K=0: no Langevin), langevin_s,
    langevin_xla_s (the chain compiled by XLA), critic_update_s (critic forward and
    backward on [t; t~] and its Adam step), mi_term_s (L_MI and its gradient into s),
    langevin_share, critic_update_share, langevin_critic_share (the sum; the issue's
    target: <= 0.25), langevin_share_in_situ = 1 - k0/kd_vem, vem_share_in_situ =
    1 - kd/kd_vem, kd_vem_vs_kd (throughput ratio; target >= 0.75), step_traces,
    step_while_loops, step_loop_accumulators (TensorListPushBack ops in the step's
    graph: 0 = no tape keeps the K Langevin steps' activations), peak_rss_mb (of the
    process holding all variants)}. --quick leaves out K=0 and XLA (None).
  latency: batch 1: {model: teacher|student, size, format: keras (tf.function) |
    keras_eager | saved_model | tflite_fp32 | tflite_fp16 | tflite_int8, median_ms,
    p90_ms, cpu_ms, runs, gmacs, file_mb, export_s}; ``speedups``: {size, format,
    teacher_ms, student_ms, student_speedup} per format, plus format
    ``tflite_int8_vs_saved_model`` (the int8 student against the teacher's SavedModel).
    TFLite runs with num_threads = CPU count; int8 is calibrated on 8 demo images (2
    with --quick); parity is not enforced (random weights).
  data: {source, size, batch, images_per_s}: demo:enhance pipeline (load, resize,
    random crop, flip, batch), median of --repeats epochs after a warm-up epoch.
  profile: a TF-profiler trace of kd+VEM steps and of the student SavedModel,
    summarised: {what, size, batch, op_ms_per_call, by_op: [[op, share]], by_part:
    {part: share}}; op time summed over threads, parts from op-name scopes.
  vs_torch: see --vs_torch: {size, batch, vem, precision, torch_ms, itgc_ms, speedup_x,
    torch_ms_rounds, itgc_ms_rounds, torch, torch_threads, tf_threads}.
  precision: the anchor step (the vs_torch step, ours only) under each --precisions
    policy, kd and kd+VEM, timed interleaved in one process (critic blocks as in
    vem_share): per variant {size, batch, precision, vem, ms, cpu_ms, ms_rounds, vem_adds
    (kd+VEM / kd - 1, on kd+VEM records), vs_float32_x (float32 ms / this ms)}.
  block_conv: `PixelBlockConv2D` on 2x2 pixel blocks against the plain convolution, for
    the output convolutions of the generators and neighbouring shapes (kernel 3-7, 1-16
    filters), forward and training (forward + every gradient), interleaved, output
    size x size: per shape {size, batch, kernel, in_channels, filters, plain_ms,
    blocks_ms, plain_train_ms, blocks_train_ms, speedup_x, train_speedup_x}.
  per_example: the frozen teacher's forward pass one image at a time
    (`per_example_forward`, as the Distiller runs it on CPU) against one batched call,
    interleaved: the teacher alone (MobileResNet-9 and ResNet-9, ngf 64) and, unless
    --quick, the anchor step (kd and kd+VEM) built both ways: per record {what:
    teacher_forward|anchor_step, teacher, vem, size, batch, batched_ms, per_example_ms,
    speedup_x}. Batches >= 2 only (batch 1 runs the same graph both ways).
  core_scaling: the anchor step (kd, kd+VEM, float32) and three of its parts (teacher
    forward, student forward + backward, Langevin chain), each timed in processes with
    one TF thread and with TF's default threads (order one, default, default, one);
    --repeats calls per piece and process: per piece {piece, size, batch, cores,
    one_thread_ms, all_threads_ms, one_thread_cpu_ms, all_threads_cpu_ms, scaling_x
    (one / all), ideal_ms (one_thread_ms / cores: the bound of perfect core use),
    threads_seen}.
  core_bounds (derived when vs_torch and core_scaling ran at one size and batch, float32):
    per vs_torch row {size, batch, vem, torch_ms, one_thread_ms, all_threads_ms, scaling_x,
    perfect_speedup_x (torch_ms / ideal_ms), scaling_for_2x (one_thread_ms / (torch_ms /
    2)), work_cut_for_2x (share of the one-thread work 2x needs removed at today's
    scaling), vem_work_share (kd+VEM rows: kd+VEM / kd one-thread ms - 1),
    scaling_for_vem_adds_10pct (kd+VEM rows: kd+VEM one-thread ms / (1.1 kd default ms))}.
Every measured record also has ``device``: "CPU" or "GPU: <name>". On a machine with a
GPU, TensorFlow runs the sections there (TFLite latency stays on the CPU), except
vs_torch and core_scaling, which hide the GPU: the anchor runs on the CPU and core
scaling is about the CPU's cores (``itgc_tf.perf.devices``).
Also ``meta``: machine, versions, oneDNN, hardware {cpu, cpu_cores, gpu}, load averages,
options; ``errors``: failed measurements (the rest still runs).

The measurements and tables live in ``itgc_tf.perf`` (one module per section); this
script parses the flags, plans the runs, isolates them in subprocesses and prints.
"""
import json
import os
import platform
import subprocess
import sys
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The itgc_tf beside this script, not another checkout installed in the environment.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from itgc_tf.artifacts.atomic import atomic_output  # noqa: E402
from itgc_tf.perf import CONFIGS, FORMATS, SECTIONS, measure  # noqa: E402

RESULT_TAG = "BENCH_RESULT "

flags.DEFINE_bool("quick", False, "Reduced set that finishes in under 3 minutes on 2 CPU cores: "
                  "128x128, batch 1, sections vem_share (kd vs kd+VEM and the VEM pieces; no "
                  "K=0 step, no XLA chain), latency (keras, saved_model, tflite_int8) and data; "
                  "2 repeats. Flags given explicitly override these.")
flags.DEFINE_string("json", None, "Write every figure to this JSON file.")
flags.DEFINE_list("sizes", ["256", "128"], "Square image sizes.")
flags.DEFINE_list("batches", ["1", "4"], "Global batch sizes of the training steps.")
flags.DEFINE_list("jit", ["off", "on"], "XLA (jit_compile) settings of the training steps.")
flags.DEFINE_list("configs", list(CONFIGS), f"Training configurations, of {CONFIGS}.")
flags.DEFINE_list("sections", [s for s in SECTIONS if s != "vs_torch"],
                  f"What to measure, of {SECTIONS} (default: all but vs_torch, which "
                  "--vs_torch adds). With a GPU, they run there (TFLite latency on the CPU), "
                  "except vs_torch and core_scaling, which compare with the CPU and hide it.")
flags.DEFINE_list("formats", list(FORMATS), f"Inference formats, of {FORMATS}.")
flags.DEFINE_integer("repeats", 3, "Timed calls (steps, epochs) per figure; the median is kept.")
flags.DEFINE_integer("latency_runs", 10, "Timed inference calls per latency figure.")
flags.DEFINE_integer("timeout", 3600, "Seconds before one measurement's subprocess is killed.")
flags.DEFINE_bool("isolate", True, "Run each measurement in a fresh subprocess (peak RSS per "
                  "configuration). --noisolate runs all in this process: one start-up, but "
                  "peak RSS figures are then the process's running maximum, and on a "
                  "machine with a GPU the CPU-only sections (vs_torch, core_scaling) fail "
                  "once an earlier section has used it.")
flags.DEFINE_string("vs_torch", None, "Python interpreter with PyTorch: adds section vs_torch, "
                    "the anchor step (--torch_anchor) side by side with ours built from the "
                    "library's pieces, rounds alternating, at each size >= 256, batch and "
                    "--precisions, kd and kd+VEM. PyTorch is never a dependency of itgc_tf.")
flags.DEFINE_string("torch_anchor", os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), os.pardir, "shared", "anchors",
    "torch_vem_step.py"), "The PyTorch anchor script (vs_torch).")
flags.DEFINE_list("precisions", ["float32", "mixed_bfloat16"],
                  "Keras dtype policies of our generators in sections vs_torch and precision.")
flags.DEFINE_integer("anchor_steps", 5, "Timed steps per round and side in section vs_torch.")
flags.DEFINE_string("worker", None, "Internal: run one measurement (JSON spec) and print it.")
FLAGS = flags.FLAGS


# ------------------------------------------------------------------ driver
def run_in_process(spec):
    """Run one measurement here; its result (dict or list) or an error."""
    try:
        return measure(spec)
    except Exception as e:  # noqa: BLE001 -- recorded; the other measurements still run
        return {"error": f"{type(e).__name__}: {e}", "spec": spec}


def run_isolated(spec, timeout):
    """Run one measurement in a fresh Python process; its result (dict or list) or an error."""
    command = [sys.executable, os.path.abspath(__file__), f"--worker={json.dumps(spec)}"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s (raise --timeout)", "spec": spec}
    results = [line[len(RESULT_TAG):] for line in done.stdout.splitlines()
               if line.startswith(RESULT_TAG)]
    if done.returncode or not results:
        return {"error": f"exit {done.returncode}: {done.stderr.strip()[-2000:]}", "spec": spec}
    return json.loads(results[-1])


def plan(options):
    """The measurement specs of a run, in order."""
    sizes, batches, jits = options["sizes"], options["batches"], options["jit"]
    specs = []
    sections = options["sections"]
    if "train" in sections:
        specs += [dict(section="train", config=c, size=s, batch=b, jit=j,
                       repeats=options["repeats"])
                  for s in sizes for b in batches for c in options["configs"] for j in jits]
    if "vem_share" in sections:
        specs += [dict(section="vem_share", size=s, batch=b, repeats=options["repeats"],
                       in_situ=not options["quick"], langevin_xla=not options["quick"])
                  for s in sizes for b in batches]
    if "latency" in sections:
        specs += [dict(section="latency", size=s, formats=options["formats"],
                       runs=options["latency_runs"], calibration=options["calibration"])
                  for s in sizes]
    if "data" in sections:
        specs += [dict(section="data", size=s, batch=b, repeats=options["repeats"])
                  for s in sizes for b in batches]
    if "profile" in sections:
        specs.append(dict(section="profile", size=sizes[0], batch=1))
    if "vs_torch" in sections:
        specs += [dict(section="vs_torch", size=s, batch=b, vem=vem, precision=p,
                       repeats=options["repeats"], steps=options["anchor_steps"],
                       python=options["vs_torch"], anchor=options["torch_anchor"])
                  for s in sizes if s >= 256 for b in batches for p in options["precisions"]
                  for vem in (False, True)]
    if "precision" in sections:
        specs += [dict(section="precision", size=s, batch=b, repeats=options["repeats"],
                       precisions=options["precisions"]) for s in sizes for b in batches]
    if "block_conv" in sections:
        specs += [dict(section="block_conv", size=s, batch=b, repeats=options["repeats"])
                  for s in sizes for b in batches]
    if "per_example" in sections:
        specs += [dict(section="per_example", size=s, batch=b, repeats=options["repeats"],
                       steps=not options["quick"]) for s in sizes for b in batches if b >= 2]
    if "core_scaling" in sections:
        specs += [dict(section="core_scaling", size=s, batch=b, repeats=options["repeats"],
                       timeout=FLAGS.timeout) for s in sizes for b in batches]
    return specs


def _options():
    def ints(values, name):
        try:
            return [int(v) for v in values]
        except ValueError:
            raise app.UsageError(f"--{name} takes integers, got {values}.")

    jit = [{"off": False, "on": True}.get(v) for v in FLAGS.jit]
    if None in jit:
        raise app.UsageError(f"--jit takes off and/or on, got {FLAGS.jit}.")
    for name, values, valid in (("configs", FLAGS.configs, CONFIGS),
                                ("sections", FLAGS.sections, SECTIONS),
                                ("formats", FLAGS.formats, FORMATS)):
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise app.UsageError(f"Unknown --{name} {unknown}; choose from {list(valid)}.")
    options = dict(quick=FLAGS.quick, sizes=ints(FLAGS.sizes, "sizes"),
                   batches=ints(FLAGS.batches, "batches"), jit=jit, configs=FLAGS.configs,
                   sections=FLAGS.sections, formats=FLAGS.formats, repeats=FLAGS.repeats,
                   latency_runs=FLAGS.latency_runs, calibration=8, vs_torch=FLAGS.vs_torch,
                   torch_anchor=os.path.abspath(FLAGS.torch_anchor),
                   precisions=FLAGS.precisions, anchor_steps=FLAGS.anchor_steps)
    if FLAGS.vs_torch and "vs_torch" not in options["sections"]:
        options["sections"] = options["sections"] + ["vs_torch"]
    bad = sorted(set(options["precisions"]) - {"float32", "mixed_bfloat16", "mixed_float16"})
    if bad:
        raise app.UsageError(f"Unknown --precisions {bad}; choose from float32, "
                             "mixed_bfloat16, mixed_float16.")
    _check_vs_torch(options)
    if FLAGS.quick:  # flags given explicitly win over the quick defaults
        options["calibration"] = 2
        quick = dict(sizes=[128], batches=[1], jit=[False], repeats=2, latency_runs=3,
                     sections=["vem_share", "latency", "data"],
                     formats=["keras", "saved_model", "tflite_int8"])
        options |= {name: value for name, value in quick.items() if not FLAGS[name].present}
    if min(options["sizes"]) < 32 or min(options["batches"]) < 1 or options["repeats"] < 1:
        raise app.UsageError("--sizes must be >= 32 (the ResNet generators and the critic need "
                             "it), --batches and --repeats >= 1.")
    return options


def _check_vs_torch(options):
    """UsageError unless section vs_torch (if asked for) has what it needs."""
    if "vs_torch" not in options["sections"]:
        return
    if not options["vs_torch"]:
        raise app.UsageError("Section vs_torch needs --vs_torch=PYTHON, an interpreter with "
                             "PyTorch installed.")
    if not os.path.isfile(options["torch_anchor"]):
        raise app.UsageError(f"PyTorch anchor {options['torch_anchor']} not found. Fix: pass "
                             "--torch_anchor=PATH to torch_vem_step.py.")
    if max(options["sizes"]) < 256:
        raise app.UsageError("Section vs_torch needs --sizes with 256 or more (the anchor's "
                             "critic has 7 blocks); it runs at those sizes only.")


def _onednn_on():
    """Whether TensorFlow's oneDNN kernels are on: its default on x86-64 Linux unless
    TF_ENABLE_ONEDNN_OPTS turns them off (TF has no public query)."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    if setting is not None:
        return setting.lower() in ("1", "true")
    return platform.system() == "Linux" and platform.machine() in ("x86_64", "AMD64")


def main(argv):
    del argv
    if FLAGS.worker:
        spec = json.loads(FLAGS.worker)
        print(RESULT_TAG + json.dumps(measure(spec)), flush=True)
        return
    options = _options()
    import keras
    import tensorflow as tf
    from itgc_tf.eval.report import hardware
    from itgc_tf.perf.core_scaling import speedup_bounds
    from itgc_tf.perf.latency import speedups
    from itgc_tf.perf.tables import format_report

    report = dict(meta=dict(
        quick=FLAGS.quick, options=options, isolate=FLAGS.isolate, cpu_count=os.cpu_count(),
        processor=platform.processor() or platform.machine(), platform=platform.platform(),
        python=platform.python_version(), tensorflow=tf.__version__, keras=keras.__version__,
        onednn=_onednn_on(), hardware=hardware(), load_average_start=list(os.getloadavg()),
        started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        notes=["random weights everywhere (OMGD's VGG16: allow_random_weights_for_testing); "
               "timing does not depend on weight values",
               "TFLite latency with num_threads = cpu_count; int8 calibrated on "
               f"{options['calibration']} demo images, parity not enforced"]),
        train=[], vem_share=[], latency=[], speedups=[], data=[], profile=[], vs_torch=[],
        precision=[], block_conv=[], per_example=[], core_scaling=[], core_bounds=[], errors=[])
    start = time.perf_counter()
    for spec in plan(options):
        label = " ".join(f"{k}={v}" for k, v in spec.items() if k not in ("formats", "repeats"))
        print(f"[{time.perf_counter() - start:7.1f} s] {label}", flush=True)
        result = run_isolated(spec, FLAGS.timeout) if FLAGS.isolate else run_in_process(spec)
        if isinstance(result, dict) and "error" in result:
            report["errors"].append(result)
            print(f"  failed: {result['error'][-300:]}", flush=True)
            continue
        report[spec["section"]] += result if isinstance(result, list) else [result]
    report["speedups"] = speedups(report["latency"])
    report["core_bounds"] = speedup_bounds(report["vs_torch"], report["core_scaling"])
    report["meta"]["load_average_end"] = list(os.getloadavg())
    report["meta"]["wall_s"] = time.perf_counter() - start
    print(format_report(report))
    print(f"\nwall {report['meta']['wall_s']:.0f} s; load average "
          f"{report['meta']['load_average_start']} -> {report['meta']['load_average_end']}")
    if FLAGS.json:
        with atomic_output(FLAGS.json, overwrite=True) as tmp, open(tmp, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
