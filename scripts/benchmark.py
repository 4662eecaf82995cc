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
Functions compared with each other (sections ``vem_share`` and ``latency``) are timed
interleaved, round after round, so that the machine's varying load hits them alike.

Sections (``--sections``) and their JSON records, every time in seconds unless named _ms:
  train: {config, size, batch, jit, step_s, step_s_runs, images_per_s, cpu_s_per_step,
    first_call_s, traces, peak_rss_mb, rss_before_first_step_mb}; ``jit`` is whether
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
Also ``meta``: machine, versions, oneDNN, load averages, options; ``errors``: failed
measurements (the rest still runs).
"""
import collections
import glob
import json
import math
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

CONFIGS = ("pix2pix_teacher", "cyclegan_teacher", "kd", "kd_vem", "gan_compression_vem",
           "omgd_vem")
SECTIONS = ("train", "vem_share", "latency", "data", "profile")
FORMATS = ("keras", "keras_eager", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_int8")
# Feature pairs of GAN Compression / OMGD for ResNet-9 (their model.9/12/15/18).
RESNET_PAIRS = (("down_1", "down_1"), ("block_2", "block_2"), ("block_5", "block_5"),
                ("block_8", "block_8"))
VEM_WEIGHT = 0.1
MAX_CRITIC_BLOCKS = 7
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
flags.DEFINE_list("sections", list(SECTIONS), f"What to measure, of {SECTIONS}.")
flags.DEFINE_list("formats", list(FORMATS), f"Inference formats, of {FORMATS}.")
flags.DEFINE_integer("repeats", 3, "Timed calls (steps, epochs) per figure; the median is kept.")
flags.DEFINE_integer("latency_runs", 10, "Timed inference calls per latency figure.")
flags.DEFINE_integer("timeout", 3600, "Seconds before one measurement's subprocess is killed.")
flags.DEFINE_bool("isolate", True, "Run each measurement in a fresh subprocess (peak RSS per "
                  "configuration). --noisolate runs all in this process: one start-up, but "
                  "peak RSS figures are then the process's running maximum.")
flags.DEFINE_string("worker", None, "Internal: run one measurement (JSON spec) and print it.")
FLAGS = flags.FLAGS


# --------------------------------------------------------------- networks
def critic_blocks(size):
    """Critic blocks at ``size``: 7 (the reference) or the most the pooled input allows."""
    from itgc_tf.vem import EnergyCritic
    return min(MAX_CRITIC_BLOCKS, EnergyCritic().max_blocks_for(size))


def _teacher_generator(prefix="teacher_"):
    from itgc_tf.models.registry import build_generator
    return build_generator("resnet_9blocks", 3, 3, ngf=64, name_prefix=prefix)


def _student_generator():
    from itgc_tf.models.registry import build_generator
    return build_generator("mobile_resnet_9blocks", 3, 3, ngf=16, name_prefix="student_")


def build_train_model(config, size, jit, langevin_steps=10):
    """The compiled Keras model of training configuration ``config`` (see CONFIGS), built
    by the library's factories from the configuration the commands would parse."""
    from itgc_tf import options
    from itgc_tf.data import DatasetInfo
    from itgc_tf.recipes import RECIPES
    from itgc_tf.training import builders
    from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

    values = dict(dataset="demo:enhance", load_size=size, crop_size=size, jit_compile=jit,
                  netD="n_layers", ndf=64, n_layers_D=3)
    info = DatasetInfo(paired=True, num_examples=1, num_a=1, num_b=1, source="benchmark",
                       layout="aligned")
    teachers = {"pix2pix_teacher": "pix2pix", "cyclegan_teacher": "cycle_gan"}
    if config in teachers:
        teacher = options.from_values(TrainTeacherConfig, values | dict(
            teacher_model=teachers[config], netG="resnet_9blocks", ngf=64))
        return builders.teacher_model(teacher, "resnet_9blocks", 64, info, 1)
    recipe, vem = config.removesuffix("_vem"), config.endswith("_vem")
    if recipe not in RECIPES:
        raise ValueError(f"Unknown benchmark configuration {config!r}; use one of {CONFIGS}.")
    distill = options.from_values(DistillConfig, values | dict(
        recipe=recipe, student_netG="mobile_resnet_9blocks", student_ngf=16,
        teacher_netG=("resnet_9blocks",), teacher_ngf=(64,),
        distill_pairs=() if recipe == "kd" else RESNET_PAIRS,
        vem_weight=VEM_WEIGHT if vem else 0.0, langevin_steps=langevin_steps,
        critic_blocks=critic_blocks(size)))
    resources = {}
    if recipe == "omgd":
        from itgc_tf.losses.vgg import VGGFeatures
        resources["vgg"] = VGGFeatures(allow_random_weights_for_testing=True)
    return builders.build_distiller(distill, info, 1, teacher=_teacher_generator(), **resources)


def demo_config(size, batch):
    """demo:enhance at ``size`` (loaded at size * 286/256, randomly cropped, flipped)."""
    from itgc_tf.data import DataConfig
    return DataConfig(dataset="demo:enhance", load_size=round(size * 286 / 256), crop_size=size,
                      batch_size=batch)


def demo_images(size, count):
    """``count`` demo:enhance training pairs: {"A", "B"} float32 [count, size, size, 3]."""
    from itgc_tf.data import build_dataset
    batch = next(iter(build_dataset(demo_config(size, count))))
    return {k: v.numpy() for k, v in batch.items()}


# ----------------------------------------------------------------- timing
def _peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def compiled_step(model, batch):
    """(step, traced): ``step()`` runs the model's train step once on ``batch``,
    compiled as Keras compiles it for ``fit`` (tf.function, reduce_retracing, XLA per
    the model's ``jit_compile``); ``traced()`` is (how often it was traced: 1 = no
    retracing, the graph of its trace)."""
    import tensorflow as tf

    function = tf.function(model.train_step, reduce_retracing=True,
                           jit_compile=model.jit_compile)
    data = tf.nest.map_structure(tf.constant, batch)

    def step():
        return {k: float(v) for k, v in function(data).items()}

    def traced():
        return (function.experimental_get_tracing_count(),
                function.get_concrete_function(data).graph)

    return step, traced


def _first_call(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ------------------------------------------------------------- measurements
def measure_train(spec):
    """One training configuration at one size, batch and XLA setting."""
    import keras
    from itgc_tf.eval.latency import time_interleaved
    keras.utils.set_random_seed(0)
    size, batch = spec["size"], spec["batch"]
    data = demo_images(size, batch)
    model = build_train_model(spec["config"], size, spec["jit"])
    step, traced = compiled_step(model, data)
    rss_before = _peak_rss_mb()
    first = _first_call(step)
    runs, cpu = time_interleaved({"step": step}, spec["repeats"], warmup=0)["step"]
    step_s = statistics.median(runs)
    return dict(config=spec["config"], size=size, batch=batch, jit=bool(model.jit_compile),
                step_s=step_s, step_s_runs=runs, images_per_s=batch / step_s,
                cpu_s_per_step=statistics.median(cpu), first_call_s=first, traces=traced()[0],
                peak_rss_mb=_peak_rss_mb(), rss_before_first_step_mb=rss_before)


def _graph_op_counts(graph):
    """Op-type counts over a graph and its function library."""
    graph_def = graph.as_graph_def()
    ops = collections.Counter(node.op for node in graph_def.node)
    for function in graph_def.library.function:
        ops.update(node.op for node in function.node_def)
    return ops


def measure_vem_share(spec):
    """kd and kd+VEM steps and the VEM pieces on the same shapes, timed interleaved.

    spec["in_situ"] adds a kd+VEM step with K=0 (no Langevin); spec["langevin_xla"] adds
    the Langevin chain compiled with XLA. Figures left out are None.
    """
    import keras
    import tensorflow as tf
    from itgc_tf.eval.latency import time_interleaved
    from itgc_tf.vem import ebm_loss, mi_loss

    keras.utils.set_random_seed(0)
    size, batch = spec["size"], spec["batch"]
    data = demo_images(size, batch)
    variants = [("kd", "kd", 10), ("kd_vem", "kd_vem", 10)]
    variants += [("kd_vem_k0", "kd_vem", 0)] if spec["in_situ"] else []
    models = {name: build_train_model(config, size, False, langevin_steps=k)
              for name, config, k in variants}
    fns, traced = {}, {}
    for name, model in models.items():
        fns[f"{name}_step"], traced[name] = compiled_step(model, data)
    distiller = models["kd_vem"]
    critic, l2 = distiller.critic, distiller.vem.energy_l2
    x = tf.constant(data["A"])
    t = distiller.teachers[0](x, training=False)
    s = distiller.student(x, training=False)
    seed = tf.constant([0, 1])

    def sampler(jit):
        return tf.function(lambda s: distiller.langevin_sample(s, seed=seed), jit_compile=jit)

    @tf.function
    def critic_update(t, s, t_neg):  # the Distiller's critic step without its Langevin chain
        with tf.GradientTape() as tape:
            energies = critic((tf.concat([t, t_neg], 0), tf.concat([s, s], 0)), training=True)
            loss = ebm_loss(energies[:batch], energies[batch:], l2)
        grads = tape.gradient(loss, critic.trainable_variables)
        distiller.critic_optimizer.apply(grads, critic.trainable_variables)
        return loss

    @tf.function
    def mi_term(t, s, t_neg):  # the student's L_MI and its gradient into s
        with tf.GradientTape() as tape:
            tape.watch(s)
            loss = mi_loss(critic, t, s, t_neg)
        return tape.gradient(loss, s)

    langevin = sampler(False)
    t_neg = langevin(s)
    fns |= {"langevin": lambda: langevin(s).numpy(),
            "critic_update": lambda: critic_update(t, s, t_neg).numpy(),
            "mi_term": lambda: mi_term(t, s, t_neg).numpy()}
    if spec["langevin_xla"]:
        langevin_xla = sampler(True)
        fns["langevin_xla"] = lambda: langevin_xla(s).numpy()
    for fn in fns.values():  # first calls: tracing and compilation
        fn()
    median = {name: statistics.median(wall)
              for name, (wall, _) in time_interleaved(fns, spec["repeats"], warmup=0).items()}
    step_traces, step_graph = traced["kd_vem"]()
    ops = _graph_op_counts(step_graph)
    vem_s, k0_s = median["kd_vem_step"], median.get("kd_vem_k0_step")
    return dict(
        size=size, batch=batch, critic_blocks=distiller.vem.critic_blocks,
        kd_step_s=median["kd_step"], kd_vem_step_s=vem_s, kd_vem_k0_step_s=k0_s,
        langevin_s=median["langevin"], langevin_xla_s=median.get("langevin_xla"),
        critic_update_s=median["critic_update"], mi_term_s=median["mi_term"],
        langevin_share=median["langevin"] / vem_s,
        critic_update_share=median["critic_update"] / vem_s,
        langevin_critic_share=(median["langevin"] + median["critic_update"]) / vem_s,
        langevin_share_in_situ=None if k0_s is None else 1.0 - k0_s / vem_s,
        vem_share_in_situ=1.0 - median["kd_step"] / vem_s,
        kd_vem_vs_kd=median["kd_step"] / vem_s,
        step_traces=step_traces, step_while_loops=ops["While"] + ops["StatelessWhile"],
        step_loop_accumulators=ops["TensorListPushBack"], peak_rss_mb=_peak_rss_mb())


def _exported_runners(model, size, formats, workdir, calibration):
    """{format: (callable on [1, size, size, 3], file MB or None, export seconds or None)}."""
    import tensorflow as tf
    from itgc_tf.export import export_saved_model, export_tflite
    from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner

    runners = {"keras": (tf.function(lambda x: model(x, training=False)), None, None),
               "keras_eager": (lambda x: model(x, training=False), None, None)}
    saved = os.path.join(workdir, model.name)
    if any(f == "saved_model" or f.startswith("tflite") for f in formats):
        start = time.perf_counter()
        export_saved_model(model, saved, input_nc=3, output_nc=3)
        mb = sum(os.path.getsize(os.path.join(root, name))
                 for root, _, names in os.walk(saved) for name in names) / 2**20
        runners["saved_model"] = (SavedModelRunner(saved), mb, time.perf_counter() - start)
    for fmt in formats:
        if fmt.startswith("tflite"):
            path = os.path.join(workdir, f"{model.name}_{fmt}.tflite")
            start = time.perf_counter()
            export_tflite(saved, path, input_size=(size, size), parity_images=calibration[:1],
                          quantization=fmt.removeprefix("tflite_"),
                          representative_images=calibration,
                          min_parity_psnr=-math.inf)  # timing only: parity is not checked
            runners[fmt] = (TFLiteRunner(path, num_threads=os.cpu_count()),
                            os.path.getsize(path) / 2**20, time.perf_counter() - start)
    return {f: runners[f] for f in formats}


def measure_latency(spec):
    """Batch-1 latency of teacher and student in each format (timed interleaved), with MACs."""
    import keras
    import numpy as np
    from itgc_tf.eval.latency import time_interleaved
    from itgc_tf.eval.profile import profile

    keras.utils.set_random_seed(0)
    size = spec["size"]
    calibration = demo_images(size, spec["calibration"])["A"]
    image = calibration[:1]
    with tempfile.TemporaryDirectory() as workdir:
        runners, gmacs = {}, {}
        for role, model in (("teacher", _teacher_generator()), ("student", _student_generator())):
            gmacs[role] = profile(model, (size, size, 3)).macs / 1e9
            for fmt, runner in _exported_runners(model, size, spec["formats"], workdir,
                                                 calibration).items():
                runners[role, fmt] = runner
        calls = {key: (lambda run=run: np.asarray(run(image))) for key, (run, _, _) in
                 runners.items()}
        timed = time_interleaved(calls, spec["runs"], warmup=2)
    return [dict(model=role, size=size, format=fmt, median_ms=1e3 * statistics.median(wall),
                 p90_ms=1e3 * float(np.percentile(wall, 90)),
                 cpu_ms=1e3 * statistics.median(cpu), runs=len(wall), gmacs=gmacs[role],
                 file_mb=runners[role, fmt][1], export_s=runners[role, fmt][2])
            for (role, fmt), (wall, cpu) in timed.items()]


def measure_data(spec):
    """demo:enhance pipeline images/s (A+B pairs) at one size and batch."""
    from itgc_tf.data import build_dataset, dataset_info
    from itgc_tf.eval.latency import time_interleaved
    config = demo_config(spec["size"], spec["batch"])
    ds = build_dataset(config)
    seen = dataset_info(config).num_examples // config.batch_size * config.batch_size

    def epoch():
        for batch in ds:
            batch["A"].numpy()

    runs, _ = time_interleaved({"epoch": epoch}, spec["repeats"])["epoch"]
    return dict(source="demo:enhance", size=spec["size"], batch=spec["batch"],
                images_per_s=seen / statistics.median(runs))


_TF_OP_EVENT = re.compile(r"^[^ :]+:[A-Za-z_][A-Za-z0-9_]*$")  # "scope/name:OpType"


def _part(op_name):
    """Which part of a step an op (``scope/.../name:Type``) belongs to."""
    name = op_name.split(":")[0]
    if "while/body" in name or "while/cond" in name:
        return "langevin_loop"
    for part in ("critic", "student", "teacher", "discriminator", "n_layers", "adam"):
        if part in name.lower():
            return {"n_layers": "discriminator", "adam": "optimizers"}.get(part, part)
    return "other"


def summarise_trace(logdir, calls):
    """Op time of a TF-profiler trace: total ms per call, shares by op type and by part."""
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    by_op, by_part = collections.Counter(), collections.Counter()
    for path in glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True):
        space = xplane_pb2.XSpace()
        with open(path, "rb") as f:
            space.ParseFromString(f.read())
        for plane in space.planes:
            for line in plane.lines:
                for event in line.events:
                    name = plane.event_metadata[event.metadata_id].name
                    if not _TF_OP_EVENT.match(name):  # not an op (a function call, executor...)
                        continue
                    by_op[name.rsplit(":", 1)[1]] += event.duration_ps
                    by_part[_part(name)] += event.duration_ps
    total = sum(by_op.values()) or 1
    return dict(op_ms_per_call=total / 1e9 / calls,
                by_op=[[op, ps / total] for op, ps in by_op.most_common(12)],
                by_part={part: ps / total for part, ps in by_part.most_common()})


def measure_profile(spec):
    """TF-profiler traces of kd+VEM steps and of student SavedModel inference."""
    import keras
    import tensorflow as tf
    from itgc_tf.export import export_saved_model
    from itgc_tf.artifacts.runners import SavedModelRunner

    keras.utils.set_random_seed(0)
    size, batch, calls = spec["size"], spec["batch"], 2
    data = demo_images(size, batch)
    step, _ = compiled_step(build_train_model("kd_vem", size, False), data)
    records = []
    with tempfile.TemporaryDirectory() as workdir:
        student = _student_generator()
        export_saved_model(student, os.path.join(workdir, "student"), input_nc=3, output_nc=3)
        runner = SavedModelRunner(os.path.join(workdir, "student"))
        x = data["A"][:1]
        for what, fn in (("kd_vem_step", step), ("student_saved_model", lambda: runner(x))):
            fn()
            fn()
            logdir = os.path.join(workdir, what)
            tf.profiler.experimental.start(logdir)
            for _ in range(calls):
                fn()
            tf.profiler.experimental.stop()
            records.append(dict(what=what, size=size, batch=batch if what != "student_saved_model"
                                else 1, **summarise_trace(logdir, calls)))
    return records


MEASURE = {"train": measure_train, "vem_share": measure_vem_share, "latency": measure_latency,
           "data": measure_data, "profile": measure_profile}


# ------------------------------------------------------------------ driver
def run_in_process(spec):
    """Run one measurement here; its result (dict or list) or an error."""
    try:
        return MEASURE[spec["section"]](spec)
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
    return specs


def speedups(latency):
    """Teacher/student latency ratios per size and format (and int8 student vs teacher SavedModel)."""
    ms = {(r["model"], r["size"], r["format"]): r["median_ms"] for r in latency}
    out = []
    for (model, size, fmt), student_ms in ms.items():
        if model != "student":
            continue
        pairs = [(fmt, ms.get(("teacher", size, fmt)))]
        if fmt == "tflite_int8":
            pairs.append(("tflite_int8_vs_saved_model", ms.get(("teacher", size, "saved_model"))))
        out += [dict(size=size, format=name, teacher_ms=teacher_ms, student_ms=student_ms,
                     student_speedup=teacher_ms / student_ms)
                for name, teacher_ms in pairs if teacher_ms is not None]
    return out


def _cell(value, spec=""):
    return "-" if value is None else format(value, spec)


def _table(title, header, rows):
    """Print a right-aligned table (first column left-aligned)."""
    rows = [[_cell(c) if not isinstance(c, str) else c for c in row] for row in rows]
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    print(f"\n{title}")
    for row in [header] + rows:
        print("  ".join(f"{c:<{w}}" if i == 0 else f"{c:>{w}}"
                        for i, (c, w) in enumerate(zip(row, widths))))


def print_tables(report):
    """Human-readable tables of a report."""
    data = {(r["size"], r["batch"]): r["images_per_s"] for r in report["data"]}
    if report["train"]:
        _table("Training step (median of timed steps after the first): data x = pipeline "
               "images/s / step images/s",
               ["config", "size", "batch", "xla", "images/s", "step s", "cpu s", "first s",
                "traces", "peak RSS MB", "data x"],
               [[r["config"], r["size"], r["batch"], "on" if r["jit"] else "off",
                 _cell(r["images_per_s"], ".3f"), _cell(r["step_s"], ".3f"),
                 _cell(r["cpu_s_per_step"], ".3f"), _cell(r["first_call_s"], ".1f"),
                 r["traces"], _cell(r["peak_rss_mb"], ".0f"),
                 _cell(data.get((r["size"], r["batch"])) and
                       data[r["size"], r["batch"]] / r["images_per_s"], ".0f")]
                for r in report["train"]])
    if report["vem_share"]:
        _table("kd+VEM step, XLA off (s; shares of the kd+VEM step; vem/kd = throughput ratio)",
               ["size", "batch", "kd", "kd+vem", "K=0", "langevin", "lang XLA", "critic upd",
                "MI term", "lang+crit %", "in situ lang %", "in situ vem %", "vem/kd",
                "accum"],
               [[r["size"], r["batch"], _cell(r["kd_step_s"], ".3f"),
                 _cell(r["kd_vem_step_s"], ".3f"), _cell(r["kd_vem_k0_step_s"], ".3f"),
                 _cell(r["langevin_s"], ".3f"), _cell(r["langevin_xla_s"], ".3f"),
                 _cell(r["critic_update_s"], ".3f"), _cell(r["mi_term_s"], ".3f"),
                 _cell(100 * r["langevin_critic_share"], ".1f"),
                 _cell(r["langevin_share_in_situ"] and 100 * r["langevin_share_in_situ"], ".1f"),
                 _cell(100 * r["vem_share_in_situ"], ".1f"), _cell(r["kd_vem_vs_kd"], ".2f"),
                 r["step_loop_accumulators"]] for r in report["vem_share"]])
    if report["latency"]:
        _table("Inference latency, batch 1 (median ms; cpu = process CPU ms)",
               ["model", "size", "format", "median ms", "p90 ms", "cpu ms", "GMACs", "MB"],
               [[r["model"], r["size"], r["format"], _cell(r["median_ms"], ".1f"),
                 _cell(r["p90_ms"], ".1f"), _cell(r["cpu_ms"], ".1f"), _cell(r["gmacs"], ".2f"),
                 _cell(r["file_mb"], ".1f")] for r in report["latency"]])
        _table("Student speed-up (teacher ms / student ms)",
               ["size", "format", "teacher ms", "student ms", "speed-up"],
               [[r["size"], r["format"], _cell(r["teacher_ms"], ".1f"),
                 _cell(r["student_ms"], ".1f"), _cell(r["student_speedup"], ".1f")]
                for r in report["speedups"]])
    if report["data"]:
        _table("Input pipeline (demo:enhance)", ["source", "size", "batch", "images/s"],
               [[r["source"], r["size"], r["batch"], _cell(r["images_per_s"], ".1f")]
                for r in report["data"]])
    for r in report["profile"]:
        parts = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["by_part"].items())
        ops = ", ".join(f"{k} {100 * v:.0f}%" for k, v in r["by_op"][:6])
        print(f"\nProfile of {r['what']} at {r['size']}px, batch {r['batch']}: "
              f"{r['op_ms_per_call']:.0f} ms of op time per call\n  by part: {parts}\n"
              f"  by op: {ops}")
    for e in report["errors"]:
        print(f"\nFAILED {e['spec']}: {e['error'][-1000:]}")


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
    options = dict(quick=FLAGS.quick, sizes=ints(FLAGS.sizes, "sizes"), batches=ints(FLAGS.batches, "batches"),
                   jit=jit, configs=FLAGS.configs, sections=FLAGS.sections,
                   formats=FLAGS.formats, repeats=FLAGS.repeats,
                   latency_runs=FLAGS.latency_runs, calibration=8)
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
        print(RESULT_TAG + json.dumps(MEASURE[spec["section"]](spec)), flush=True)
        return
    options = _options()
    import keras
    import tensorflow as tf

    report = dict(meta=dict(
        quick=FLAGS.quick, options=options, isolate=FLAGS.isolate, cpu_count=os.cpu_count(),
        processor=platform.processor() or platform.machine(), platform=platform.platform(),
        python=platform.python_version(), tensorflow=tf.__version__, keras=keras.__version__,
        onednn=_onednn_on(), load_average_start=list(os.getloadavg()),
        started_utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        notes=["random weights everywhere (OMGD's VGG16: allow_random_weights_for_testing); "
               "timing does not depend on weight values",
               "TFLite latency with num_threads = cpu_count; int8 calibrated on "
               f"{options['calibration']} demo images, parity not enforced"]),
        train=[], vem_share=[], latency=[], speedups=[], data=[], profile=[], errors=[])
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
    report["meta"]["load_average_end"] = list(os.getloadavg())
    report["meta"]["wall_s"] = time.perf_counter() - start
    print_tables(report)
    print(f"\nwall {report['meta']['wall_s']:.0f} s; load average "
          f"{report['meta']['load_average_start']} -> {report['meta']['load_average_end']}")
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {FLAGS.json}")


if __name__ == "__main__":
    app.run(main)
