"""Latency measurement (itgc_tf.eval.latency)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval import latency
from itgc_tf.export import export_saved_model, export_tflite
from export_helpers import smooth_images, tiny_generator


class _FakeClock:
    """perf_counter stand-in; each call of the timed function advances it by the next duration."""

    def __init__(self, durations_s):
        self.now, self.calls = 0.0, 0
        self._durations = iter(durations_s)

    def perf_counter(self):
        return self.now

    def run(self, example):
        self.calls += 1
        self.now += next(self._durations)
        return tf.constant(example)


def test_median_and_p90_over_the_timed_runs_only(monkeypatch):
    warmup_durations = [5.0, 5.0, 5.0]  # slow first calls must not count
    clock = _FakeClock(warmup_durations + [k / 1000 for k in (3, 1, 4, 10, 5, 9, 2, 6, 8, 7)])
    monkeypatch.setattr(latency.time, "perf_counter", clock.perf_counter)
    stats = latency.measure_latency(clock.run, np.zeros((1, 2)), warmup=3, runs=10)
    assert clock.calls == 13
    assert stats.runs == 10
    assert stats.median_ms == pytest.approx(5.5)
    assert stats.p90_ms == pytest.approx(9.1)  # linear interpolation between 9 and 10 ms


def test_bad_run_counts_are_rejected():
    with pytest.raises(ValueError, match="runs >= 1"):
        latency.measure_latency(lambda x: x, 0, runs=0)


def test_saved_model_and_tflite_helpers_time_the_exports(tmp_path):
    keras.utils.set_random_seed(0)
    export_dir = export_saved_model(tiny_generator(ngf=4), str(tmp_path / "sm"), input_nc=3, output_nc=3)
    images = smooth_images(2, 16)
    lite = export_tflite(export_dir, str(tmp_path / "g.tflite"), input_size=(16, 16), parity_images=images)
    for stats in (latency.saved_model_latency(export_dir, images[:1], warmup=1, runs=3),
                  latency.saved_model_latency(export_dir, np.zeros((1, 16, 16, 3), np.uint8),
                                              signature="uint8", warmup=1, runs=3),
                  latency.tflite_latency(lite.path, warmup=1, runs=3)):
        assert stats.runs == 3 and 0 < stats.median_ms <= stats.p90_ms


def test_several_callables_are_timed_interleaved(monkeypatch):
    # a's calls take 1, 2, 3 ms, b's 10, 20, 30 ms (after one untimed round): a load that
    # rises during the measurement slows both, and each keeps its own median.
    clock = _FakeClock([5.0, 5.0] + [k / 1000 for k in (1, 10, 2, 20, 3, 30)])
    monkeypatch.setattr(latency.time, "perf_counter", clock.perf_counter)
    order = []

    def named(name):
        def fn(example):
            order.append(name)
            return clock.run(example)
        return fn

    stats = latency.measure_latencies({"a": named("a"), "b": named("b")}, np.zeros((1, 2)),
                                      warmup=1, runs=3)
    assert order == ["a", "b"] * 4
    assert stats["a"].median_ms == pytest.approx(2.0) and stats["b"].median_ms == pytest.approx(20.0)
    assert stats["a"].runs == stats["b"].runs == 3


def test_a_speedup_row_fits_its_budget_and_divides_the_medians(monkeypatch):
    # One untimed round (5 s each), one probe round (0.3 + 0.1 s: 2.1 s budget -> 5 runs),
    # then 5 interleaved rounds: teacher fastest 200 ms (median 300), student 80 (100).
    timed = [0.3, 0.1, 0.2, 0.1, 0.3, 0.12, 0.4, 0.08, 0.3, 0.1]
    clock = _FakeClock([5.0, 5.0, 0.3, 0.1] + timed)
    monkeypatch.setattr(latency.time, "perf_counter", clock.perf_counter)
    row = latency.speedup_row("saved_model_fp32", 64, 8, clock.run, clock.run,
                              np.zeros((8, 2)), budget_s=2.1)
    assert clock.calls == 14
    assert (row["runs"], row["size"], row["batch"], row["reason"]) == (5, 64, 8, None)
    assert row["teacher_latency_ms"] == pytest.approx(200.0)
    assert row["student_latency_ms"] == pytest.approx(80.0)
    assert row["speedup_x"] == pytest.approx(2.5)
    assert (row["teacher_median_ms"], row["student_median_ms"]) == pytest.approx((300.0, 100.0))
    skipped = latency.skipped_row("litert_int8", 64, 8, "fixed batch of 1")
    assert skipped["speedup_x"] is None and skipped["reason"] == "fixed batch of 1"
    lines = latency.format_speed_table([row, skipped])
    assert "2.50x" in lines[1] and "not measured: fixed batch of 1" in lines[2]
