"""training/runner.py: the fit loop's guards and restore option, the run folder's
claim, and the flags compared on resume (in process, toy sizes)."""
import pathlib

import pytest
import tensorflow as tf

from itgc_tf.training import runner
from itgc_tf.training.callbacks import LossExplosionError
from itgc_tf.training.config import RunConfig, ScheduleConfig, TrainTeacherConfig
from itgc_tf.training.run_lock import RunFolderLockedError, RunLock
from test_training_callbacks import _regression_data, _regressor


def _fit(model, tmp_path, epochs, **run_options):
    run = RunConfig(model_dir=str(tmp_path), keep_checkpoints=50, checkpoint_every_steps=1,
                    image_summary_every=0, verbose=0,
                    schedule=ScheduleConfig(epochs=epochs, epochs_decay=0), **run_options)
    dirs = {"checkpoints": tmp_path / "checkpoints", "tensorboard": tmp_path / "tensorboard"}
    return runner.fit(model, run, lambda: _regression_data().repeat(), dirs,
                      tf.distribute.get_strategy(), steps_per_epoch=4)


def test_explosion_factor_stops_a_blow_up_and_restore_from_resumes_a_named_checkpoint(tmp_path):
    # 4 steps an epoch; from step 25 on the loss is 1000x: the guard (20 steps of
    # history, patience 3) stops at step 27, the saves of steps 25-26 held back.
    with pytest.raises(LossExplosionError, match="epoch 7, step 3"):
        _fit(_regressor(blow_up_at=24), tmp_path, 10, explosion_factor=100,
             explosion_patience=3)
    saved = sorted(int(p.stem.split("-")[1]) for p in (tmp_path / "checkpoints").glob("*.index"))
    assert saved[-1] == 24
    model = _regressor(blow_up_at=24)
    history = _fit(model, tmp_path, 6, restore_from="ckpt-20")  # guard off: the default
    assert int(model.optimizer.iterations.numpy()) == 24 and len(history.epoch) == 1


def test_explosion_options_are_validated():
    with pytest.raises(ValueError, match="explosion_factor must be 0 .off. or > 1"):
        RunConfig(explosion_factor=0.5)
    with pytest.raises(ValueError, match="explosion_patience must be >= 1"):
        RunConfig(explosion_patience=0)


def _teacher_config(model_dir, **values):
    from itgc_tf import options
    return options.from_values(TrainTeacherConfig, {"dataset": "demo:enhance",
                                                    "model_dir": str(model_dir), **values})


def test_resume_flags_refuse_run_changes_but_not_watching_changes(tmp_path):
    runner.write_flagfile(tmp_path / "flags.cfg", _teacher_config(tmp_path))
    assert runner.resume_flag_changes(tmp_path, _teacher_config(tmp_path, verbose=2))[0].name \
        == "verbose"
    with pytest.raises(ValueError, match=r"--lr: '0.0002' \(recorded\) -> '0.001' \(now\)"):
        runner.resume_flag_changes(tmp_path, _teacher_config(tmp_path, lr=1e-3))
    changes = runner.resume_flag_changes(
        tmp_path, _teacher_config(tmp_path, lr=1e-3, allow_changed_flags=True))
    runner.record_flags(tmp_path, _teacher_config(tmp_path, lr=1e-3), changes)
    runner.record_flags(tmp_path, _teacher_config(tmp_path, lr=1e-3), [])
    history = (tmp_path / "flags_history.txt").read_text()
    assert history.count("--lr: '0.0002' (recorded) -> '0.001' (now)") == 1
    assert "--lr=0.001" in (tmp_path / "flags.cfg").read_text()


def test_options_newer_than_the_recorded_flags_count_as_their_defaults(tmp_path):
    """A run started before an option existed resumes unless the option is set away
    from its default."""
    lines = (tmp_path / "flags.cfg")
    runner.write_flagfile(lines, _teacher_config(tmp_path))
    old = [line for line in lines.read_text().splitlines()
           if not line.startswith(("--norm_affine_D=", "--ndf="))]
    assert len(old) == len(lines.read_text().splitlines()) - 2
    lines.write_text("\n".join(old) + "\n")
    assert runner.resume_flag_changes(tmp_path, _teacher_config(tmp_path)) == []
    with pytest.raises(ValueError, match=r"--ndf: '64' \(recorded\) -> '32' \(now\)"):
        runner.resume_flag_changes(tmp_path, _teacher_config(tmp_path, ndf=32))
    with pytest.raises(ValueError, match=r"--norm_affine_D: 'false' \(recorded\) -> 'true'"):
        runner.resume_flag_changes(tmp_path, _teacher_config(tmp_path, norm_affine_D=True))


def test_a_failed_new_run_leaves_no_folder_and_a_locked_one_is_refused(tmp_path):
    strategy = tf.distribute.get_strategy()
    model_dir = tmp_path / "new"
    with pytest.raises(ValueError, match="boom"):
        with runner.claimed_run_folder(str(model_dir), strategy), \
                runner.run_dirs(str(model_dir), strategy):
            raise ValueError("boom")
    assert not model_dir.exists()
    pathlib.Path(tmp_path / "kept").mkdir()
    with pytest.raises(ValueError, match="boom"):  # an existing folder is never removed
        with runner.claimed_run_folder(str(tmp_path / "kept"), strategy):
            raise ValueError("boom")
    assert (tmp_path / "kept").is_dir()
    with RunLock(tmp_path / "kept"):
        with pytest.raises(RunFolderLockedError):
            with runner.claimed_run_folder(str(tmp_path / "kept"), strategy):
                pass
