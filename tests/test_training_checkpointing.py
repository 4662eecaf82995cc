"""RunCheckpoint: exact resume, epoch count, keep-N, step saves, atomic saves,
corrupt/mismatched checkpoints, chief-only writing (itgc_tf.training.checkpointing)."""
import os
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import compile_default, toy_distiller, toy_pairs
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.training.checkpointing import RunCheckpoint, cleanup_write_dir, is_chief, write_dir
from itgc_tf.training.teachers import CycleGANTeacher


def _regressor(units=1):
    """Dense regressor compiled with Adam (has optimizer slots)."""
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(units)])
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    return model


def _regression_data(n=16, batch=4):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, x @ [[1.0], [-2.0], [0.5]])).batch(batch)


def _values(variables):
    return [v.numpy().copy() for v in variables]


def _assert_same(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def _generator(prefix, ngf):
    return build_generator("unet_4", 3, 3, ngf=ngf, name_prefix=prefix)


def _discriminator(prefix, input_nc):
    return build_discriminator("n_layers", input_nc, ndf=4, n_layers=1, name_prefix=prefix)


def _distiller():
    """kd + VEM: student, frozen teacher, student discriminator, energy critic."""
    distiller = toy_distiller("kd", vem_weight=0.1, teacher_net="unet_4", teacher_width=4,
                              student_netG="unet_4", student_ngf=2, load_size=16, crop_size=16,
                              ndf=4, n_layers_D=1, critic_width=4, critic_blocks=2,
                              langevin_steps=2)
    return compile_default(distiller)


def _cyclegan():
    teacher = CycleGANTeacher(_generator("ab_", 4), _generator("ba_", 4), _discriminator("a_", 3),
                              _discriminator("b_", 3), pool_size=2, seed=7)
    teacher.build({"A": (None, 16, 16, 3), "B": (None, 16, 16, 3)})
    teacher.compile()
    return teacher


def _toy_images():
    pairs = toy_pairs(4)
    return tf.data.Dataset.from_tensor_slices({k: v[:, :16, :16] for k, v in pairs.items()}).batch(2)


@pytest.mark.parametrize("build", [_distiller, _cyclegan], ids=["distiller_vem", "cyclegan"])
def test_restoring_rolls_back_everything_the_next_epoch_depends_on(tmp_path, build):
    """Train epoch 1 (saved) and epoch 2; restore and train epoch 2 again: the
    same result, bit for bit, only if every piece of state a step reads was
    saved: weights of every sub-network, spectral-norm vectors, the optimizers'
    slots and iteration counts (Langevin seeds derive from them), the image
    pools and their random generators (pool_size 2 < 4 images, so epoch 2 draws
    from a full pool). (One model object, so one trace: restoring into a fresh
    model is tested on a small one below.)"""
    data = _toy_images()
    model = build()
    run = RunCheckpoint(str(tmp_path), model)
    model.fit(data, epochs=1, verbose=0, callbacks=[run.callback()])
    after_epoch_1 = _values(model.variables)
    model.fit(data, epochs=2, initial_epoch=1, verbose=0)
    after_epoch_2 = _values(model.variables)
    optimizers = [o for o in vars(model).values() if isinstance(o, keras.optimizers.Optimizer)]
    slots = [_values(o.variables) for o in optimizers]
    assert len(optimizers) >= 2

    assert run.restore_latest() == 1
    _assert_same(_values(model.variables), after_epoch_1)
    model.fit(data, epochs=2, initial_epoch=1, verbose=0)
    _assert_same(_values(model.variables), after_epoch_2)
    for optimizer, values in zip(optimizers, slots):
        _assert_same(_values(optimizer.variables), values)


def test_no_checkpoint_means_epoch_zero(tmp_path):
    assert RunCheckpoint(str(tmp_path / "none"), _regressor()).restore_latest() == 0


def test_fit_resumes_the_epoch_count_and_keeps_the_newest(tmp_path):
    model = _regressor()
    run = RunCheckpoint(str(tmp_path), model, max_to_keep=2)
    model.fit(_regression_data(), epochs=3, verbose=0, callbacks=[run.callback()])
    assert [os.path.basename(p) for p in tf.train.get_checkpoint_state(str(tmp_path))
            .all_model_checkpoint_paths] == ["ckpt-2", "ckpt-3"]
    assert not any(name.startswith("ckpt-1.") for name in os.listdir(tmp_path))
    trained = _values(model.variables)

    again = _regressor()
    resumed = RunCheckpoint(str(tmp_path), again, max_to_keep=2)
    initial_epoch = resumed.restore_latest()
    assert (initial_epoch, resumed.step) == (3, 12)  # 3 epochs of 4 steps
    _assert_same(_values(again.variables), trained)
    history = again.fit(_regression_data(), epochs=5, initial_epoch=initial_epoch, verbose=0,
                        callbacks=[resumed.callback()])
    assert history.epoch == [3, 4]
    assert RunCheckpoint(str(tmp_path), _regressor()).restore_latest() == 5
    assert resumed.step == 20


def test_step_saves_hold_the_completed_epochs(tmp_path):
    model = _regressor()
    run = RunCheckpoint(str(tmp_path), model, max_to_keep=10, save_every_n_steps=2)
    model.fit(_regression_data(), epochs=2, verbose=0, callbacks=[run.callback()])
    saved = []
    for path in tf.train.get_checkpoint_state(str(tmp_path)).all_model_checkpoint_paths:
        reader = tf.train.load_checkpoint(path)
        saved.append((int(reader.get_tensor("epoch/.ATTRIBUTES/VARIABLE_VALUE")),
                      int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE"))))
    # Steps 2 and 6 mid-epoch; steps 4 and 8 end an epoch: saved once, as epoch ends.
    assert saved == [(0, 2), (1, 4), (1, 6), (2, 8)]


def _crash_after_writing_data(monkeypatch):
    """Every CheckpointManager.save dies after its data files are written, before
    the `checkpoint` state file names the new checkpoint (a kill mid-save)."""
    real_save = tf.train.CheckpointManager.save

    def crash(path):
        raise KeyboardInterrupt(f"simulated kill after writing {path}")

    def save(self, *args, **kwargs):
        options = tf.train.CheckpointOptions(experimental_write_callbacks=[crash])
        return real_save(self, *args, options=options, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)


def test_a_crash_during_a_save_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    model = _regressor()
    run = RunCheckpoint(str(tmp_path), model)
    first = run.save(1)
    good = _values(model.variables)
    model.fit(_regression_data(), epochs=1, verbose=0)
    _crash_after_writing_data(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run.save(2)
    assert os.path.exists(str(tmp_path / "ckpt-2.index"))  # its data was written...
    monkeypatch.undo()
    fresh = _regressor()
    restored = RunCheckpoint(str(tmp_path), fresh)
    assert restored.latest_path == first  # ...but the latest is still the previous one
    assert restored.restore_latest() == 1
    _assert_same(_values(fresh.variables), good)


def test_a_corrupt_latest_checkpoint_names_the_file_and_the_way_out(tmp_path):
    model = _regressor()
    run = RunCheckpoint(str(tmp_path), model)
    earlier = run.save(1)
    good = _values(model.variables)
    model.fit(_regression_data(), epochs=1, verbose=0)
    latest = run.save(2)
    with open(latest + ".data-00000-of-00001", "r+b") as f:
        size = f.seek(0, os.SEEK_END)
        f.seek(0)
        f.write(b"\xff" * size)
    with pytest.raises(ValueError, match="corrupt") as error:
        RunCheckpoint(str(tmp_path), _regressor()).restore_latest()
    assert latest in str(error.value) and "--restore_from" in str(error.value)
    assert earlier in str(error.value)
    fresh = _regressor()
    assert RunCheckpoint(str(tmp_path), fresh).restore_latest(restore_from=earlier) == 1
    _assert_same(_values(fresh.variables), good)


def test_restore_errors(tmp_path):
    RunCheckpoint(str(tmp_path), _regressor(units=1)).save(1)
    with pytest.raises(ValueError, match="does not match this model"):
        RunCheckpoint(str(tmp_path), _regressor(units=2)).restore_latest()
    with pytest.raises(FileNotFoundError, match="ckpt-1"):
        RunCheckpoint(str(tmp_path), _regressor()).restore_latest(restore_from=str(tmp_path / "ckpt-9"))
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile it first"):
        RunCheckpoint(str(tmp_path), unbuilt)
    uncompiled = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile it first"):
        RunCheckpoint(str(tmp_path), uncompiled)
    with_unbuilt_optimizer = _regressor()
    with_unbuilt_optimizer.extra_optimizer = keras.optimizers.SGD()
    with pytest.raises(ValueError, match="extra_optimizer .* is not built"):
        RunCheckpoint(str(tmp_path), with_unbuilt_optimizer)
    with pytest.raises(ValueError, match="max_to_keep"):
        RunCheckpoint(str(tmp_path), _regressor(), max_to_keep=0)
    with pytest.raises(ValueError, match="save_every_n_steps"):
        RunCheckpoint(str(tmp_path), _regressor(), save_every_n_steps=0)


def test_the_callback_never_saves_a_nonfinite_state(tmp_path):
    model = _regressor()
    run = RunCheckpoint(str(tmp_path), model, save_every_n_steps=1)
    callback = run.callback()
    callback.set_model(model)
    callback.set_params({"steps": 4})
    callback.on_train_begin()
    callback.on_epoch_begin(0)
    callback.on_train_batch_end(0, {"loss": 1.0})
    callback.on_train_batch_end(1, {"loss": float("nan")})
    callback.on_epoch_end(0, {"loss": float("inf")})
    assert os.path.basename(run.latest_path) == "ckpt-1"


def _strategy(task_type, task_id, jobs):
    spec = tf.train.ClusterSpec({job: [f"localhost:{2000 + i}" for i in range(2)] for job in jobs})
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(spec, task_type=task_type,
                                                                     task_id=task_id)
    return types.SimpleNamespace(cluster_resolver=resolver)


@pytest.mark.parametrize("task_type, task_id, jobs, chief", [
    ("worker", 0, ["worker"], True),
    ("worker", 1, ["worker"], False),
    ("chief", 0, ["chief", "worker"], True),
    ("worker", 0, ["chief", "worker"], False),
    ("evaluator", 0, ["worker", "evaluator"], False),
])
def test_only_the_chief_writes_to_the_model_dir(tmp_path, task_type, task_id, jobs, chief):
    strategy = _strategy(task_type, task_id, jobs)
    model_dir = str(tmp_path / "run")
    assert is_chief(strategy) is chief
    path = write_dir(model_dir, strategy)
    if chief:
        assert path == model_dir
    else:
        assert os.path.isdir(path) and f"{task_type}_{task_id}" in os.path.basename(path)
        assert not os.path.abspath(path).startswith(str(tmp_path))
    cleanup_write_dir(path, model_dir)
    assert os.path.isdir(path) == (chief and os.path.isdir(model_dir))


def test_single_machine_strategies_are_chief(tmp_path):
    assert is_chief(None) and is_chief(tf.distribute.get_strategy())
    assert write_dir(str(tmp_path), None) == str(tmp_path)


def test_a_non_chief_worker_saves_to_a_temporary_dir_and_restores_the_chiefs(tmp_path):
    directory = str(tmp_path / "checkpoints")
    chief_model = _regressor()
    RunCheckpoint(directory, chief_model).save(2)
    worker_model = _regressor()
    worker = RunCheckpoint(directory, worker_model, strategy=_strategy("worker", 1, ["worker"]))
    assert worker.restore_latest() == 2  # from the chief's directory
    _assert_same(_values(worker_model.variables), _values(chief_model.variables))
    callback = worker.callback()
    worker_model.fit(_regression_data(), epochs=3, initial_epoch=2, verbose=0, callbacks=[callback])
    assert [os.path.basename(p) for p in tf.train.get_checkpoint_state(directory)
            .all_model_checkpoint_paths] == ["ckpt-1"]  # nothing written by the worker
    assert not os.path.exists(worker.write_directory)  # its temporary dir is gone after training



def test_mirrored_variables_save_and_restore(tmp_path, two_replica_strategy):
    with two_replica_strategy.scope():
        model = _regressor()
        run = RunCheckpoint(str(tmp_path), model)
    model.fit(_regression_data(), epochs=2, verbose=0, callbacks=[run.callback()])
    with two_replica_strategy.scope():
        fresh = _regressor()
        restored = RunCheckpoint(str(tmp_path), fresh)
        assert restored.restore_latest() == 2
    _assert_same(_values(fresh.variables), _values(model.variables))
    _assert_same(_values(fresh.optimizer.variables), _values(model.optimizer.variables))
