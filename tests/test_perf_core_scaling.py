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
