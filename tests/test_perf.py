"""The benchmark's pure pieces (itgc_tf.perf): speed-ups, VEM shares, trace summary,
graph op counts and report tables, against hand computations."""
import pytest
import tensorflow as tf

from itgc_tf.perf.latency import speedups
from itgc_tf.perf.steps import graph_op_counts
from itgc_tf.perf.tables import format_report, table
from itgc_tf.perf.trace import part_of, summarise_events
from itgc_tf.perf.vem_share import vem_shares


def _latency(model, fmt, ms, size=64):
    return dict(model=model, size=size, format=fmt, median_ms=ms)


def test_speedups_pair_student_with_teacher_per_format_and_int8_with_teacher_saved_model():
    latency = [_latency("teacher", "keras", 40.0), _latency("student", "keras", 8.0),
               _latency("teacher", "saved_model", 30.0), _latency("student", "tflite_int8", 2.0),
               _latency("teacher", "tflite_int8", 5.0), _latency("student", "saved_model", 6.0,
                                                                   size=128)]
    rows = {(r["size"], r["format"]): r for r in speedups(latency)}
    # size 128 saved_model has no teacher figure: left out.
    assert set(rows) == {(64, "keras"), (64, "tflite_int8"), (64, "tflite_int8_vs_saved_model")}
    assert rows[64, "keras"]["student_speedup"] == pytest.approx(5.0)
    assert rows[64, "tflite_int8"]["student_speedup"] == pytest.approx(2.5)
    assert rows[64, "tflite_int8_vs_saved_model"] == dict(
        size=64, format="tflite_int8_vs_saved_model", teacher_ms=30.0, student_ms=2.0,
        student_speedup=15.0)


def test_vem_shares_are_fractions_of_the_kd_vem_step():
    median = dict(kd_step=0.6, kd_vem_step=1.0, langevin=0.15, critic_update=0.05)
    shares = vem_shares(median)
    assert shares["langevin_critic_share"] == pytest.approx(0.2)
    assert shares["vem_share_in_situ"] == pytest.approx(0.4)
    assert shares["kd_vem_vs_kd"] == pytest.approx(0.6)
    assert shares["langevin_share_in_situ"] is None  # no K=0 step measured
    assert vem_shares(median | dict(kd_vem_k0_step=0.7))["langevin_share_in_situ"] == \
        pytest.approx(0.3)


def test_part_of_names_the_network_an_op_belongs_to():
    assert part_of("kd/while/body/critic/conv:Conv2D") == "langevin_loop"
    assert part_of("energy_critic/block_1/conv:Conv2D") == "critic"
    assert part_of("Student_down_1/conv:Conv2D") == "student"
    assert part_of("n_layers_d/conv:Conv2D") == "discriminator"
    assert part_of("Adam/update:AssignVariableOp") == "optimizers"
    assert part_of("concat:ConcatV2") == "other"


def test_trace_summary_sums_op_time_per_type_and_part_and_skips_non_ops():
    ps = 10**9  # 1 ms
    events = [("student_a/conv:Conv2D", 3 * ps), ("teacher_b/conv:Conv2D", 1 * ps),
              ("student_a/relu:Relu", 4 * ps), ("__inference_train_step_123", 50 * ps),
              ("ExecutorState::Process", 50 * ps)]
    summary = summarise_events(events, calls=2)
    assert summary["op_ms_per_call"] == pytest.approx(4.0)  # 8 ms of op time over 2 calls
    assert summary["by_op"] == [["Conv2D", 0.5], ["Relu", 0.5]]
    assert summary["by_part"] == {"student": 0.875, "teacher": 0.125}
    assert summarise_events([], calls=1)["op_ms_per_call"] == 0


def test_graph_op_counts_include_the_function_library():
    @tf.function
    def loop(x):
        return tf.while_loop(lambda i, x: i < 3, lambda i, x: (i + 1, x * 2.0), (0, x))[1]

    graph_def = loop.get_concrete_function(tf.TensorSpec([], tf.float32)).graph.as_graph_def()
    counts = graph_op_counts(graph_def)
    assert counts["StatelessWhile"] + counts["While"] == 1
    assert counts["Mul"] == 1  # inside the loop body's library function


def test_table_aligns_columns_and_prints_none_as_dash():
    text = table("T", ["name", "ms"], [["teacher", 12.5], ["s", None]])
    assert text.splitlines() == ["T", "name       ms", "teacher  12.5", "s           -"]


def test_format_report_prints_only_filled_sections_and_failures():
    report = dict(train=[], vem_share=[], latency=[], speedups=[], profile=[],
                  data=[dict(source="demo:enhance", size=64, batch=1, images_per_s=123.456)],
                  errors=[dict(spec={"section": "train"}, error="ValueError: boom")])
    text = format_report(report)
    assert text.startswith("\nInput pipeline (demo:enhance)\n")
    assert "123.5" in text and "Training step" not in text and "latency" not in text
    assert text.endswith("FAILED {'section': 'train'}: ValueError: boom")
