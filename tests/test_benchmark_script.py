"""Smoke test of scripts/benchmark.py: its smallest configuration end to end, JSON keys."""
import json
import os
import pathlib
import subprocess
import sys

import pytest
import tensorflow as tf

from graph_helpers import inlined_op_count
from itgc_tf.models.layers import PixelBlockConv2D
from itgc_tf.perf.block_conv import CASES, _traced

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"

# The documented, stable JSON keys (docs/PERFORMANCE.md, the script's docstring).
TRAIN_KEYS = {"config", "size", "batch", "jit", "step_s", "step_s_runs", "images_per_s",
              "cpu_s_per_step", "first_call_s", "traces", "peak_rss_mb",
              "rss_before_first_step_mb", "peak_device_mb"}
VEM_SHARE_KEYS = {"size", "batch", "critic_blocks", "kd_step_s", "kd_vem_step_s",
                  "kd_vem_k0_step_s", "langevin_s", "langevin_xla_s", "critic_update_s",
                  "mi_term_s", "langevin_share", "critic_update_share", "langevin_critic_share",
                  "langevin_share_in_situ", "vem_share_in_situ", "kd_vem_vs_kd", "step_traces",
                  "step_while_loops", "step_loop_accumulators", "peak_rss_mb"}
LATENCY_KEYS = {"model", "size", "format", "median_ms", "p90_ms", "cpu_ms", "runs", "gmacs",
                "file_mb", "export_s"}
SPEEDUP_KEYS = {"size", "format", "teacher_ms", "student_ms", "student_speedup"}
DATA_KEYS = {"source", "size", "batch", "images_per_s"}
BLOCK_CONV_KEYS = {"size", "batch", "kernel", "in_channels", "filters", "plain_ms", "blocks_ms",
                   "plain_train_ms", "blocks_train_ms", "speedup_x", "train_speedup_x"}


def _run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True,
                          env=env, timeout=1800)  # a hang guard; ~1 min on idle 2 cores


# About 70 s on 2 CPU cores: every section builds the reference networks. The train section
# times kd (the cheaper step); vem_share builds and checks the kd+VEM step.
@pytest.mark.slow
def test_smallest_configuration_writes_every_documented_key(tmp_path):
    out = tmp_path / "bench.json"
    done = _run("--quick", "--noisolate", "--sizes=32", "--batches=1", "--jit=off",
                "--configs=kd", "--sections=train,vem_share,latency,data,block_conv",
                "--formats=keras,tflite_int8", "--repeats=1", "--latency_runs=1", f"--json={out}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["errors"] == []
    assert {"tensorflow", "keras", "python", "cpu_count", "load_average_start",
            "load_average_end", "onednn", "hardware"} <= set(report["meta"])
    assert set(report["meta"]["hardware"]) == {"cpu", "cpu_cores", "gpu"}
    # Every measured record names where it ran (TFLite's say CPU on any machine).
    device = "CPU" if not tf.config.list_physical_devices("GPU") else "GPU: "
    for section in ("train", "vem_share", "latency", "data", "block_conv"):
        for record in report[section]:
            assert record.pop("device").startswith(
                "CPU" if record.get("format", "").startswith("tflite") else device), section
    if device == "CPU":
        assert "\nRan on: CPU (train, vem_share, latency, data, block_conv)\n" in done.stdout

    (train,) = report["train"]
    assert set(train) == TRAIN_KEYS
    assert (train["config"], train["size"], train["batch"], train["jit"]) == ("kd", 32, 1, False)
    assert train["traces"] == 1  # one trace for every call: no retracing
    assert train["images_per_s"] == pytest.approx(1 / train["step_s"])
    assert train["peak_rss_mb"] >= train["rss_before_first_step_mb"] > 0
    assert (train["peak_device_mb"] is None) == (device == "CPU")

    (share,) = report["vem_share"]
    assert set(share) == VEM_SHARE_KEYS
    assert share["critic_blocks"] == 4  # the most a 32x32 input (16x16 after pooling) allows
    assert share["step_traces"] == 1 and share["step_while_loops"] == 1
    assert share["step_loop_accumulators"] == 0  # no tape keeps the chain's activations
    assert share["kd_vem_k0_step_s"] is None and share["langevin_xla_s"] is None  # not in quick
    assert share["langevin_critic_share"] == pytest.approx(
        (share["langevin_s"] + share["critic_update_s"]) / share["kd_vem_step_s"])

    assert {(r["model"], r["format"]) for r in report["latency"]} == {
        (m, f) for m in ("teacher", "student") for f in ("keras", "tflite_int8")}
    for record in report["latency"]:
        assert set(record) == LATENCY_KEYS and record["median_ms"] > 0
    macs = {r["model"]: r["gmacs"] for r in report["latency"]}
    assert macs["teacher"] > 10 * macs["student"] > 0
    # No teacher SavedModel was timed, so no int8-student-vs-teacher-SavedModel row.
    assert {r["format"] for r in report["speedups"]} == {"keras", "tflite_int8"}
    for record in report["speedups"]:
        assert set(record) == SPEEDUP_KEYS
        assert record["student_speedup"] == pytest.approx(record["teacher_ms"] /
                                                          record["student_ms"])

    (data,) = report["data"]
    assert set(data) == DATA_KEYS and data["images_per_s"] > 0

    assert [(r["kernel"], r["in_channels"], r["filters"]) for r in report["block_conv"]] == list(
        CASES)
    for record in report["block_conv"]:
        assert set(record) == BLOCK_CONV_KEYS and (record["size"], record["batch"]) == (32, 1)
        assert record["speedup_x"] == pytest.approx(record["plain_ms"] / record["blocks_ms"])
        assert record["train_speedup_x"] == pytest.approx(record["plain_train_ms"] /
                                                          record["blocks_train_ms"])
    assert "Convolution on 2x2 pixel blocks" in done.stdout


def test_bad_options_fail_with_a_message_naming_the_fix():
    done = _run("--configs=kd,vem_only", "--sections=train")
    assert done.returncode != 0
    assert "Unknown --configs ['vem_only']; choose from" in done.stderr
    done = _run("--jit=maybe")
    assert done.returncode != 0 and "--jit takes off and/or on" in done.stderr
    # The default sections pass the vs_torch check, which comes first, without --vs_torch
    # (they leave vs_torch out): the bad size is what fails.
    done = _run("--sizes=16")
    assert done.returncode != 0 and "--sizes must be >= 32" in done.stderr


def test_block_conv_section_times_the_blocks_against_the_plain_convolution():
    """Each kind is traced under its own kernel choice (a cached trace would time one
    kind twice)."""
    conv = PixelBlockConv2D(3, 7)
    conv.build((None, None, None, 4))
    x = tf.zeros((1, 14, 14, 4))
    for kind, blocks in (("portable", False), ("fast", True), ("portable", False)):
        for concrete in _traced(conv, x, kind):
            ops = {op.type for op in concrete.graph.get_operations()}
            assert ("SpaceToDepth" in ops) == blocks, kind


PER_EXAMPLE_KEYS = {"what", "teacher", "vem", "size", "batch", "batched_ms", "per_example_ms",
                    "speedup_x"}


def test_per_example_section_times_both_teachers_each_form_in_its_own_graph(monkeypatch):
    """Quick (no anchor steps): the two teachers' forward passes, batched and per image;
    each form's graph is its own (a shared trace would time one form twice)."""
    from itgc_tf.perf import per_example
    from itgc_tf.perf.tables import format_report

    traced = []
    forwards = per_example._forwards

    def recording(model):
        traced.append(forwards(model))
        return traced[-1]

    monkeypatch.setattr(per_example, "_forwards", recording)
    records = per_example.measure_per_example(dict(size=16, batch=2, repeats=1, steps=False))
    assert [(r["what"], r["teacher"], r["vem"]) for r in records] == [
        ("teacher_forward", name, None) for name in per_example.TEACHERS]
    for record in records:
        assert set(record) == PER_EXAMPLE_KEYS and (record["size"], record["batch"]) == (16, 2)
        assert record["speedup_x"] == pytest.approx(record["batched_ms"] / record["per_example_ms"])
    spec = tf.TensorSpec([2, 16, 16, 3])
    for fns in traced:  # the per-image graph runs the generator once per image
        convs = {form: inlined_op_count(fn.get_concrete_function(spec).graph.as_graph_def(),
                                        "Conv2D") for form, fn in fns.items()}
        assert convs["per_example"] == 2 * convs["batched"] > 0
    report = dict(per_example=records, profile=[], errors=[])
    assert "Frozen teacher per image" in format_report(report)
