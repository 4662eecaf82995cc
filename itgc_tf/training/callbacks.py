"""Keras callbacks of the training CLIs: TensorBoard (trackers, learning rates,
hparams), image grids, the NaN and explosion guards, periodic evaluation and Ctrl-C
between steps.

Summary steps are epochs counted from 0, as Keras' TensorBoard callback writes
its ``epoch_*`` scalars. Under a multi-worker strategy give non-chief workers a
temporary ``log_dir`` (``itgc_tf.training.checkpointing.write_dir``).
"""
import collections
import contextlib
import numbers
import time

import keras
import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hparams_api

# Keys of the Keras logs that PeriodicEvaluation adds (it writes their summaries itself).
EVAL_PREFIX = "eval/"


def nonfinite_terms(logs):
    """Names of the numeric entries of a Keras ``logs`` dict that hold NaN or ±Inf."""
    bad = []
    for name, value in (logs or {}).items():
        if isinstance(value, (str, bytes)):
            continue
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        if not np.all(np.isfinite(array)):
            bad.append(name)
    return bad


def model_optimizers(model):
    """{name: optimizer} of every distinct optimizer held as an attribute by the
    model or one of its nested layers: the attribute name (``g_optimizer``,
    ``critic_optimizer``), prefixed by the layer's name for nested ones. Keras'
    ``optimizer`` attribute is named so only when no other attribute holds it."""
    found = {}
    for layer in model._flatten_layers(include_self=True):
        for name, value in sorted(vars(layer).items(), key=lambda item: item[0] == "optimizer"):
            if isinstance(value, keras.optimizers.Optimizer) and all(value is not f for f in found.values()):
                found[name if layer is model else f"{layer.name}.{name}"] = value
    return found


def learning_rates(model):
    """{"learning_rate/<name>": current rate} of each of `model_optimizers`."""
    return {f"learning_rate/{name}": float(keras.ops.convert_to_numpy(optimizer.learning_rate))
            for name, optimizer in model_optimizers(model).items()}


class _TrainingBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard plus every optimizer's learning rate at epoch ends;
    PeriodicEvaluation's ``eval/`` entries are left to that callback."""

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: v for k, v in (logs or {}).items() if not k.startswith(EVAL_PREFIX)}
        logs.update(learning_rates(self.model))
        super().on_epoch_end(epoch, logs)


def _hparam_value(value):
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class _HParamsSummary(keras.callbacks.Callback):
    """Writes the hparams summary (TensorBoard's HPARAMS tab) once, at the first train start."""

    def __init__(self, log_dir, hparams):
        super().__init__()
        self._log_dir = log_dir
        self._hparams = {str(k): _hparam_value(v) for k, v in hparams.items()}
        self._written = False

    def on_train_begin(self, logs=None):
        if self._written:
            return
        writer = tf.summary.create_file_writer(self._log_dir)
        with writer.as_default():
            hparams_api.hparams(self._hparams)
        writer.close()
        self._written = True


def tensorboard_callbacks(log_dir, hparams, update_freq="epoch"):
    """Callbacks writing a run's TensorBoard logs under ``log_dir``.

    Every tracker of the model (its ``metrics``) is a scalar (``train/epoch_<name>``,
    and ``train/batch_<name>`` every ``update_freq`` steps when it is an int), as is
    the learning rate of each of its optimizers (``epoch_learning_rate/<attribute>``);
    ``hparams`` ({name: bool/int/float/str; other values are written as str}) is
    written once as the run's hparams summary.

    Returns:
      A list of Keras callbacks for ``model.fit``.
    """
    if update_freq != "epoch" and not (isinstance(update_freq, int) and update_freq >= 1):
        raise ValueError(f"update_freq must be 'epoch' or a number of steps >= 1, got {update_freq!r}.")
    return [_TrainingBoard(log_dir, update_freq=update_freq, write_graph=False),
            _HParamsSummary(log_dir, hparams)]


class EpochLine(keras.callbacks.Callback):
    """One console line per epoch (``--verbose=2``): ``Epoch 3/27 - 40 steps, 5s -
    name: value - ...`` with every numeric entry of the epoch's logs."""

    def __init__(self, total_epochs):
        super().__init__()
        self._total, self._started, self._steps = total_epochs, 0.0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._steps = time.perf_counter(), 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1

    def on_epoch_end(self, epoch, logs=None):
        values = " - ".join(f"{name}: {float(value):.5g}" for name, value in (logs or {}).items()
                            if isinstance(value, numbers.Real) or np.ndim(value) == 0)
        print(f"Epoch {epoch + 1}/{self._total} - {self._steps} steps, "
              f"{time.perf_counter() - self._started:.0f}s - {values}", flush=True)


def _due(epoch, every_n_epochs):
    return (epoch + 1) % every_n_epochs == 0


def _check_every(every_n_epochs):
    if not (isinstance(every_n_epochs, int) and every_n_epochs >= 1):
        raise ValueError(f"every_n_epochs must be an int >= 1, got {every_n_epochs!r}.")


def image_grid(images, max_images=4):
    """One grid image of named image batches.

    Args:
      images: ordered mapping {name: [N, H, W, 1 or 3]} in [-1, 1] (any float
        dtype), one N, H, W.
      max_images: rows (examples) kept, the first ones.

    Returns:
      float32 [rows·H, len(images)·W, 3] in [0, 1]: row i holds example i of
      every batch, left to right in the mapping's order; one channel is
      repeated to three; values outside [-1, 1] are clipped.
    """
    if not images:
        raise ValueError("image_grid needs at least one named image batch; images_fn returned none.")
    columns, shape = [], None
    for name, batch in images.items():
        batch = tf.cast(batch, tf.float32)[:max_images]  # float16 under mixed precision
        if batch.shape.rank != 4 or batch.shape[-1] not in (1, 3):
            raise ValueError(f"Image batch {name!r} has shape {tuple(batch.shape)}; image grids need "
                             "[N, H, W, 1 or 3] images in [-1, 1] (map feature maps to images first).")
        if shape is not None and batch.shape[:3] != shape:
            raise ValueError(f"Image batch {name!r} has shape {tuple(batch.shape)} but "
                             f"{next(iter(images))!r} has {tuple(shape)} (N, H, W); return batches "
                             "of one size and count (resize them first).")
        shape = batch.shape[:3]
        columns.append(tf.tile(batch, [1, 1, 1, 3]) if batch.shape[-1] == 1 else batch)
    rows, height, width = shape
    grid = tf.transpose(tf.stack(columns, axis=1), [0, 2, 1, 3, 4])  # [N, H, columns, W, 3]
    grid = tf.reshape(grid, [rows * height, len(columns) * width, 3])
    return tf.clip_by_value((grid + 1.0) * 0.5, 0.0, 1.0)


class _EveryNEpochsSummary(keras.callbacks.Callback):
    """Base of the callbacks that write summaries into ``log_dir`` every
    ``every_n_epochs`` epochs: one file writer, opened at the first write, flushed
    after each, closed at the end of training. Subclasses implement
    ``_on_due_epoch(epoch, logs)`` and write inside ``with self._writing():``."""

    def __init__(self, log_dir, every_n_epochs):
        super().__init__()
        _check_every(every_n_epochs)
        self._log_dir, self._every = log_dir, every_n_epochs
        self._writer = None

    def on_epoch_end(self, epoch, logs=None):
        if _due(epoch, self._every):
            self._on_due_epoch(epoch, logs)

    def _on_due_epoch(self, epoch, logs):
        raise NotImplementedError

    @contextlib.contextmanager
    def _writing(self):
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self._log_dir)
        with self._writer.as_default():
            yield
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class ImageGridCallback(_EveryNEpochsSummary):
    """Writes one image summary per ``every_n_epochs`` epochs: the `image_grid`
    of ``images_fn()`` (an ordered mapping {name: [N, H, W, C]} in [-1, 1], e.g.
    input | teacher | student | Langevin sample), under the tag ``name``.

    Args:
      log_dir: summary directory (e.g. ``MODEL_DIR/tensorboard/images``).
      images_fn: called without arguments at the epoch ends concerned.
      every_n_epochs: int >= 1.
      max_images: rows of the grid.
      name: summary tag.
    """

    def __init__(self, log_dir, images_fn, every_n_epochs=1, max_images=4, name="samples"):
        super().__init__(log_dir, every_n_epochs)
        if max_images < 1:
            raise ValueError(f"max_images must be >= 1, got {max_images}.")
        self._images_fn, self._name, self._max_images = images_fn, name, max_images

    def _on_due_epoch(self, epoch, logs):
        images = self._images_fn()
        grid = image_grid(images, self._max_images)
        with self._writing():
            tf.summary.image(self._name, grid[tf.newaxis], step=epoch,
                             description="columns: " + " | ".join(images) + "; rows: examples")


class PeriodicEvaluation(_EveryNEpochsSummary):
    """Every ``every_n_epochs`` epochs, calls ``evaluate_fn()`` → {name: number}
    and logs each value as the scalar ``eval/<name>`` in ``log_dir`` and as
    ``eval/<name>`` in the Keras logs (so ``History`` has it; its lists hold only
    the evaluated epochs).

    For a report of `itgc_tf.eval.report.evaluate`, pass
    ``lambda: scalar_metrics(evaluate(...))``.
    """

    def __init__(self, every_n_epochs, evaluate_fn, log_dir):
        super().__init__(log_dir, every_n_epochs)
        self._evaluate_fn = evaluate_fn

    def _on_due_epoch(self, epoch, logs):
        results = self._evaluate_fn()
        for name, value in results.items():
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"evaluate_fn must return {{name: number}}; {name!r} is {value!r}. "
                                "Return only numeric metrics (see itgc_tf.eval.report.scalar_metrics).")
        with self._writing():
            for name, value in results.items():
                tf.summary.scalar(EVAL_PREFIX + name, float(value), step=epoch)
        if logs is not None:
            logs.update({EVAL_PREFIX + name: float(value) for name, value in results.items()})


class TrainingDivergedError(RuntimeError):
    """Training was stopped because it diverged; the last good checkpoint is kept."""


class NonFiniteLossError(TrainingDivergedError):
    """A loss or tracked quantity became NaN/Inf during training."""


class LossExplosionError(TrainingDivergedError):
    """A loss stayed far above its running median (`ExplosionGuard`)."""


def _kept(checkpoint):
    """What a stopped run keeps, for the guards' messages."""
    if checkpoint is None:
        return "No checkpoint was configured, so nothing of this run is saved."
    if checkpoint.latest_path is None:
        return "No checkpoint had been saved yet."
    return (f"The last good checkpoint, {checkpoint.latest_path}, is kept (this state "
            "was not saved); a restart resumes from it.")


class StopOnInterrupt(keras.callbacks.Callback):
    """Raises KeyboardInterrupt at the end of the training step during which Ctrl-C was
    pressed (``interrupt``: an `itgc_tf.interrupts.Interrupt` set by
    `itgc_tf.interrupts.deferred_interrupt`), from Python, after the callbacks before it
    in the list: put it last, so that a checkpoint due at that step is saved. Also at the
    end of training, if Ctrl-C came after the last step."""

    def __init__(self, interrupt):
        super().__init__()
        self._interrupt = interrupt

    def _stop_if_requested(self):
        if self._interrupt.requested:
            raise KeyboardInterrupt

    def on_train_batch_end(self, batch, logs=None):
        self._stop_if_requested()

    def on_epoch_end(self, epoch, logs=None):
        self._stop_if_requested()

    def on_train_end(self, logs=None):
        self._stop_if_requested()


class NaNGuard(keras.callbacks.Callback):
    """Stops training at the first step whose logs hold a NaN/Inf value by raising
    `NonFiniteLossError` (``model.fit`` re-raises it, so a CLI exits non-zero).

    The message names the non-finite terms, the epoch and the step in it (both
    from 1, as the progress bar shows them; with ``steps_per_execution`` > 1, the
    last step of the block) and the last good checkpoint. This callback saves
    nothing; `RunCheckpoint`'s callback never saves non-finite states.

    Args:
      checkpoint: the run's `RunCheckpoint` (named in the message), or None.
    """

    def __init__(self, checkpoint=None):
        super().__init__()
        self._checkpoint = checkpoint
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        bad = nonfinite_terms(logs)
        if bad:
            raise NonFiniteLossError(self._message(bad, logs, batch))

    def _message(self, bad, logs, batch):
        terms = ", ".join(f"{name}={logs[name]}" for name in bad)
        return (f"Non-finite training values at epoch {self._epoch + 1}, step {batch + 1}: {terms}. "
                f"Training stopped. {_kept(self._checkpoint)} Try a lower learning rate, or, with "
                "VEM, a lower Langevin step size (the critic's energies e_pos/e_neg show whether "
                "it diverged): resume with the new value and --allow_changed_flags, or use a "
                "new --model_dir; or resume with --skip_nonfinite_steps.")


class ExplosionGuard(keras.callbacks.Callback):
    """Opt-in divergence guard: stops training when a loss stays above ``factor``
    times its running median for ``patience`` consecutive steps, by raising
    `LossExplosionError` (a finite blow-up, e.g. a learning rate of 1e6 driving
    losses to 1e13, which `NaNGuard` does not see).

    Each step's value of a term is recovered from Keras' logs, which hold the
    mean since the epoch began (``keras.metrics.Mean`` trackers: the step value
    after j logged steps and at step k is (k·mean_k − j·mean_j)/(k − j); with
    ``steps_per_execution`` > 1, the mean over the block). The running median
    is taken over the last ``window`` steps that were not above the threshold;
    a term is judged once it has ``min_history`` of them, and only while all of
    them are positive (a factor of the median means nothing for signed terms
    such as a critic's energy loss). While a streak lasts, the run's
    `RunCheckpoint` callback given this guard in ``hold`` does not save, so the
    last good checkpoint is the one a restart resumes from.

    Args:
      factor: threshold as a multiple of the running median (> 1).
      patience: consecutive steps above it that stop the run (>= 1).
      checkpoint: the run's `RunCheckpoint` (named in the message), or None.
      monitor: log names watched; None: every name containing "loss".
      window: steps in the running median (>= min_history).
      min_history: steps a term needs before it is judged (>= 1).
    """

    def __init__(self, factor, patience=10, checkpoint=None, monitor=None, window=200,
                 min_history=20):
        super().__init__()
        if not factor > 1:
            raise ValueError(f"ExplosionGuard factor must be > 1 (a multiple of the running "
                             f"median), got {factor!r}. Fix: pass e.g. 100.")
        if not (isinstance(patience, int) and patience >= 1):
            raise ValueError(f"ExplosionGuard patience must be an int >= 1 (steps), got "
                             f"{patience!r}. Fix: pass e.g. 10.")
        if not (isinstance(min_history, int) and 1 <= min_history <= window):
            raise ValueError(f"ExplosionGuard needs 1 <= min_history <= window, got "
                             f"min_history={min_history!r}, window={window!r}.")
        self.factor, self.patience, self._checkpoint = float(factor), patience, checkpoint
        self._monitor, self._window, self._min_history = monitor, window, min_history
        self._history = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self._streak, self._over, self._epoch = 0, {}, 0
        self._means, self._logged = {}, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._means, self._logged = epoch, {}, 0

    def _step_values(self, batch, logs):
        """{name: value of the steps since the previous call} of the watched terms."""
        names = self._monitor or [name for name in logs if "loss" in name]
        values, steps = {}, batch + 1
        for name in names:
            if name not in logs:
                continue
            mean = float(np.asarray(logs[name], np.float64))
            previous = self._means.get(name)
            values[name] = (mean if previous is None or steps == self._logged
                            else (steps * mean - self._logged * previous) / (steps - self._logged))
            self._means[name] = mean
        self._logged = steps
        return values

    def on_train_batch_end(self, batch, logs=None):
        over = {}
        values = self._step_values(batch, logs or {})
        for name, value in values.items():
            history = self._history[name]
            if not np.isfinite(value) or len(history) < self._min_history or min(history) <= 0:
                continue
            median = float(np.median(history))
            if value > self.factor * median:
                over[name] = (value, median)
        self._streak = self._streak + 1 if over else 0
        self._over = over
        if not over:
            for name, value in values.items():
                if np.isfinite(value):
                    self._history[name].append(value)
        if self._streak >= self.patience:
            raise LossExplosionError(self._message(batch))

    def hold_reason(self):
        """Why the current state must not be saved (a streak is on), else None."""
        if not self._streak:
            return None
        return ", ".join(f"{name}={value:.3g} > {self.factor:g} x median {median:.3g}"
                         for name, (value, median) in self._over.items())

    def _message(self, batch):
        return (f"Loss explosion at epoch {self._epoch + 1}, step {batch + 1}: {self.hold_reason()} "
                f"for {self.patience} consecutive steps. Training stopped. "
                f"{_kept(self._checkpoint)} Fix: lower the learning rate (--lr) and resume with "
                "--allow_changed_flags (or use a new --model_dir); raise the guard's factor or "
                "patience if such excursions are expected.")
