"""Performance measurements behind scripts/benchmark.py, one module per section.

Each ``measure_*`` takes a JSON-able spec and returns a JSON-able record (or list of
records); times in seconds unless a key ends in _ms, memory in MiB. Imports are lazy
per section: CONFIGS, FORMATS and SECTIONS load without TensorFlow.
"""
import importlib

CONFIGS = ("pix2pix_teacher", "cyclegan_teacher", "kd", "kd_vem", "gan_compression_vem",
           "omgd_vem")
FORMATS = ("keras", "keras_eager", "saved_model", "tflite_fp32", "tflite_fp16", "tflite_int8")
SECTIONS = ("train", "vem_share", "latency", "data", "profile", "vs_torch", "precision",
            "block_conv", "per_example", "core_scaling")
_MEASURE = {"train": ("itgc_tf.perf.train", "measure_train"),
            "vem_share": ("itgc_tf.perf.vem_share", "measure_vem_share"),
            "latency": ("itgc_tf.perf.latency", "measure_latency"),
            "data": ("itgc_tf.perf.data_rate", "measure_data"),
            "profile": ("itgc_tf.perf.trace", "measure_profile"),
            "vs_torch": ("itgc_tf.perf.anchor", "measure_vs_torch"),
            "precision": ("itgc_tf.perf.precision", "measure_precision"),
            "block_conv": ("itgc_tf.perf.block_conv", "measure_block_conv"),
            "per_example": ("itgc_tf.perf.per_example", "measure_per_example"),
            "core_scaling": ("itgc_tf.perf.core_scaling", "measure_core_scaling")}


def measure(spec):
    """Run the measurement of section spec["section"] (one of SECTIONS) on ``spec``; each
    record gains ``device`` (`itgc_tf.perf.devices`: "CPU" or "GPU: <name>"). Sections
    that compare with the CPU (`devices.CPU_SECTIONS`) hide the GPUs first."""
    from itgc_tf.perf import devices

    if spec["section"] in devices.CPU_SECTIONS:
        devices.keep_on_cpu()
    module, name = _MEASURE[spec["section"]]
    result = getattr(importlib.import_module(module), name)(spec)
    return devices.tag_device(result, devices.compute_device())
