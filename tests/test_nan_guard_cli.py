"""NaN guard end to end: an injected NaN (tests/nan_distill.py: a NaN input batch)
stops `itgc_tf.distill` with a message naming the term and step, exit status != 0,
the last good checkpoint kept; the same command with --skip_nonfinite_steps resumes
from it, skips and finishes. The command runs in this process (tests/cli_helpers.py)
with the data patched."""
import numpy as np
import tensorflow as tf

from distribute_helpers import distill_args, run, save_random_teacher, student
from itgc_tf.training import runner
from nan_distill import with_nan_batch

# No VEM (faster); 3 steps per epoch, checkpoints at steps 2, 3 (epoch end) and 4;
# NaN at step 5.
RUN = ["--vem_weight=0", "--batch_size=2", "--steps_per_epoch=3", "--epochs=2",
       "--epochs_decay=0", "--checkpoint_every_steps=2"]


def _distill_with_nan_at_step_5(monkeypatch, args, expect_ok=True):
    """``python -m itgc_tf.distill ARGS`` whose training data holds NaN inputs at step 5."""
    assert args[:2] == ["-m", "itgc_tf.distill"]
    with monkeypatch.context() as patched:
        patched.setattr(runner, "training_data", with_nan_batch(runner.training_data, 5))
        return run(args, expect_ok=expect_ok)


def test_injected_nan_stops_keeps_the_last_good_checkpoint_and_skipping_finishes(
        tmp_path, monkeypatch):
    teacher = save_random_teacher(tmp_path / "teacher.keras")
    model_dir = tmp_path / "run"
    stopped = _distill_with_nan_at_step_5(monkeypatch, distill_args(model_dir, teacher, *RUN),
                                          expect_ok=False)
    assert stopped.returncode != 0
    message = stopped.stderr.strip().splitlines()[-1]
    assert message.startswith("FATAL: Non-finite training values at epoch 2, step 2: "), message
    assert "student_loss=nan" in message and "Traceback" not in stopped.stderr
    latest = tf.train.latest_checkpoint(str(model_dir / "checkpoints"))
    assert latest.endswith("ckpt-3") and f"{latest}, is kept" in message
    assert not (model_dir / "generator.keras").exists()
    reader = tf.train.load_checkpoint(latest)
    assert reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE") == 4
    for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if isinstance(value, np.ndarray) and value.dtype.kind == "f":
            assert np.isfinite(value).all(), name  # nothing of the NaN step was saved

    finished = _distill_with_nan_at_step_5(monkeypatch, distill_args(
        model_dir, teacher, *RUN, "--skip_nonfinite_steps"))
    assert "Epoch 2/2" in finished.stdout and "Epoch 1/2" not in finished.stdout  # resumed
    assert "Skipped steps with non-finite values: 1 (over the whole run)." in finished.stdout
    weights = student(model_dir).get_weights()
    assert all(np.isfinite(w).all() for w in weights)
