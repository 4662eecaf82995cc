"""Crash and resume end to end: `itgc_tf.distill` killed with SIGKILL mid-run and
restarted with the same command finishes; the epoch count continues, every
checkpoint left behind reads back, and (seeded, deterministic data and kernels)
the final student equals an uninterrupted run's exactly. Ctrl-C (SIGINT) stops a run
with one line, no traceback, and the run resumes the same way."""
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from distribute_helpers import (ROOT, distill_args, environment, probe_images, run,
                                save_random_teacher, start, student)
from itgc_tf.cli.app import INTERRUPTED, INTERRUPTED_MESSAGE

RUN = ["--batch_size=2", "--steps_per_epoch=3", "--epochs=2", "--epochs_decay=1",
       "--checkpoint_every_steps=2", "--keep_checkpoints=10"]


def _kill_when_epoch_2_starts(args, sig=signal.SIGKILL):
    """Run, send ``sig`` as soon as "Epoch 2/3" shows (a checkpoint of epoch 1 exists; a
    step-level one inside epoch 2 may); returns the return code and the whole output."""
    if sig == signal.SIGKILL:
        process = start(args)
    else:  # as in a terminal: SIGINT raises KeyboardInterrupt (a worker may ignore it)
        process = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=environment(), text=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.default_int_handler))
    lines = []
    for line in process.stdout:
        lines.append(line)
        if line.startswith("Epoch 2/3"):
            os.kill(process.pid, sig)
            break
    lines += process.stdout.readlines()
    process.wait(timeout=60)
    return process.returncode, "".join(lines)


def _check_checkpoints(model_dir):
    """Every checkpoint left in ``model_dir`` reads back; returns the newest one's epoch."""
    state = tf.train.get_checkpoint_state(str(model_dir / "checkpoints"))
    assert state is not None and state.all_model_checkpoint_paths
    for path in state.all_model_checkpoint_paths:  # none of them is damaged
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    return tf.train.load_checkpoint(state.model_checkpoint_path).get_tensor(
        "epoch/.ATTRIBUTES/VARIABLE_VALUE")


@pytest.mark.slow  # three toy training processes: ~60 s on 2 cores
def test_killed_run_resumes_and_ends_where_an_uninterrupted_one_does(tmp_path):
    teacher = save_random_teacher(tmp_path / "teacher.keras")
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    code, output = _kill_when_epoch_2_starts(distill_args(killed_dir, teacher, *RUN))
    assert code == -signal.SIGKILL, output[-3000:]
    epoch = _check_checkpoints(killed_dir)
    assert epoch >= 1

    resumed = run(distill_args(killed_dir, teacher, *RUN))
    assert "Epoch 1/3" not in resumed.stdout and f"Epoch {epoch + 1}/3" in resumed.stdout
    assert "Epoch 3/3" in resumed.stdout

    run(distill_args(reference_dir, teacher, *RUN))
    x = probe_images()
    a, b = student(killed_dir), student(reference_dir)
    for wa, wb in zip(a.weights, b.weights):
        np.testing.assert_array_equal(wa.numpy(), wb.numpy(), err_msg=wa.path)
    np.testing.assert_array_equal(a(x), b(x))


@pytest.mark.slow  # two toy training processes: ~25 s on 2 cores
def test_ctrl_c_stops_with_one_line_and_the_run_resumes(tmp_path):
    teacher = save_random_teacher(tmp_path / "teacher.keras")
    args = distill_args(tmp_path / "run", teacher, *RUN)
    code, output = _kill_when_epoch_2_starts(args, signal.SIGINT)
    assert code == INTERRUPTED, output[-3000:]
    assert output.rstrip().endswith(INTERRUPTED_MESSAGE) and "Traceback" not in output
    epoch = _check_checkpoints(tmp_path / "run")
    assert epoch >= 1
    resumed = run(args)
    assert "Epoch 1/3" not in resumed.stdout and f"Epoch {epoch + 1}/3" in resumed.stdout
    assert "Epoch 3/3" in resumed.stdout
