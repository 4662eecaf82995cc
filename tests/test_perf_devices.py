"""Where benchmark measurements run: every record names its device, and the sections that
compare with the CPU (the PyTorch anchor, core counts) keep off a GPU."""
import pytest
import tensorflow as tf

from itgc_tf import perf
from itgc_tf.perf import anchor, core_scaling, devices
from itgc_tf.perf.tables import format_report


class _FakeGpu:
    name, device_type = "/physical_device:GPU:0", "GPU"


def test_compute_device_is_cpu_without_a_visible_gpu():
    expected = "CPU" if not tf.config.get_visible_devices("GPU") else "GPU: "
    assert devices.compute_device().startswith(expected)


def test_records_gain_the_device_unless_they_name_their_own():
    records = [dict(format="saved_model"), dict(format="tflite_int8", device="CPU")]
    assert devices.tag_device(records, "GPU: H200") == [
        dict(format="saved_model", device="GPU: H200"),
        dict(format="tflite_int8", device="CPU")]
    assert devices.tag_device(dict(config="kd"), "CPU") == dict(config="kd", device="CPU")


def test_keep_on_cpu_hides_every_gpu(monkeypatch):
    hidden = []
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [_FakeGpu()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config, "set_visible_devices",
                        lambda found, kind=None: hidden.append((found, kind)))
    devices.keep_on_cpu()
    assert hidden == [([], "GPU")]


def test_keep_on_cpu_names_the_fix_once_tensorflow_uses_the_gpu(monkeypatch):
    def too_late(found, kind=None):
        raise RuntimeError("Visible devices cannot be modified after being initialized")

    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: [_FakeGpu()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config, "set_visible_devices", too_late)
    with pytest.raises(RuntimeError, match="without --noisolate"):
        devices.keep_on_cpu()


@pytest.mark.parametrize("section, module, name", [
    ("vs_torch", anchor, "measure_vs_torch"), ("core_scaling", core_scaling,
                                                "measure_core_scaling")])
def test_cpu_sections_hide_the_gpu_before_measuring(monkeypatch, section, module, name):
    calls = []
    monkeypatch.setattr(devices, "keep_on_cpu", lambda: calls.append("keep_on_cpu"))
    monkeypatch.setattr(devices, "compute_device", lambda: "CPU")
    monkeypatch.setattr(module, name, lambda spec: calls.append(name) or [dict(piece="x")])
    assert perf.measure(dict(section=section)) == [dict(piece="x", device="CPU")]
    assert calls == ["keep_on_cpu", name]


def test_other_sections_run_where_tensorflow_places_them(monkeypatch):
    from itgc_tf.perf import block_conv

    calls = []
    monkeypatch.setattr(devices, "keep_on_cpu", lambda: calls.append("keep_on_cpu"))
    monkeypatch.setattr(devices, "compute_device", lambda: "GPU: H200")
    monkeypatch.setattr(block_conv, "measure_block_conv", lambda spec: [dict(kernel=7)])
    assert perf.measure(dict(section="block_conv")) == [dict(kernel=7, device="GPU: H200")]
    assert calls == []


def test_core_scaling_processes_see_no_gpu_and_their_thread_limits():
    one, default = core_scaling.worker_env("one"), core_scaling.worker_env("default")
    assert one["CUDA_VISIBLE_DEVICES"] == default["CUDA_VISIBLE_DEVICES"] == "-1"
    assert one["TF_NUM_INTRAOP_THREADS"] == one["TF_NUM_INTEROP_THREADS"] == "1"
    assert "TF_NUM_INTRAOP_THREADS" not in default


def test_the_report_says_where_each_section_ran():
    report = dict(train=[], vem_share=[], speedups=[], data=[], profile=[], errors=[],
                  latency=[dict(model="student", size=64, format=f, median_ms=1.0, p90_ms=1.0,
                                cpu_ms=1.0, runs=1, gmacs=0.1, file_mb=1.0, export_s=1.0,
                                device=d)
                           for f, d in (("saved_model", "GPU: H200"), ("tflite_fp32", "CPU"))],
                  vs_torch=[dict(size=256, batch=1, vem=True, precision="float32",
                                 torch_ms=400.0, itgc_ms=200.0, speedup_x=2.0, torch="2.13",
                                 torch_threads=2, tf_threads=2, device="CPU")])
    first = format_report(report).strip().splitlines()[0]
    assert first == "Ran on: GPU: H200 (latency); CPU (latency, vs_torch)"
    del report["vs_torch"][0]["device"]
    for record in report["latency"]:
        del record["device"]
    assert "Ran on" not in format_report(report)  # reports from before the field


def test_peak_device_memory_is_the_gpu_allocator_peak_in_mib(monkeypatch):
    from itgc_tf.perf.steps import peak_device_mb

    if not tf.config.get_visible_devices("GPU"):
        assert peak_device_mb() is None
    asked = []
    monkeypatch.setattr(tf.config, "get_visible_devices",
                        lambda kind=None: [_FakeGpu()] if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "get_memory_info",
                        lambda name: asked.append(name) or dict(current=1, peak=3 * 2**20 + 2**19))
    assert peak_device_mb() == 3.5 and asked == ["GPU:0"]
