"""The evaluation report (itgc_tf.eval.report) at toy size."""
import json
import math
import os

import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval import fid, image_metrics
from itgc_tf.eval.profile import profile
from itgc_tf.eval.report import (FID_NOTE, REPORT_KEYS, evaluate, format_table, read_report,
                                 scalar_metrics, write_report)
from itgc_tf.export import export_saved_model
from itgc_tf.models.registry import build_generator

SIZE = 16


@pytest.fixture(scope="module")
def networks():
    student = build_generator("unet_16", 3, 3, ngf=2, name_prefix="student_")
    teacher = build_generator("unet_16", 3, 3, ngf=4, name_prefix="teacher_")
    return student, teacher


def _images(n=6, seed=0):
    rng = np.random.default_rng(seed)
    a = tf.image.resize(rng.uniform(-1, 1, (n, 4, 4, 3)), [SIZE, SIZE]).numpy().astype("float32")
    return a, np.tanh(-1.5 * a).astype("float32")


def _dataset(n=6, batch=4, seed=0):
    a, b = _images(n, seed)
    return tf.data.Dataset.from_tensor_slices({"A": a, "B": b}).batch(batch)  # batches of 4 and 2


def _evaluate(student, teacher, dataset=None, **kwargs):
    kwargs = {"paired": True, "image_size": SIZE, "latency_runs": 3, "latency_warmup": 1} | kwargs
    return evaluate(student, teacher, _dataset() if dataset is None else dataset, **kwargs)


def _psnr_numpy(x, y):
    """Mean per-image PSNR (dB) on the [0, 1] range."""
    mse = np.mean(((x + 1) / 2 - (y + 1) / 2) ** 2, axis=(1, 2, 3), dtype=np.float64)
    return float(np.mean(10 * np.log10(1.0 / mse)))


class _MomentFeatures:
    """InceptionFeatures stand-in: a fixed projection of per-channel means and
    standard deviations. Counts the images it embeds."""

    network_id = "moments:test"
    is_standard_fid_network = False

    def __init__(self):
        self.images_seen = 0
        self._projection = np.random.default_rng(3).normal(size=(6, 4))

    def __call__(self, images):
        images = np.asarray(images, np.float64)
        self.images_seen += len(images)
        moments = np.concatenate([images.mean(axis=(1, 2)), images.std(axis=(1, 2))], axis=1)
        return moments @ self._projection

    def features(self, batches, max_images=None):
        return np.concatenate([self(b) for b in batches])[:max_images]


def test_paired_report_matches_independent_computations(networks):
    student, teacher = networks
    report = _evaluate(student, teacher)
    assert list(report) == list(REPORT_KEYS)
    a, b = _images()
    s, t = student(a).numpy(), teacher(a).numpy()
    assert report["student.psnr_db_vs_target"] == pytest.approx(_psnr_numpy(s, b), rel=1e-4)
    assert report["teacher.psnr_db_vs_target"] == pytest.approx(_psnr_numpy(t, b), rel=1e-4)
    assert report["student.psnr_db_vs_teacher"] == pytest.approx(_psnr_numpy(s, t), rel=1e-4)
    ssim = lambda x, y: float(np.mean(image_metrics.ssim(x, y)))  # noqa: E731 -- one batch of all 6
    assert report["student.ssim_vs_target"] == pytest.approx(ssim(s, b), abs=1e-5)
    assert report["teacher.ssim_vs_target"] == pytest.approx(ssim(t, b), abs=1e-5)
    assert report["student.ssim_vs_teacher"] == pytest.approx(ssim(s, t), abs=1e-5)
    for name, model in (("student", student), ("teacher", teacher)):
        cost = profile(model, (SIZE, SIZE, 3))
        assert (report[f"{name}.macs"], report[f"{name}.params"]) == (cost.macs, model.count_params())
        assert report[f"{name}.latency_ms"] > 0 and report[f"{name}.latency_source"] == "keras"
    assert report["macs_ratio"] == pytest.approx(report["teacher.macs"] / report["student.macs"])
    assert report["macs_ratio"] > 2  # ngf 4 vs 2
    assert report["speedup_x"] == pytest.approx(report["teacher.latency_ms"] / report["student.latency_ms"])
    assert (report["num_images"], report["image_size"], report["paired"]) == (6, [SIZE, SIZE], True)
    assert (report["latency.runs"], report["latency.batch"], report["latency.device"]) == (3, 1, "CPU")
    assert report["latency.statistic"] == "median" and "median of 3 batch-1 runs" in format_table(report)
    assert all(report[k] is None for k in REPORT_KEYS if k.endswith(("fid", "kid", "kid_std")) or
               k.startswith("fid.") and k != "fid.note")
    assert report["fid.note"].startswith("FID/KID skipped")
    assert report["exports"] == {}
    assert report["input_size"] == [SIZE, SIZE] and report["dataset"] == "unknown"


def test_a_teacher_against_itself_is_null_psnr_with_its_reason_and_survives_json(tmp_path, networks):
    _, teacher = networks
    report = _evaluate(teacher, teacher, paired=False)
    assert report["student.psnr_db_vs_teacher"] is None  # inf: identical images
    assert "identical" in report["null_reasons"]["student.psnr_db_vs_teacher"]
    assert "unpaired" in report["null_reasons"]["student.psnr_db_vs_target"]
    assert report["student.ssim_vs_teacher"] == pytest.approx(1.0)
    assert report["student.psnr_db_vs_target"] is None and report["teacher.ssim_vs_target"] is None
    assert report["macs_ratio"] == 1.0
    path = str(tmp_path / "report.json")
    write_report(path, report)

    def reject(constant):
        raise ValueError(f"non-standard JSON constant {constant}")

    with open(path) as f:
        raw = json.load(f, parse_constant=reject)  # standard JSON: no Infinity / NaN tokens
    assert raw["student.psnr_db_vs_teacher"] is None and raw["student.psnr_db_vs_target"] is None
    assert read_report(path) == report
    table = format_table(report)
    assert "PSNR vs teacher (dB)" in table and "unpaired" in table


def test_nonfinite_numbers_are_written_as_null_with_a_reason(tmp_path):
    report = {"speedup_x": float("nan"), "macs_ratio": float("-inf"), "fid.note": "inf",
              "image_size": [4, 4], "exports": {"student": "/x"}, "rows": [{"ms": math.inf}]}
    path = str(tmp_path / "r.json")
    write_report(path, report)
    back = json.loads(open(path).read(), parse_constant=lambda c: pytest.fail(c))
    assert back["speedup_x"] is None and back["macs_ratio"] is None
    assert set(back["null_reasons"]) == {"speedup_x", "macs_ratio", "rows"}
    assert back["rows"] == [{"ms": None}]
    assert back["fid.note"] == "inf" and back["exports"] == {"student": "/x"}
    assert math.isnan(report["speedup_x"])  # the caller's dict is left as it was


def _json_leaves(value, key=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _json_leaves(v, f"{key}.{k}" if key else k)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _json_leaves(v, f"{key}[{i}]")
    else:
        yield key, value


def test_report_schema_units_types_and_every_null_explained(tmp_path, networks):
    """The written report: standard JSON (allow_nan=False parses it back), every key of
    REPORT_KEYS, units in the names, numbers as numbers, each null with its reason."""
    student, teacher = networks
    report = _evaluate(student, teacher, dataset_name="demo:enhance", split="test",
                       fid_skipped_reason="FID/KID skipped: no weights here")
    path = tmp_path / "report.json"
    write_report(str(path), report)
    raw = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c))
    assert list(raw) == list(REPORT_KEYS)
    json.dumps(raw, allow_nan=False)
    assert {"student.psnr_db_vs_target", "student.latency_ms", "speedup_x"} <= set(raw)
    assert not any("speedup" in k and not k.endswith("_x") for k in raw)
    for key in ("student.psnr_db_vs_target", "student.ssim_vs_target", "student.latency_ms",
                "teacher.latency_ms", "speedup_x", "macs_ratio", "student.macs", "num_images"):
        assert isinstance(raw[key], (int, float)) and not isinstance(raw[key], bool), key
        assert math.isfinite(raw[key]), key
    assert not any(isinstance(v, str) and v.lower() in ("nan", "inf", "-inf", "infinity")
                   for _, v in _json_leaves(raw))
    nulls = {k for k, v in raw.items() if v is None}
    assert nulls and nulls == set(raw["null_reasons"])
    assert all(isinstance(r, str) and r for r in raw["null_reasons"].values())
    assert raw["fid.note"] == "FID/KID skipped: no weights here"
    assert (raw["dataset"], raw["split"], raw["input_size"]) == ("demo:enhance", "test", [SIZE, SIZE])
    assert set(raw["versions"]) == {"python", "tensorflow", "keras", "itgc_tf"}
    assert raw["versions"]["tensorflow"] == tf.__version__
    assert raw["hardware"]["cpu_cores"] >= 1 and raw["hardware"]["gpu"] == (
        "none" if not tf.config.list_physical_devices("GPU") else raw["hardware"]["gpu"])
    assert isinstance(raw["hardware"]["cpu"], str) and raw["hardware"]["cpu"]


def test_a_null_without_a_reason_is_refused(tmp_path):
    with pytest.raises(ValueError, match="'speedup_x' is null without a reason"):
        write_report(str(tmp_path / "r.json"), {"speedup_x": None})
    assert not (tmp_path / "r.json").exists()


def test_write_report_is_atomic(tmp_path):
    path = str(tmp_path / "report.json")
    write_report(path, {"num_images": 1})
    with pytest.raises(TypeError):
        write_report(path, {"num_images": object()})
    assert read_report(path) == {"num_images": 1, "null_reasons": {}}
    assert os.listdir(tmp_path) == ["report.json"]  # no temporary file left
    with pytest.raises(FileNotFoundError, match="run the evaluation"):
        read_report(str(tmp_path / "missing.json"))


def test_fid_and_kid_against_cached_real_statistics(tmp_path, networks):
    student, teacher = networks
    inception = _MomentFeatures()
    stats_path = str(tmp_path / "stats" / "real_b.npz")
    report = _evaluate(student, teacher, inception=inception, fid_stats_path=stats_path)
    assert inception.images_seen == 3 * 6  # student, teacher and (once) the real images
    a, b = _images()
    real = fid.feature_statistics(inception(b))
    for name, model in (("student", student), ("teacher", teacher)):
        fake = inception(model(a).numpy())
        assert report[f"{name}.fid"] == pytest.approx(
            fid.frechet_distance(*real, *fid.feature_statistics(fake)), rel=1e-6)
        kid_mean, kid_std = fid.kernel_inception_distance(inception(b), fake)
        assert (report[f"{name}.kid"], report[f"{name}.kid_std"]) == pytest.approx((kid_mean, kid_std))
    assert report["fid.inception_network"] == "moments:test" and report["fid.real_images"] == 6
    assert report["fid.standard_network"] is False and report["fid.note"] == FID_NOTE
    assert os.path.isfile(stats_path)

    seen = inception.images_seen
    again = _evaluate(student, teacher, inception=inception, fid_stats_path=stats_path)
    assert inception.images_seen - seen == 2 * 6  # the real statistics came from the cache
    assert again["teacher.fid"] == pytest.approx(report["teacher.fid"])
    assert "FID network: moments:test (6 real images)" in format_table(again)
    metrics = scalar_metrics(again)
    assert metrics["teacher.fid"] == again["teacher.fid"] and metrics["speedup_x"] == again["speedup_x"]
    assert {"student.fid", "teacher.kid", "student.psnr_db_vs_target", "macs_ratio"} <= set(metrics)
    assert not set(metrics) & {"paired", "image_size", "fid.note", "exports", "fid.standard_network",
                               "num_images", "latency.runs", "fid.real_images", "versions"}


def test_latency_runs_0_leaves_latency_null_with_the_reason(networks):
    student, teacher = networks
    report = _evaluate(student, teacher, latency_runs=0)
    for key in ("student.latency_ms", "teacher.latency_ms", "speedup_x", "latency.runs"):
        assert report[key] is None and "latency_runs=0" in report["null_reasons"][key]
    assert report["macs_ratio"] > 2


def test_latency_of_the_exported_saved_model(tmp_path, networks):
    student, teacher = networks
    export_dir = export_saved_model(student, str(tmp_path / "export" / "student"), input_nc=3, output_nc=3)
    report = _evaluate(student, teacher, export_paths={"student": export_dir,
                                                       "student_tflite": "export/student.tflite"})
    assert (report["student.latency_source"], report["teacher.latency_source"]) == ("saved_model", "keras")
    assert report["student.latency_ms"] > 0
    assert report["exports"] == {"student": export_dir,
                                 "student_tflite": os.path.abspath("export/student.tflite")}
    assert f"export student: {export_dir}" in format_table(report)
    with pytest.raises(FileNotFoundError, match="No SavedModel"):
        _evaluate(student, teacher, export_paths={"teacher": str(tmp_path / "nothing")})


def test_evaluate_errors(networks):
    student, teacher = networks
    with pytest.raises(ValueError, match="infinite"):
        _evaluate(student, teacher, _dataset().repeat())
    with pytest.raises(ValueError, match=r"\{'A': inputs, 'B': targets\}"):
        _evaluate(student, teacher, [(np.zeros((1, SIZE, SIZE, 3)),)])
    with pytest.raises(ValueError, match="no images"):
        _evaluate(student, teacher, _dataset().take(0))
    with pytest.raises(ValueError, match="image_size"):
        _evaluate(student, teacher, image_size=(16, 0))
    with pytest.raises(ValueError, match="latency_runs"):
        _evaluate(student, teacher, latency_runs=-1)
    with pytest.raises(ValueError, match="pass inception"):
        _evaluate(student, teacher, fid_stats_path="stats.npz")
