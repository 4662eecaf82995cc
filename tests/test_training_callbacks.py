"""TensorBoard, image grid, periodic evaluation and NaN-guard callbacks
(itgc_tf.training.callbacks), read back from their event files."""
import glob
import os
import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.plugins.hparams import plugin_data_pb2

from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.training.callbacks import (EpochLine, ExplosionGuard, ImageGridCallback,
                                        LossExplosionError, NaNGuard, NonFiniteLossError,
                                        PeriodicEvaluation, TrainingDivergedError, image_grid,
                                        learning_rates, nonfinite_terms, tensorboard_callbacks)
from itgc_tf.training.checkpointing import RunCheckpoint
from itgc_tf.training.schedules import LinearDecay
from itgc_tf.training.teachers import Pix2PixTeacher, default_optimizer


def _events(directory):
    """[(tag, step, value)] of every summary in the event files directly in `directory`;
    value: the tensor as numpy, plus the summary metadata's plugin name."""
    found = []
    for path in sorted(glob.glob(os.path.join(directory, "events.out.tfevents.*"))):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                found.append((value.tag, event.step, tf.make_ndarray(value.tensor),
                              value.metadata.plugin_data.plugin_name, value.metadata))
    return found


def _scalars(directory):
    return {(tag, step): float(array) for tag, step, array, plugin, _ in _events(directory)
            if plugin == "scalars"}


class Regressor(keras.Model):
    """y = Dense(x) trained on MSE; from optimizer step `nan_at` (0-based) on,
    its loss is NaN (and so are its gradients and weights); from step
    `blow_up_at` on, it is scaled by 1000 (so is the SGD step: training
    diverges, finite for a while)."""

    def __init__(self, nan_at=None, blow_up_at=None):
        super().__init__()
        self.dense = keras.layers.Dense(1)
        self.nan_at, self.blow_up_at = nan_at, blow_up_at
        self.loss_tracker = keras.metrics.Mean(name="loss")

    def call(self, x):
        return self.dense(x)

    @property
    def metrics(self):
        return [self.loss_tracker]

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self(x) - y))
            if self.nan_at is not None:
                loss *= tf.where(self.optimizer.iterations >= self.nan_at, np.nan, 1.0)
            if self.blow_up_at is not None:
                loss *= tf.where(self.optimizer.iterations >= self.blow_up_at, 1000.0, 1.0)
        variables = self.trainable_variables
        self.optimizer.apply(tape.gradient(loss, variables), variables)
        self.loss_tracker.update_state(loss)
        return {"loss": self.loss_tracker.result()}


def _regression_data(n=16, batch=4):
    x = np.random.default_rng(0).normal(size=(n, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices((x, x.sum(1, keepdims=True))).batch(batch)


def _regressor(nan_at=None, blow_up_at=None):
    model = Regressor(nan_at, blow_up_at)
    model(np.zeros((1, 3), "float32"))
    model.compile(keras.optimizers.SGD(1e-2))
    return model


def test_nonfinite_terms():
    logs = {"a": 1.0, "b": float("nan"), "c": float("inf"), "d": -np.inf, "e": "nan", "f": np.float32(2)}
    assert nonfinite_terms(logs) == ["b", "c", "d"]
    assert nonfinite_terms(None) == [] and nonfinite_terms({"x": np.ones(3)}) == []


def test_nan_guard_stops_at_the_first_nonfinite_step_and_keeps_the_last_good_checkpoint(tmp_path):
    model = _regressor(nan_at=6)  # 4 steps per epoch: the 3rd step of epoch 2
    run = RunCheckpoint(str(tmp_path), model, save_every_n_steps=1, max_to_keep=20)
    # The checkpoint callback runs first at each step: it must not save the NaN state either.
    with pytest.raises(NonFiniteLossError) as error:
        model.fit(_regression_data(), epochs=3, verbose=0, callbacks=[run.callback(), NaNGuard(run)])
    message = str(error.value)
    assert "loss=nan" in message and "epoch 2, step 3" in message
    assert f"last good checkpoint, {run.latest_path}," in message
    assert "learning rate" in message and "Langevin step size" in message
    # Steps 1-3, the end of epoch 1 (step 4), steps 5-6; not step 7.
    assert os.path.basename(run.latest_path) == "ckpt-6"
    fresh = _regressor()
    restored = RunCheckpoint(str(tmp_path), fresh)
    assert (restored.restore_latest(), restored.step) == (1, 6)
    assert all(np.all(np.isfinite(v.numpy())) for v in fresh.variables)
    assert isinstance(error.value, RuntimeError)


def test_nan_guard_without_checkpoint_says_nothing_is_saved():
    model = _regressor(nan_at=0)
    with pytest.raises(NonFiniteLossError, match="epoch 1, step 1: loss=nan.*No checkpoint was configured"):
        model.fit(_regression_data(), epochs=1, verbose=0, callbacks=[NaNGuard()])


def test_explosion_guard_stops_a_finite_blow_up_and_keeps_the_last_good_checkpoint(tmp_path):
    model = _regressor(blow_up_at=10)  # 4 steps per epoch: steps 11, 12, 13 are far too high
    run = RunCheckpoint(str(tmp_path), model, save_every_n_steps=1, max_to_keep=20)
    guard = ExplosionGuard(factor=100, patience=3, checkpoint=run, min_history=4)
    with pytest.raises(LossExplosionError) as error:
        model.fit(_regression_data(), epochs=10, verbose=0,
                  callbacks=[NaNGuard(run), guard, run.callback(hold=[guard])])
    message = str(error.value)
    assert "epoch 4, step 1: loss=" in message and "3 consecutive steps" in message
    assert f"last good checkpoint, {run.latest_path}," in message and "Fix: lower" in message
    assert isinstance(error.value, TrainingDivergedError)
    # Steps 1-10 saved (one checkpoint each); 11 and 12 held back; 13 stopped the run.
    assert os.path.basename(run.latest_path) == "ckpt-10"
    restored = RunCheckpoint(str(tmp_path), _regressor())
    assert (restored.restore_latest(), restored.step) == (2, 10)


def _feed(guard, step_values, name="loss"):
    """Calls the guard as fit would over one epoch whose steps have these values:
    the logs hold the running mean, as Keras' Mean trackers report it."""
    guard.on_epoch_begin(0)
    for batch, mean in enumerate(np.cumsum(step_values) / np.arange(1, len(step_values) + 1)):
        guard.on_train_batch_end(batch, {name: mean, "lr": 1e-3})


def test_explosion_guard_judges_step_values_not_running_means():
    guard = ExplosionGuard(factor=10, patience=2, min_history=5)
    _feed(guard, [1.0, 2.0, 1.0, 2.0, 1.0, 1.5, 30.0])
    assert guard.hold_reason() == "loss=30 > 10 x median 1.25"  # the step's value, not the mean
    _feed(guard, [1.0, 1.0, 40.0, 1.0] * 5)  # single spikes never last 2 steps
    assert guard.hold_reason() is None
    with pytest.raises(LossExplosionError, match="loss=50 > 10 x median 1 for 2"):
        _feed(guard, [1.0, 1.0, 50.0, 50.0])


def test_explosion_guard_skips_signed_terms_and_short_histories():
    guard = ExplosionGuard(factor=10, patience=1, min_history=5)
    _feed(guard, [-1.0, 1.0, -1.0, 1.0, -1.0, 1.0, 500.0], name="critic_loss")
    _feed(ExplosionGuard(factor=10, patience=1, min_history=5), [1.0, 1.0, 1.0, 1.0, 500.0])
    with pytest.raises(ValueError, match="factor must be > 1"):
        ExplosionGuard(factor=1)
    with pytest.raises(ValueError, match="patience must be an int >= 1"):
        ExplosionGuard(factor=10, patience=0)


def test_nan_guard_lets_finite_training_finish():
    history = _regressor().fit(_regression_data(), epochs=2, verbose=0, callbacks=[NaNGuard()])
    assert len(history.history["loss"]) == 2


def _pix2pix(lr):
    generator = build_generator("unet_16", 3, 3, ngf=4)
    discriminator = build_discriminator("n_layers", 6, ndf=4, n_layers=1)
    teacher = Pix2PixTeacher(generator, discriminator)
    teacher.compile(g_optimizer=default_optimizer(lr), d_optimizer=default_optimizer(0.5))
    return teacher


def _paired_images(n=4, size=16):
    rng = np.random.default_rng(1)
    a = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices({"A": a, "B": -a}).batch(2)


def test_tensorboard_logs_every_tracker_each_learning_rate_and_the_hparams_once(tmp_path):
    log_dir = str(tmp_path / "tb")
    schedule = LinearDecay(0.1, n_epochs=1, n_epochs_decay=3, steps_per_epoch=2)
    teacher = _pix2pix(schedule)
    callbacks = tensorboard_callbacks(log_dir, {"lr": 0.1, "ngf": 4, "gan_mode": "vanilla",
                                                "paired": True, "taps": ("a", "b"), "seed": None})
    teacher.fit(_paired_images(), epochs=2, verbose=0, callbacks=callbacks)
    teacher.fit(_paired_images(), epochs=3, initial_epoch=2, verbose=0, callbacks=callbacks)
    scalars = _scalars(os.path.join(log_dir, "train"))
    for tracker in ("g_gan", "g_l1", "d_real", "d_fake"):
        assert {(f"epoch_{tracker}", epoch) for epoch in range(3)} <= set(scalars)
    # lr = 0.1·(1 − max(0, e + 1 − 1)/4) at epoch e's end (step 2e+2 → epoch e+1), d constant.
    for epoch in range(3):
        expected = 0.1 * (1 - (epoch + 1) / 4)
        assert scalars[("epoch_learning_rate/g_optimizer", epoch)] == pytest.approx(expected)
        assert scalars[("epoch_learning_rate/d_optimizer", epoch)] == pytest.approx(0.5)
    assert not any(tag == "epoch_learning_rate/optimizer" for tag, _ in scalars)  # = g_optimizer
    hparams = [e for e in _events(log_dir) if e[0] == "_hparams_/session_start_info"]
    assert len(hparams) == 1  # written once, although fit ran twice
    content = plugin_data_pb2.HParamsPluginData.FromString(hparams[0][4].plugin_data.content)
    values = {k: v.WhichOneof("kind") and getattr(v, v.WhichOneof("kind"))
              for k, v in content.session_start_info.hparams.items()}
    assert values == {"lr": 0.1, "ngf": 4, "gan_mode": "vanilla", "paired": True,
                      "taps": "('a', 'b')", "seed": "None"}


def test_tensorboard_update_freq_writes_batch_scalars(tmp_path):
    callbacks = tensorboard_callbacks(str(tmp_path), {}, update_freq=1)
    _regressor().fit(_regression_data(), epochs=1, verbose=0, callbacks=callbacks)
    steps = sorted(step for tag, step in _scalars(str(tmp_path / "train")) if tag == "batch_loss")
    assert steps == [1, 2, 3, 4]
    with pytest.raises(ValueError, match="update_freq"):
        tensorboard_callbacks(str(tmp_path), {}, update_freq=0)


def test_learning_rates_lists_each_optimizer_once():
    teacher = _pix2pix(2e-3)
    assert learning_rates(teacher) == pytest.approx({"learning_rate/g_optimizer": 2e-3,
                                                     "learning_rate/d_optimizer": 0.5})
    assert learning_rates(_regressor()) == pytest.approx({"learning_rate/optimizer": 1e-2})
    holder = keras.Model()  # e.g. a Distiller with online teachers, held in a list
    holder.online_teachers = [teacher]
    holder.student_optimizer = keras.optimizers.Adam(1e-3)
    assert learning_rates(holder) == pytest.approx({
        "learning_rate/student_optimizer": 1e-3,
        f"learning_rate/{teacher.name}.g_optimizer": 2e-3,
        f"learning_rate/{teacher.name}.d_optimizer": 0.5})


def _grid_inputs(n=3, size=4):
    rng = np.random.default_rng(2)
    return {"input": rng.uniform(-1, 1, (n, size, size, 1)).astype("float32"),
            "teacher": rng.uniform(-1, 1, (n, size, size, 3)).astype("float32"),
            "student": rng.uniform(-1.5, 1.5, (n, size, size, 3)).astype("float32")}


def _expected_grid(images, rows):
    """Rows of examples, columns of named images, in [0, 1] (independent numpy version)."""
    def cell(batch, i):
        image = np.clip((batch[i] + 1) / 2, 0, 1)
        return np.repeat(image, 3, axis=-1) if image.shape[-1] == 1 else image
    return np.concatenate([np.concatenate([cell(b, i) for b in images.values()], axis=1)
                           for i in range(rows)], axis=0)


def test_image_grid_layout():
    images = _grid_inputs()
    grid = image_grid(images, max_images=2).numpy()
    assert grid.shape == (2 * 4, 3 * 4, 3)
    np.testing.assert_allclose(grid, _expected_grid(images, 2), atol=1e-6)
    np.testing.assert_allclose(grid[4:8, 8:12], np.clip((images["student"][1] + 1) / 2, 0, 1), atol=1e-6)


def test_image_grid_takes_float16_batches():
    images = _grid_inputs()
    half = {name: tf.constant(batch, tf.float16) for name, batch in images.items()}
    grid = image_grid(half, max_images=2)
    assert grid.dtype == tf.float32
    np.testing.assert_allclose(grid.numpy(), _expected_grid(images, 2), atol=1e-3)


def test_image_grid_errors():
    images = _grid_inputs()
    with pytest.raises(ValueError, match="one size and count"):
        image_grid({**images, "sample": images["teacher"][:, :2]})
    with pytest.raises(ValueError, match=r"1 or 3\]"):
        image_grid({"features": np.zeros((2, 4, 4, 8), "float32")})
    with pytest.raises(ValueError, match="at least one"):
        image_grid({})


def test_image_grid_callback_writes_one_grid_every_n_epochs(tmp_path):
    images = _grid_inputs()
    calls = []

    def images_fn():
        calls.append(1)
        return images

    callback = ImageGridCallback(str(tmp_path), images_fn, every_n_epochs=2, max_images=2)
    _regressor().fit(_regression_data(), epochs=5, verbose=0, callbacks=[callback])
    written = [e for e in _events(str(tmp_path)) if e[3] == "images"]
    assert len(calls) == 2 and [(tag, step) for tag, step, *_ in written] == [("samples", 1), ("samples", 3)]
    assert "columns: input | teacher | student" in written[0][4].summary_description
    width, height, png = written[0][2]
    decoded = tf.io.decode_png(png).numpy()
    assert (int(width), int(height)) == (12, 8) and decoded.shape == (8, 12, 3)
    np.testing.assert_allclose(decoded / 255.0, _expected_grid(images, 2), atol=1 / 255 + 1e-6)
    with pytest.raises(ValueError, match="every_n_epochs"):
        ImageGridCallback(str(tmp_path), images_fn, every_n_epochs=0)


def test_periodic_evaluation_logs_scalars_and_history(tmp_path):
    results = iter([{"psnr": 20.0, "ssim": 0.5}, {"psnr": 21.5, "ssim": 0.75}])
    log_dir = str(tmp_path / "eval")
    tb_dir = str(tmp_path / "tb")
    callbacks = [PeriodicEvaluation(2, lambda: next(results), log_dir), *tensorboard_callbacks(tb_dir, {})]
    history = _regressor().fit(_regression_data(), epochs=4, verbose=0, callbacks=callbacks).history
    assert history["eval/psnr"] == [20.0, 21.5] and history["eval/ssim"] == [0.5, 0.75]
    assert _scalars(log_dir) == {("eval/psnr", 1): 20.0, ("eval/ssim", 1): 0.5,
                                 ("eval/psnr", 3): 21.5, ("eval/ssim", 3): 0.75}
    assert not any("eval" in tag for tag, _ in _scalars(os.path.join(tb_dir, "train")))


def test_periodic_evaluation_rejects_non_numeric_results(tmp_path):
    callback = PeriodicEvaluation(1, lambda: {"psnr": 20.0, "exports": "/tmp/x"}, str(tmp_path))
    with pytest.raises(TypeError, match=re.escape("'exports' is '/tmp/x'")):
        _regressor().fit(_regression_data(), epochs=1, verbose=0, callbacks=[callback])
    with pytest.raises(ValueError, match="every_n_epochs"):
        PeriodicEvaluation(0, dict, str(tmp_path))


def test_epoch_line_prints_one_line_per_epoch_with_its_losses(capsys):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((6, 2), np.float32), np.zeros((6, 1), np.float32)
    history = model.fit(x, y, batch_size=2, epochs=2, verbose=0,
                        callbacks=[EpochLine(total_epochs=2)])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for epoch, line in enumerate(lines):
        assert line.startswith(f"Epoch {epoch + 1}/2 - 3 steps, ")
        assert f"loss: {history.history['loss'][epoch]:.5g}" in line
