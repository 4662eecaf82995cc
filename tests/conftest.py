"""Shared pytest set-up: quiet TensorFlow, split the CPU into two logical devices
(so MirroredStrategy tests can run two replicas on one CPU), share the cores among
pytest-xdist workers, fix seeds."""
import collections
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Under pytest-xdist each worker gets its share of the cores, and so do the commands the
# tests start as subprocesses (they inherit the environment, and a resumed run must
# reduce in the same thread partition as the run it resumes to be bit-identical). With
# TensorFlow's default, a thread per core in every worker, the workers' spinning thread
# pools contend on 2 cores.
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # As itgc_tf.eval.report.usable_cpu_cores, which would import TensorFlow too early.
    _cores = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
              else os.cpu_count())
    _threads = str(max(1, _cores // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", _threads)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", _threads)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2)
except RuntimeError:  # TF already initialised in this process: keep what it has.
    pass


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global seeds."""
    import keras
    keras.utils.set_random_seed(1234)
    np.random.seed(1234)
    yield


@pytest.fixture(scope="session")
def two_replica_strategy():
    """MirroredStrategy over two logical CPU devices, one per test session: two
    strategies in one process reuse collective keys and abort each other's ops."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")][:2]
    assert len(devices) == 2, devices
    return tf.distribute.MirroredStrategy(devices)


def pytest_collection_modifyitems(items):
    """Test files holding `slow` tests run first, the most slow tests first (order
    otherwise kept): under pytest-xdist (scripts/test.sh, whole files per worker) the
    long files then start early instead of finishing last on one worker while the
    other idles."""
    slow = collections.Counter(item.path for item in items if item.get_closest_marker("slow"))
    items.sort(key=lambda item: -slow[item.path])
