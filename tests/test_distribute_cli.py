"""--strategy and the other scaling flags: strategy choice, global-batch check,
rejected values, and a two-worker MultiWorkerMirroredStrategy distillation on
127.0.0.1 that matches a one-process run with the same global batch."""
import json
import re
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from distribute_helpers import (distill_args, free_port, probe_images, run, save_random_teacher,
                                start, student)
from itgc_tf import options
from itgc_tf.training import runner
from itgc_tf.training.config import DistillConfig


def test_strategies_on_a_cpu_only_host(monkeypatch):
    assert runner.make_strategy("auto") is tf.distribute.get_strategy()  # no GPU: default
    assert runner.make_strategy("default") is tf.distribute.get_strategy()
    one = runner.make_strategy("one_device")
    assert isinstance(one, tf.distribute.OneDeviceStrategy)
    assert one.extended.worker_devices[0].endswith("CPU:0")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG environment variable, which is not set"):
        runner.make_strategy("multi_worker")
    with pytest.raises(ValueError, match="Unknown --strategy='gpu'"):
        runner.make_strategy("gpu")


def test_global_batch_must_split_evenly_over_the_replicas(two_replica_strategy):
    runner.check_global_batch(4, two_replica_strategy)
    with pytest.raises(ValueError, match=r"--batch_size=5 is the GLOBAL batch .* 2 replicas"):
        runner.check_global_batch(5, two_replica_strategy)


BAD_FLAGS = [
    (["--strategy=gpu"], "value should be one of"),
    (["--mixed_precision=float8"], "value should be one of"),
    (["--checkpoint_every_steps=0"], "--checkpoint_every_steps must be >= 1"),
    (["--tpu=my-tpu"], "--tpu names the TPU of --strategy=tpu"),
    (["--strategy=tpu", "--mixed_precision=mixed_float16"], "TPUs compute in bfloat16"),
    (["--keep_checkpoints=0"], "--keep_checkpoints must be >= 1"),
    (["--verbose=3"], "--verbose must be 0 (silent), 1 (progress bar) or 2"),
    (["--skip_nonfinite_steps=maybe"], "Non-boolean argument"),
]


def _rejection(args):
    """The error DistillConfig's flags raise for ``args`` (absl or validation), or None."""
    flag_values = flags.FlagValues()
    options.define_flags(DistillConfig, flag_values)
    try:
        flag_values(["distill", "--model_dir=m", "--dataset=demo:enhance", *args])
        options.from_flags(DistillConfig, flag_values)
    except (flags.Error, ValueError) as error:
        return str(error)
    return None


@pytest.mark.parametrize("args,expected", BAD_FLAGS)
def test_bad_values_of_the_scaling_flags_are_rejected_with_a_message(args, expected):
    message = _rejection(args)
    assert message is not None and expected in message, (args, message)


def _last_epoch_logs(output):
    line = [l for l in output.splitlines() if re.match(r"Epoch \d+/\d+ - \d+ steps", l)][-1]
    return {k: float(v) for k, v in re.findall(r"(\w+): (-?[\d.]+(?:e[-+]\d+)?)", line)}


@pytest.mark.slow  # two workers and a reference run: ~1-2 min on 2 cores
def test_two_workers_train_like_one_process_and_only_the_chief_writes(tmp_path):
    teacher = save_random_teacher(tmp_path / "teacher.keras")
    run_flags = ["--batch_size=4", "--steps_per_epoch=2", "--epochs=1", "--epochs_decay=1",
                 "--langevin_noise=0"]  # replicas' Langevin noise differs from one process's
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    worker_tmp = tmp_path / "worker_tmp"
    worker_tmp.mkdir()
    began = time.monotonic()
    workers = [start(distill_args(tmp_path / "multi", teacher, "--strategy=multi_worker",
                                  *run_flags), TMPDIR=str(worker_tmp),
                     TF_CONFIG=json.dumps({"cluster": cluster,
                                           "task": {"type": "worker", "index": i}}))
               for i in range(2)]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    seconds = time.monotonic() - began
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-5000:]
    print(f"two-worker distillation: {seconds:.1f} s wall", file=sys.stderr)

    assert list((tmp_path / "multi" / "checkpoints").glob("ckpt-2.index"))
    assert (tmp_path / "multi" / "generator.keras").is_file()
    assert not list(worker_tmp.iterdir()), "worker 1 left files behind"
    single_output = run(distill_args(tmp_path / "single", teacher, "--strategy=default",
                                     *run_flags)).stdout

    multi, single = student(tmp_path / "multi"), student(tmp_path / "single")
    x = probe_images()
    np.testing.assert_allclose(multi(x), single(x), atol=1e-5)
    for a, b in zip(multi.weights, single.weights):
        # Adam turns last-bit differences of the (all-reduced vs one-batch) gradient
        # into steps of up to lr for biases right before instance norm, whose true
        # gradient is 0 and which do not change the output.
        tolerance = 1e-3 if a.path.endswith("bias") else 1e-6
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=tolerance, err_msg=a.path)
    # Logged losses are global-batch averages on any number of workers (grad norms are
    # per-replica: not compared); --verbose=2 prints 5 significant digits.
    logged, reference = _last_epoch_logs(outputs[0]), _last_epoch_logs(single_output)
    assert set(logged) == set(reference) and "loss_mi" in logged
    for name, value in reference.items():
        if not name.endswith("grad_norm"):
            assert logged[name] == pytest.approx(value, rel=1e-3, abs=1e-6), name
