"""Section precision: the anchor step under each dtype policy, interleaved in one process."""
import keras
import pytest

from itgc_tf.perf import precision as precision_module
from itgc_tf.perf.precision import measure_precision, precision_records
from itgc_tf.perf.tables import format_report

KEYS = {"size", "batch", "precision", "vem", "ms", "cpu_ms", "ms_rounds", "vem_adds",
        "vs_float32_x"}


def test_records_give_medians_the_vem_share_and_the_ratio_to_float32():
    runs = {("float32", False): ([0.2, 0.1, 0.3], [0.4, 0.2, 0.6]),
            ("float32", True): ([0.3, 0.25, 0.2], [0.5, 0.5, 0.5]),
            ("mixed_bfloat16", False): ([0.05, 0.1, 0.08], [0.1, 0.1, 0.1]),
            ("mixed_bfloat16", True): ([0.125, 0.125, 0.125], [0.3, 0.2, 0.1])}
    records = {(r["precision"], r["vem"]): r for r in precision_records(256, 4, runs)}
    assert all(set(r) == KEYS and (r["size"], r["batch"]) == (256, 4) for r in records.values())
    assert records[("float32", False)]["ms"] == pytest.approx(200.0)
    assert records[("float32", False)]["cpu_ms"] == pytest.approx(400.0)
    assert records[("float32", True)]["ms_rounds"] == pytest.approx([300.0, 250.0, 200.0])
    assert records[("float32", True)]["vem_adds"] == pytest.approx(250.0 / 200.0 - 1)
    assert records[("mixed_bfloat16", True)]["vem_adds"] == pytest.approx(125.0 / 80.0 - 1)
    assert records[("float32", False)]["vem_adds"] is None
    assert records[("mixed_bfloat16", False)]["vs_float32_x"] == pytest.approx(200.0 / 80.0)
    assert records[("mixed_bfloat16", True)]["vs_float32_x"] == pytest.approx(250.0 / 125.0)
    assert records[("float32", True)]["vs_float32_x"] == pytest.approx(1.0)
    without_float32 = precision_records(256, 4, {k: v for k, v in runs.items()
                                                 if k[0] != "float32"})
    assert all(r["vs_float32_x"] is None for r in without_float32)


def test_measure_precision_interleaves_every_variant_and_restores_the_policy(monkeypatch):
    """The orchestration, with stand-in steps (anchor_step itself builds and trains the
    reference networks in tests/test_perf_anchor.py): every (policy, vem) variant built
    with the critic blocks that fit, called round-robin (two untimed rounds, then
    ``repeats``), the global policy float32 afterwards."""
    built, calls = [], []

    def fake_anchor_step(size, batch, vem, precision, critic_blocks):
        keras.mixed_precision.set_global_policy(precision)  # as anchor_step does
        built.append((size, batch, vem, precision, critic_blocks))
        return lambda: calls.append((precision, vem))

    monkeypatch.setattr(precision_module, "anchor_step", fake_anchor_step)
    records = measure_precision(dict(size=64, batch=2, repeats=3,
                                     precisions=["float32", "mixed_bfloat16"]))
    assert keras.mixed_precision.global_policy().name == "float32"
    variants = [(p, v) for p in ("float32", "mixed_bfloat16") for v in (False, True)]
    assert built == [(64, 2, v, p, 5) for p, v in variants]  # 64 px: 5 critic blocks fit
    assert calls == variants * (2 + 3)
    assert {(r["precision"], r["vem"]) for r in records} == set(variants)
    for record in records:
        assert set(record) == KEYS and len(record["ms_rounds"]) == 3
        assert record["vs_float32_x"] > 0 and (record["vem_adds"] is None) != record["vem"]
    table = format_report(dict(train=[], vem_share=[], latency=[], speedups=[], data=[],
                               profile=[], errors=[], vs_torch=[], precision=records))
    assert "by dtype policy" in table and "mixed_bfloat16" in table
