"""Section vs_torch: our anchor step and the PyTorch anchor's output parsing."""
import os
import sys
import textwrap

import keras
import pytest
import tensorflow as tf

from itgc_tf.eval.report import usable_cpu_cores
from itgc_tf.perf import anchor
from itgc_tf.perf.tables import format_report


@pytest.fixture
def fake_anchor(tmp_path):
    """A stand-in for torch_vem_step.py printing the anchor's line (no PyTorch here):
    ms/step = 10 * batch + 5 * vem."""
    path = tmp_path / "fake_anchor.py"
    path.write_text(textwrap.dedent("""\
        import argparse
        ap = argparse.ArgumentParser()
        for name in ("size", "batch", "steps", "vem"):
            ap.add_argument("--" + name, type=int)
        a = ap.parse_args()
        print(f"torch 9.9.9 threads 2 size {a.size} batch {a.batch} vem {a.vem}: "
              f"median {10 * a.batch + 5 * a.vem:.1f} ms/step")
        """))
    return str(path)


def test_run_anchor_parses_the_anchor_line(fake_anchor):
    info = anchor.run_anchor(sys.executable, fake_anchor, 64, 4, True, 2)
    assert info == dict(ms=45.0, torch="9.9.9", threads=2)


def test_run_anchor_names_the_fix_when_the_interpreter_has_no_torch(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import sys; sys.exit('No module named torch')")
    with pytest.raises(RuntimeError, match="Fix: give --vs_torch an interpreter"):
        anchor.run_anchor(sys.executable, str(broken), 64, 1, False, 2)


def test_anchor_step_with_vem_in_bfloat16_trains_the_student_towards_the_teacher():
    try:
        step = anchor.anchor_step(64, 1, vem=True, precision="mixed_bfloat16", critic_blocks=3)
        losses = [step() for _ in range(12)]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert losses[-1] < 0.9 * losses[0]


def test_measure_vs_torch_alternates_rounds_and_reports_the_ratio(fake_anchor):
    try:
        record = anchor.measure_vs_torch(dict(
            size=64, batch=1, vem=False, precision="float32", repeats=2, steps=2,
            python=sys.executable, anchor=fake_anchor, critic_blocks=3))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert record["torch_ms_rounds"] == [10.0, 10.0]
    assert len(record["itgc_ms_rounds"]) == 2 and min(record["itgc_ms_rounds"]) > 0
    assert record["speedup_x"] == pytest.approx(10.0 / record["itgc_ms"])
    assert record["torch"] == "9.9.9" and record["vem"] is False
    assert record["tf_threads"] == anchor.intra_op_threads() >= 1
    table = format_report(dict(train=[], vem_share=[], latency=[], speedups=[], data=[],
                               profile=[], errors=[], vs_torch=[record]))
    assert "PyTorch anchor" in table and "float32" in table


def test_intra_op_threads_is_the_count_tf_uses(monkeypatch):
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)
    monkeypatch.delenv("TF_NUM_INTRAOP_THREADS", raising=False)
    assert anchor.intra_op_threads() == usable_cpu_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "3")
    assert anchor.intra_op_threads() == 3
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "0")  # 0: TF's default
    assert anchor.intra_op_threads() == usable_cpu_cores()
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 5)
    assert anchor.intra_op_threads() == 5  # configured in the process: wins
