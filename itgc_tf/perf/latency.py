"""Batch-1 inference latency of teacher and student per format (section ``latency``)."""
import math
import os
import statistics
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
from itgc_tf.eval.latency import time_interleaved
from itgc_tf.eval.profile import profile
from itgc_tf.export import export_saved_model, export_tflite
from itgc_tf.perf.networks import demo_images, student_generator, teacher_generator


def directory_mb(path):
    """Total size of the files under ``path``, MiB."""
    return sum(os.path.getsize(os.path.join(root, name))
               for root, _, names in os.walk(path) for name in names) / 2**20


def exported_runners(model, size, formats, workdir, calibration):
    """{format: (callable on [1, size, size, 3], file MiB or None, export s or None)} of
    ``model`` in each of ``formats`` (of `itgc_tf.perf.FORMATS`), exported under
    ``workdir``; TFLite int8 is calibrated on ``calibration`` [N, size, size, 3]; parity
    is not checked."""
    runners = {"keras": (tf.function(lambda x: model(x, training=False)), None, None),
               "keras_eager": (lambda x: model(x, training=False), None, None)}
    saved = os.path.join(workdir, model.name)
    if any(f == "saved_model" or f.startswith("tflite") for f in formats):
        start = time.perf_counter()
        export_saved_model(model, saved, input_nc=3, output_nc=3)
        runners["saved_model"] = (SavedModelRunner(saved), directory_mb(saved),
                                  time.perf_counter() - start)
    for fmt in formats:
        if fmt.startswith("tflite"):
            path = os.path.join(workdir, f"{model.name}_{fmt}.tflite")
            start = time.perf_counter()
            export_tflite(saved, path, input_size=(size, size), parity_images=calibration[:1],
                          quantization=fmt.removeprefix("tflite_"),
                          representative_images=calibration,
                          min_parity_psnr=-math.inf,  # timing only: parity is not checked
                          loaded=runners["saved_model"][0].loaded)
            runners[fmt] = (TFLiteRunner(path, num_threads=os.cpu_count()),
                            os.path.getsize(path) / 2**20, time.perf_counter() - start)
    return {f: runners[f] for f in formats}


def measure_latency(spec):
    """Batch-1 latency of teacher and student in each format, timed interleaved.

    spec: {size, formats, runs, calibration (images for int8)}. Returns one record
    per (model, format): {model, size, format, median_ms, p90_ms, cpu_ms, runs, gmacs,
    file_mb, export_s}; TFLite records also {device: "CPU"} (TFLite runs there).
    """
    keras.utils.set_random_seed(0)
    size = spec["size"]
    calibration = demo_images(size, spec["calibration"])["A"]
    image = calibration[:1]
    with tempfile.TemporaryDirectory() as workdir:
        runners, gmacs = {}, {}
        for role, model in (("teacher", teacher_generator()), ("student", student_generator())):
            gmacs[role] = profile(model, (size, size, 3)).macs / 1e9
            for fmt, runner in exported_runners(model, size, spec["formats"], workdir,
                                                calibration).items():
                runners[role, fmt] = runner
        calls = {key: (lambda run=run: np.asarray(run(image))) for key, (run, _, _) in
                 runners.items()}
        timed = time_interleaved(calls, spec["runs"], warmup=2)
    return [dict(model=role, size=size, format=fmt, median_ms=1e3 * statistics.median(wall),
                 p90_ms=1e3 * float(np.percentile(wall, 90)),
                 cpu_ms=1e3 * statistics.median(cpu), runs=len(wall), gmacs=gmacs[role],
                 file_mb=runners[role, fmt][1], export_s=runners[role, fmt][2],
                 **({"device": "CPU"} if fmt.startswith("tflite") else {}))
            for (role, fmt), (wall, cpu) in timed.items()]


def speedups(latency):
    """Teacher ms / student ms per size and format of ``latency`` records, plus format
    ``tflite_int8_vs_saved_model`` (the int8 student against the teacher's SavedModel);
    pairs without a teacher figure are left out. Records {size, format, teacher_ms,
    student_ms, student_speedup}."""
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
