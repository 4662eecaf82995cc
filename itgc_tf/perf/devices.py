"""Where a benchmark measurement ran, and keeping the CPU-only sections on the CPU.

On a machine with a GPU, TensorFlow places the train steps, the VEM pieces and the
SavedModels on it; TFLite always runs on the CPU. Sections ``vs_torch`` and
``core_scaling`` compare with the PyTorch anchor, which runs on the CPU
(``shared/anchors/torch_vem_step.py`` has no device option), and with TensorFlow's CPU
thread counts, so they hide every GPU and run on the CPU as well: a GPU step against a
CPU anchor would be no comparison.
"""
import tensorflow as tf

from itgc_tf.eval.report import gpu_name

CPU_SECTIONS = ("vs_torch", "core_scaling")
# For child processes of a CPU-only section: CUDA then shows TensorFlow no GPU.
HIDE_GPUS_ENV = {"CUDA_VISIBLE_DEVICES": "-1"}


def compute_device():
    """"CPU", or "GPU: <name>" of the first GPU TensorFlow places ops on in this process."""
    gpus = tf.config.get_visible_devices("GPU")
    return f"GPU: {gpu_name(gpus[0])}" if gpus else "CPU"


def keep_on_cpu():
    """Hide every GPU from TensorFlow in this process (no-op without one). Must run before
    TensorFlow first uses a GPU; RuntimeError naming the fix otherwise."""
    if not tf.config.list_physical_devices("GPU"):
        return
    try:
        tf.config.set_visible_devices([], "GPU")
    except RuntimeError as error:
        raise RuntimeError(
            "This section runs on the CPU (the PyTorch anchor and the thread counts are the "
            "CPU's), but TensorFlow already uses a GPU in this process. Fix: run "
            "scripts/benchmark.py without --noisolate, so each measurement gets a fresh "
            f"process. ({error})") from error


def tag_device(result, device):
    """``result`` (a record or a list of records) with ``device`` set on every record
    that does not name its own (TFLite latency records say "CPU")."""
    for record in result if isinstance(result, list) else [result]:
        record.setdefault("device", device)
    return result
