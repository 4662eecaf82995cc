"""Section core_scaling of scripts/benchmark.py: pieces timed in one-thread processes
against processes with TensorFlow's default threads."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval.report import usable_cpu_cores
from itgc_tf.perf import anchor, core_scaling
from itgc_tf.perf.tables import format_report
from itgc_tf.vem import langevin_sample

KEYS = {"piece", "size", "batch", "cores", "one_thread_ms", "all_threads_ms",
        "one_thread_cpu_ms", "all_threads_cpu_ms", "scaling_x", "ideal_ms", "threads_seen"}


# About 15 s: two fresh interpreters import TensorFlow and trace the teacher.
@pytest.mark.slow
def test_one_thread_processes_run_on_one_thread_and_default_ones_on_every_core(monkeypatch):
    monkeypatch.setattr(core_scaling, "ORDER", ("one", "default"))
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")  # as pytest-xdist workers have it
    (record,) = core_scaling.measure_core_scaling(
        dict(size=32, batch=1, repeats=3, pieces=["teacher_forward"]))
    assert set(record) == KEYS
    assert (record["piece"], record["size"], record["batch"]) == ("teacher_forward", 32, 1)
    cores = usable_cpu_cores()
    assert record["cores"] == cores
    # The limit reaches the one-thread process and the caller's own limit does not reach
    # the default one; one thread cannot use much more CPU time than wall time.
    assert record["threads_seen"] == [1, cores]
    assert 0 < record["one_thread_cpu_ms"] <= 1.5 * record["one_thread_ms"]
    assert record["scaling_x"] == pytest.approx(record["one_thread_ms"] /
                                                record["all_threads_ms"])
    assert record["ideal_ms"] == pytest.approx(record["one_thread_ms"] / cores)
    report = dict(core_scaling=[record], profile=[], errors=[])
    assert "One thread against TF's default threads" in format_report(report)


def test_unknown_pieces_fail_with_the_valid_names():
    with pytest.raises(ValueError, match="Unknown core_scaling pieces \\['critic'\\]; choose"):
        core_scaling.measure_core_scaling(dict(size=32, batch=1, repeats=1,
                                               pieces=["critic", "teacher_forward"]))


def test_anchor_parts_compute_what_the_step_networks_compute():
    """Each part equals the same computation on networks and a batch built again from
    the anchor's seed: the teacher batched, the student's L1 gradients, the chain from
    the student's output."""
    parts = anchor.anchor_parts(32, 1, critic_blocks=4)
    assert set(parts) == {"teacher_forward", "student_train", "langevin_chain"}
    teacher, student, critic = anchor.anchor_networks("float32", critic_blocks=4)
    x = anchor._batch(32, 1, critic)
    t = teacher(x, training=False)
    np.testing.assert_allclose(parts["teacher_forward"](), t, atol=1e-5)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(student(x, training=True) - t))
    grads, wants = parts["student_train"](), tape.gradient(loss, student.trainable_variables)
    assert len(grads) == len(wants) > 0
    for got, want in zip(grads, wants):
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    s = student(x)
    sample = langevin_sample(critic, s, seed=[0, 1], **anchor.LANGEVIN)
    np.testing.assert_allclose(parts["langevin_chain"](), sample, atol=1e-4)
    assert not np.allclose(sample, s, atol=1e-3)  # the chain moved


def _step_record(piece, batch, one_ms, default_ms, cores=2):
    return dict(piece=piece, size=256, batch=batch, cores=cores, one_thread_ms=one_ms,
                all_threads_ms=default_ms, scaling_x=one_ms / default_ms,
                ideal_ms=one_ms / cores)


def test_speedup_bounds_state_what_2x_and_a_10_percent_vem_ask_of_cores_and_work():
    """The Xeon's batch-4 figures (docs/PERFORMANCE.md): PyTorch 1874 ms for kd+VEM,
    one thread 1904 ms, two 1058.3 ms; kd 1554.7 / 874.8 ms. Rows without a float32
    anchor step of the same batch are left out; a step already at 2x needs no cut."""
    core = [_step_record("anchor_kd", 4, 1554.7, 874.8),
            _step_record("anchor_kd_vem", 4, 1904.0, 1058.3),
            _step_record("teacher_forward", 4, 1038.9, 556.9),
            _step_record("anchor_kd_vem", 1, 400.0, 220.0)]
    rows = [dict(size=256, batch=4, vem=True, precision="float32", torch_ms=1874.0),
            dict(size=256, batch=4, vem=False, precision="float32", torch_ms=1358.0),
            dict(size=256, batch=4, vem=True, precision="mixed_bfloat16", torch_ms=1874.0),
            dict(size=256, batch=2, vem=True, precision="float32", torch_ms=900.0),
            dict(size=256, batch=1, vem=True, precision="float32", torch_ms=500.0)]
    vem, kd, fast = core_scaling.speedup_bounds(rows, core)

    assert (vem["batch"], vem["vem"], kd["vem"], fast["batch"]) == (4, True, False, 1)
    assert vem["perfect_speedup_x"] == pytest.approx(1874.0 / 952.0)  # 1.97: short of 2x
    assert vem["scaling_for_2x"] == pytest.approx(1904.0 / 937.0)
    # At today's 1.80x scaling 2x needs 937 * 1.799 = 1686 ms of one-thread work: 11.5 % less.
    assert vem["work_cut_for_2x"] == pytest.approx(1 - 937.0 * (1904.0 / 1058.3) / 1904.0)
    assert 0.11 < vem["work_cut_for_2x"] < 0.12
    assert vem["vem_work_share"] == pytest.approx(1904.0 / 1554.7 - 1)
    assert vem["scaling_for_vem_adds_10pct"] == pytest.approx(1904.0 / (1.1 * 874.8))
    assert kd["vem_work_share"] is None and kd["scaling_for_vem_adds_10pct"] is None
    assert kd["perfect_speedup_x"] == pytest.approx(1358.0 / 777.35)
    # 220 ms against PyTorch's 500: past 2x already, no VEM terms without a kd record.
    assert fast["work_cut_for_2x"] == 0.0 and fast["vem_work_share"] is None

    text = format_report(dict(core_bounds=[vem, kd, fast], profile=[], errors=[]))
    assert "What the targets ask of core use and work" in text
    cells = [line.split() for line in text.splitlines() if line.startswith("256")]
    # size batch vem torch one default | scaling perfect 2x-scaling cut% | VEM% VEM-scaling
    assert cells[0][6:] == ["1.80", "1.97", "2.03", "11.5", "22.5", "1.98"]
    assert cells[1][-2:] == ["-", "-"]
