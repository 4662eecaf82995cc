"""The evaluation report of a student against its teacher: image quality, FID/KID,
cost (MACs, parameters, latency) and the export paths.

A report is a flat dict whose keys are `REPORT_KEYS`, always all present and in
that order. Units are in the names (``_db``, ``_ms``, ``_x``). Numbers are finite
numbers or null; every null value has its reason in ``null_reasons`` ({key: why}),
so a report never holds a null without one (nor "nan" strings):

- ``num_images``, ``image_size`` ([H, W] the cost is measured at), ``paired``,
  ``dataset``, ``split``, ``input_size`` ([H, W] of the evaluated images).
- ``student.psnr_db_vs_target``, ``student.ssim_vs_target``,
  ``teacher.psnr_db_vs_target``, ``teacher.ssim_vs_target``: against the ground
  truth B (paired data only); ``student.psnr_db_vs_teacher``,
  ``student.ssim_vs_teacher``: against the teacher's output. PSNR in dB and
  SSIM as `itgc_tf.eval.image_metrics` computes them, averaged over images (an
  infinite PSNR, identical images, is null with its reason).
- ``student.macs``, ``teacher.macs``, ``student.params``, ``teacher.params``:
  `itgc_tf.eval.profile` at ``image_size``, batch 1 (params: every weight);
  ``macs_ratio`` = teacher MACs / student MACs.
- ``student.latency_ms``, ``teacher.latency_ms``: median of batch-``latency.batch``
  calls after a warm-up, student and teacher calls interleaved
  (`itgc_tf.eval.latency.measure_latencies`: load changes hit both alike), of the
  Keras model as a ``tf.function`` or, when ``export_paths`` names its SavedModel,
  of that export (``*.latency_source``: "keras" or "saved_model"); ``latency.runs``,
  ``latency.statistic`` ("median"; the demo's speed table: "fastest"),
  ``latency.device`` ("GPU" or "CPU"); ``speedup_x`` = teacher / student latency.
- ``student.fid``, ``student.kid``, ``student.kid_std`` and the same for
  ``teacher``, against the real B images (``fid.real_images`` of them);
  ``fid.inception_network`` (its id), ``fid.standard_network`` (true only for
  verified weights), ``fid.standard_network_reason``; ``fid.note``: what the
  numbers compare to or, when FID/KID were skipped, why.
- with a segmenter (`itgc_tf.eval.miou`, label-map data whose batches carry
  ``"label"``): ``student.miou``, ``teacher.miou`` and ``real.miou`` (the segmenter on
  the real B photos, its ceiling), in [0, 1]; ``miou.segmenter`` (its name or path),
  ``miou.num_classes``.
- ``exports``: {name: absolute path} of the given exports.
- ``versions`` ({python, tensorflow, keras, itgc_tf}), ``hardware`` ({cpu,
  cpu_cores, gpu: a name or "none"}).
- ``null_reasons``: {key: reason} for every null value above.

`write_report` writes standard JSON (no NaN/Infinity tokens) atomically.
"""
import json
import math
import numbers
import os
import platform

import numpy as np
import tensorflow as tf

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.artifacts.runners import SavedModelRunner
from itgc_tf.eval.fid import RealStatistics, fid_and_kid
from itgc_tf.eval.image_metrics import PairedImageMetrics
from itgc_tf.eval.latency import measure_latencies
from itgc_tf.eval.miou import confusion_matrix, mean_iou
from itgc_tf.eval.profile import profile

_MODELS = ("student", "teacher")
_QUALITY = ("psnr_db_vs_target", "ssim_vs_target", "psnr_db_vs_teacher", "ssim_vs_teacher")
_COST = ("macs", "params", "latency_ms", "latency_source")
_FID = ("fid", "kid", "kid_std")

REPORT_KEYS = (
    "num_images", "image_size", "paired", "dataset", "split", "input_size",
    *[f"student.{q}" for q in _QUALITY], "teacher.psnr_db_vs_target", "teacher.ssim_vs_target",
    *[f"{m}.{c}" for m in _MODELS for c in _COST],
    "macs_ratio", "speedup_x", "latency.runs", "latency.batch", "latency.statistic",
    "latency.device",
    *[f"{m}.{f}" for m in _MODELS for f in _FID],
    "fid.inception_network", "fid.standard_network", "fid.standard_network_reason", "fid.note",
    "fid.real_images",
    "student.miou", "teacher.miou", "real.miou", "miou.segmenter", "miou.num_classes",
    "exports", "versions", "hardware", "null_reasons",
)
_COUNT_KEYS = ("num_images", "latency.runs", "latency.batch", "fid.real_images",
               "miou.num_classes")
FID_NOTE = ("FID/KID are comparable to published numbers only with the standard FID Inception "
            "network (fid.standard_network true: its weights' fingerprint was verified); otherwise "
            "compare them within this toolkit only. An --inception_weights SavedModel is code (its "
            "graph runs) and must come from a trusted source.")
_LATENCY_WARMUP = 10
FID_SKIPPED = "FID/KID skipped: no Inception network was given (inception=None)."
_UNPAIRED = "unpaired data: there is no ground truth to compare with"
_FID_SEE_NOTE = "FID/KID skipped: fid.note says why"
_NO_SEGMENTER = "mIoU not measured: no segmenter was given (--segmenter)"
_NO_LATENCY = "latency not measured by this evaluation (latency_runs=0)"


def versions():
    """{python, tensorflow, keras, itgc_tf}: the versions that produced a report."""
    import keras

    import itgc_tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__,
            "keras": keras.__version__, "itgc_tf": itgc_tf.__version__}


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpu_cores():
    """The logical CPU cores this process may run on (its affinity where the OS has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def gpu_name(device):
    """The model name of a GPU ``tf.config.PhysicalDevice``, else its TF device name."""
    return tf.config.experimental.get_device_details(device).get("device_name", device.name)


def hardware():
    """{cpu (model name), cpu_cores (logical, usable by this process), gpu (the first
    visible GPU's name, or "none")}."""
    gpus = tf.config.list_physical_devices("GPU")
    return {"cpu": _cpu_model(), "cpu_cores": usable_cpu_cores(),
            "gpu": gpu_name(gpus[0]) if gpus else "none"}


def explain_nulls(report, reasons):
    """Set ``report["null_reasons"]``: for every null value, the first of ``reasons``
    ({key, key prefix ending in ".", or key suffix starting with "." or "_": why}) that
    matches it; non-finite numbers become null with their reason. Raises ValueError
    naming a null value no reason covers (a report never holds an unexplained null)."""
    explained = dict(report.get("null_reasons") or {})
    for key, value in report.items():
        if (isinstance(value, numbers.Real) and not isinstance(value, bool)
                and not math.isfinite(value)):
            report[key] = None
            explained.setdefault(key, f"{value} is not a JSON number" + (
                " (the images are identical: PSNR is infinite)" if "psnr" in key else ""))
        if report[key] is not None or key in explained or key == "null_reasons":
            continue
        why = next((text for pattern, text in reasons.items() if key == pattern or (
            pattern.endswith(".") and key.startswith(pattern)) or (
            pattern[0] in "._" and key.endswith(pattern))), None)
        if why is None:
            raise ValueError(f"The report's {key!r} is null without a reason.")
        explained[key] = why
    report["null_reasons"] = explained
    return report


def _image_size(image_size):
    size = (image_size, image_size) if isinstance(image_size, numbers.Integral) else tuple(image_size)
    if len(size) != 2 or not all(isinstance(s, numbers.Integral) and s > 0 for s in size):
        raise ValueError(f"image_size must be a positive int or (H, W); got {image_size!r}.")
    return tuple(int(s) for s in size)


def _batches(dataset):
    """The dataset's {"A", "B"} batches, checked."""
    if isinstance(dataset, tf.data.Dataset) and dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
        raise ValueError("The evaluation dataset is infinite (it repeats); evaluate a finite split, "
                         "e.g. dataset.take(num_batches).")
    for batch in dataset:
        if not isinstance(batch, dict) or not {"A", "B"} <= set(batch):
            got = sorted(batch) if isinstance(batch, dict) else type(batch).__name__
            raise ValueError(f"evaluate needs batches {{'A': inputs, 'B': targets}} of images in "
                             f"[-1, 1]; got {got}. Build the dataset with itgc_tf.data.")
        yield batch


def inference_function(model):
    """model(x, training=False) as a tf.function (a def, not a lambda: AutoGraph
    cannot read a lambda's source and warns)."""
    @tf.function(reduce_retracing=True)
    def infer(x):
        return model(x, training=False)
    return infer


def evaluate(student, teacher, dataset, *, paired, image_size, inception=None, fid_stats_path=None,
             latency_runs=30, export_paths=None, latency_warmup=_LATENCY_WARMUP, segmenter=None,
             dataset_name=None, split=None, fid_skipped_reason=None):
    """Evaluates ``student`` and ``teacher`` on ``dataset``; see the module docstring.

    Args:
      student, teacher: generators [N, H, W, C_A] → [N, H, W, C_B] in [-1, 1].
      dataset: finite iterable (e.g. ``tf.data.Dataset``) of batches
        {"A": inputs, "B": targets (paired) or domain-B images (unpaired)}, [-1, 1].
      paired: B is A's ground truth (else no ``*_vs_target`` metrics).
      image_size: int or (H, W) at which MACs and latency are measured.
      inception: an ``InceptionFeatures`` (or object with ``network_id``,
        ``__call__(batch)`` and ``features(batches, max_images)``) for FID/KID; None: skipped.
      fid_stats_path: .npz cache of the real B statistics
        (``RealStatistics.load_or_compute``); None: computed, not cached.
      latency_runs, latency_warmup: timed and untimed calls per model (latency_runs 0:
        latency not measured, its keys null with the reason).
      export_paths: {name: path} of exports, reported; "student" / "teacher",
        when present, are SavedModel directories whose latency is measured.
      segmenter: an `itgc_tf.eval.miou.Segmenter` (e.g. ``load_segmenter(PATH)``) for
        mIoU against the batches' ``"label"`` maps; None: skipped.
      dataset_name, split: what ``dataset`` is, recorded (None: "unknown").
      fid_skipped_reason: ``fid.note`` when ``inception`` is None (why FID/KID were skipped).

    Returns:
      The report dict (keys `REPORT_KEYS`).
    """
    image_size = _image_size(image_size)
    fid_skipped_reason = fid_skipped_reason or FID_SKIPPED
    if latency_runs < 0:
        raise ValueError(f"latency_runs must be >= 0, got {latency_runs}.")
    if fid_stats_path is not None and inception is None:
        raise ValueError("fid_stats_path caches real-image Inception statistics; pass inception=... "
                         "(an itgc_tf.eval.inception.InceptionFeatures) too, or drop fid_stats_path.")
    networks = {"student": inference_function(student), "teacher": inference_function(teacher)}
    pairs = {("student", "teacher"): PairedImageMetrics()}
    if paired:
        pairs.update({("student", "target"): PairedImageMetrics(),
                      ("teacher", "target"): PairedImageMetrics()})
    features = {name: [] for name in _MODELS}
    confusions = {}
    num_images, channels, input_size = 0, None, None
    for batch in _batches(dataset):
        outputs = {name: fn(batch["A"]) for name, fn in networks.items()}
        outputs["target"] = batch["B"]
        for (who, what), metrics in pairs.items():
            metrics.update(outputs[who], outputs[what])
        if segmenter is not None:
            _add_confusions(confusions, segmenter, batch, outputs)
        if inception is not None:
            for name in _MODELS:
                features[name].append(np.asarray(inception(outputs[name])))
        num_images += int(batch["A"].shape[0])
        channels = int(batch["A"].shape[-1])
        input_size = [int(d) for d in batch["A"].shape[1:3]]
    if num_images == 0:
        raise ValueError("The evaluation dataset yielded no images; check its path and split.")

    report = dict.fromkeys(REPORT_KEYS)
    report.update({"num_images": num_images, "image_size": list(image_size),
                   "paired": bool(paired), "dataset": dataset_name or "unknown",
                   "split": split or "unknown", "input_size": input_size})
    for (who, what), metrics in pairs.items():
        result = metrics.result()
        report[f"{who}.psnr_db_vs_{what}"], report[f"{who}.ssim_vs_{what}"] = result["psnr"], result["ssim"]

    exports = {name: os.path.abspath(path) for name, path in (export_paths or {}).items()}
    for name, model in (("student", student), ("teacher", teacher)):
        cost = profile(model, (*image_size, channels))
        report.update({f"{name}.macs": cost.macs, f"{name}.params": cost.params})
    if report["student.macs"]:
        report["macs_ratio"] = report["teacher.macs"] / report["student.macs"]
    if latency_runs:
        example = tf.zeros([1, *image_size, channels])
        timed = {name: SavedModelRunner(exports[name]) if name in exports else networks[name]
                 for name in ("student", "teacher")}
        latencies = measure_latencies(timed, example, warmup=latency_warmup, runs=latency_runs)
        for name in _MODELS:
            report.update({f"{name}.latency_ms": latencies[name].median_ms,
                           f"{name}.latency_source": "saved_model" if name in exports else "keras"})
        report["speedup_x"] = report["teacher.latency_ms"] / report["student.latency_ms"]
        report.update({"latency.runs": latency_runs, "latency.batch": 1,
                       "latency.statistic": "median",
                       "latency.device": "GPU" if tf.config.list_logical_devices("GPU") else "CPU"})

    if inception is not None:
        real_images = (batch["B"] for batch in _batches(dataset))  # read only when not cached
        if fid_stats_path is not None:
            real = RealStatistics.load_or_compute(fid_stats_path, inception, real_images,
                                                  num_images=num_images)
        else:
            real = RealStatistics.from_features(inception.features(real_images), inception.network_id)
        for name in _MODELS:
            result = fid_and_kid(real, np.concatenate(features[name]))
            report.update({f"{name}.fid": result.fid, f"{name}.kid": result.kid_mean,
                           f"{name}.kid_std": result.kid_std})
        report.update({"fid.inception_network": inception.network_id,
                       "fid.standard_network": bool(getattr(inception, "is_standard_fid_network", False)),
                       "fid.standard_network_reason": getattr(inception, "standard_network_reason", None),
                       "fid.note": FID_NOTE, "fid.real_images": real.count})
        if report["fid.standard_network_reason"] is None:
            report["fid.standard_network_reason"] = ("verified" if report["fid.standard_network"]
                                                     else "not verified")
    else:
        report["fid.note"] = fid_skipped_reason
    if segmenter is not None:
        report.update({f"{name}.miou": mean_iou(confusion)
                       for name, confusion in confusions.items()})
        report.update({"miou.segmenter": segmenter.name,
                       "miou.num_classes": segmenter.num_classes})
    report.update(exports=exports, versions=versions(), hardware=hardware())
    return explain_nulls(report, {
        "_vs_target": _UNPAIRED, "latency.": _NO_LATENCY, ".latency_ms": _NO_LATENCY,
        ".latency_source": _NO_LATENCY, "speedup_x": _NO_LATENCY,
        "fid.note": fid_skipped_reason, "fid.": _FID_SEE_NOTE, ".fid": _FID_SEE_NOTE,
        ".kid": _FID_SEE_NOTE, ".kid_std": _FID_SEE_NOTE, "miou.": _NO_SEGMENTER,
        ".miou": _NO_SEGMENTER,
        "macs_ratio": "the student has 0 MACs"})


def _add_confusions(confusions, segmenter, batch, outputs):
    """Adds the batch's confusion matrices of student, teacher and real photos."""
    if "label" not in batch:
        raise ValueError("mIoU needs label maps: batches {'A', 'B', 'label'} from a label-map "
                         "dataset (--layout=labels with --label_nc). Fix: evaluate such a "
                         "dataset or drop the segmenter.")
    truth = segmenter.ground_truth(batch["label"])
    for name, images in (("student", outputs["student"]), ("teacher", outputs["teacher"]),
                         ("real", outputs["target"])):
        matrix = confusion_matrix(truth, segmenter.predict(images), segmenter.num_classes)
        confusions[name] = confusions.get(name, 0) + matrix


def scalar_metrics(report):
    """The measured numbers of a report, e.g. for ``PeriodicEvaluation``: {key: float}
    (None, text, lists, booleans and the counts of images and runs dropped)."""
    return {key: float(value) for key, value in report.items()
            if isinstance(value, numbers.Real) and not isinstance(value, bool)
            and key not in _COUNT_KEYS}


def _cell(value, spec, scale=1.0):
    if value is None:
        return "-"
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        return str(float(value))
    return format(value / scale, spec)


def format_table(report):
    """A human-readable table of a report (one row per metric, columns student | teacher)."""
    rows = [("PSNR vs target (dB)", "psnr_db_vs_target", ".2f", 1.0),
            ("SSIM vs target", "ssim_vs_target", ".4f", 1.0),
            ("PSNR vs teacher (dB)", "psnr_db_vs_teacher", ".2f", 1.0),
            ("SSIM vs teacher", "ssim_vs_teacher", ".4f", 1.0),
            ("FID", "fid", ".2f", 1.0),
            ("mIoU", "miou", ".4f", 1.0),
            ("KID (x1e3)", "kid", ".2f", 1e-3),
            ("MACs (G)", "macs", ".4g", 1e9),
            ("params (M)", "params", ".4g", 1e6),
            ("latency (ms)", "latency_ms", ".3f", 1.0)]
    lines = [f"{'':<22}{'student':>12}{'teacher':>12}"]
    for label, key, spec, scale in rows:
        lines.append(f"{label:<22}{_cell(report.get('student.' + key), spec, scale):>12}"
                     f"{_cell(report.get('teacher.' + key), spec, scale):>12}")
    height, width = report["image_size"]
    if report.get("speedup_x") is None:
        lines.append(f"MACs ratio {_cell(report['macs_ratio'], '.2f')}x; latency: "
                     f"{(report.get('null_reasons') or {}).get('speedup_x', 'not measured')}")
    else:
        lines.append(
            f"speed-up {_cell(report['speedup_x'], '.2f')}x, MACs ratio "
            f"{_cell(report['macs_ratio'], '.2f')}x (latency: {report['latency.statistic']} of "
            f"{report['latency.runs']} "
            f"batch-{report['latency.batch']} runs on {report['latency.device']}, "
            f"{report['student.latency_source']} student / {report['teacher.latency_source']} "
            "teacher)")
    lines.append(f"{report['num_images']} images, cost at {height}x{width}, "
                 f"{'paired' if report['paired'] else 'unpaired'} data")
    if report.get("fid.inception_network") is not None:
        lines.append(f"FID network: {report['fid.inception_network']} ({report['fid.real_images']} "
                     f"real images). {report['fid.note']}")
    elif report.get("fid.note"):
        lines.append(report["fid.note"])
    lines += [f"export {name}: {path}" for name, path in (report.get("exports") or {}).items()]
    return "\n".join(lines)


def _encode(value):
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no such numbers; the top-level reason is in null_reasons
    return value


def write_report(path, report):
    """Writes ``report`` as indented standard JSON to ``path``, atomically (a temp file
    beside it, then a rename). Non-finite numbers are written as null, each with its
    reason in ``null_reasons`` (`explain_nulls`; nested ones under their top-level key)."""
    report = dict(report)
    nested = [key for key, value in report.items() if isinstance(value, (dict, list, tuple))
              and key != "null_reasons" and _encode(value) != _plain(value)]
    explain_nulls(report, {})  # top-level non-finite numbers -> null + reason
    report["null_reasons"] = report["null_reasons"] | {
        key: "holds non-finite numbers, written as null" for key in nested}
    with atomic_output(path, overwrite=True) as tmp, open(tmp, "w") as f:
        json.dump(_encode(report), f, indent=2, allow_nan=False)
        f.write("\n")


def _plain(value):
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def read_report(path):
    """A report written by `write_report`."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No report at {path!r}; run the evaluation (itgc_tf.evaluate) first.")
    with open(path) as f:
        return json.load(f)
