"""scripts/profile_tflite.py: attribution of py-spy native samples to executors and ops."""
import importlib.util
import pathlib

import pytest

SCRIPT = pathlib.Path(__file__).resolve().parents[1] / "scripts" / "profile_tflite.py"


@pytest.fixture(scope="module")
def profile_tflite():
    spec = importlib.util.spec_from_file_location("profile_tflite", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


INVOKE = ("thread (1): MainThread;<module> (loop.py:7);Interpreter.invoke (interpreter.py:986);"
          "tflite::Subgraph::InvokeImpl (libtflite.so)")
RAW = [
    # 6 samples in TFLite's own broadcasting int8 ADD kernel (not delegated)
    f"{INVOKE};tflite::ops::builtin::add::EvalAddQuantized<(KernelType)2> (libtflite.so);"
    "tflite::optimized_integer_ops::AddElementwiseInt8 (libtflite.so) 6\n",
    # 3 in the XNNPACK delegate, on the main thread and on a pool thread
    f"{INVOKE};tflite::xnnpack::SubgraphInvoke (libtflite.so);xnn_run_operator_with_index "
    "(libtflite.so);xnn_qs8_igemm_ukernel (libtflite.so) 2\n",
    "thread (2): pthreadpool_thread_main (libtflite.so);xnn_compute_igemm (libtflite.so);"
    "xnn_qs8_igemm_ukernel (libtflite.so) 1\n",
    # 1 pool thread waiting
    "thread (2): pthreadpool_thread_main (libtflite.so);syscall (libc.so.6) 1\n",
    # not inference: importing TensorFlow on the main thread
    "thread (1): MainThread;<module> (loop.py:3);_find_and_load (<frozen importlib>) 40\n",
]


def test_samples_are_attributed_to_executor_and_innermost_function(profile_tflite):
    report = profile_tflite.summarise(RAW)
    assert report["samples"] == 10  # the 40 import samples are left out
    assert report["by_executor"] == [["TFLite kernel: add", 0.6], ["XNNPACK delegate", 0.3],
                                     ["wait", 0.1]]
    assert dict(report["by_leaf"]) == {"tflite::optimized_integer_ops::AddElementwiseInt8": 0.6,
                                       "xnn_qs8_igemm_ukernel": 0.3, "syscall": 0.1}


def test_no_inference_samples_is_an_error_naming_the_fix(profile_tflite):
    with pytest.raises(ValueError, match="raise --invocations"):
        profile_tflite.summarise(RAW[-1:])
