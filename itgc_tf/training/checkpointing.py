"""Run checkpoints: the one save/resume mechanism of every training CLI.

A `RunCheckpoint` saves ``tf.train.Checkpoint(model=model, epoch=..., step=...)``
through a ``tf.train.CheckpointManager`` (keeps the newest ``max_to_keep``).
Everything Keras tracks in the model is saved: the weights and non-trainable
state of every sub-network (a Distiller's student, teachers, critic with its
spectral-norm vectors, discriminator, adapters; CycleGAN image pools), the
``SeedGenerator`` states, and every optimizer (slots, iteration counts) held by
the model or its nested models. TensorFlow's object graph does not see layers
that Keras keeps in Python lists (e.g. a critic's residual blocks), so
``model.variables`` and the optimizers are saved as well, by position (the
model must be built the same way to restore). The model must be built and
compiled before a `RunCheckpoint` is made for it; Keras' own ``optimizer`` is
then built as ``fit`` would build it, other optimizers must be built by
``compile``, so that every checkpoint holds their state.

Resuming: ``model.fit(..., initial_epoch=run_checkpoint.restore_latest())``
continues the epoch count. ``epoch`` in a checkpoint is the number of
COMPLETED epochs: a step-level save (``save_every_n_steps``) inside epoch e
stores e, and ``step`` the steps done over the whole run; the CLI runner
(``itgc_tf.training.runner.fit``) uses both to finish the interrupted epoch with the
batches it had not yet seen, so a resumed run is exact.

Atomicity: TensorFlow writes a checkpoint's data files first and only then the
``checkpoint`` state file (itself written to a temp file and renamed), which
is what `restore_latest` reads; a crash during a save leaves the previous
checkpoint the latest one.

Multi-worker (``MultiWorkerMirroredStrategy``): every worker must save (saving
may run collective ops), but only the chief writes to the run directory;
the others write to a temporary directory (`write_dir`) removed at the end of
training (`cleanup_write_dir`), the Keras multi-worker pattern. Every worker
restores from the run directory, so it must be on a filesystem all workers
see.
"""
import logging
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from itgc_tf.training.callbacks import model_optimizers, nonfinite_terms


def _task(strategy):
    """(task_type, task_id, cluster job names) of this process; (None, None, ()) when
    the strategy has no cluster (one machine)."""
    resolver = getattr(strategy, "cluster_resolver", None) if strategy is not None else None
    if resolver is None or resolver.task_type is None:
        return None, None, ()
    return resolver.task_type, resolver.task_id, tuple(resolver.cluster_spec().jobs)


def is_chief(strategy=None):
    """True when this process writes the run's files: always on one machine;
    under a cluster, the ``chief`` task, or ``worker`` 0 when there is no chief job."""
    task_type, task_id, jobs = _task(strategy)
    if task_type is None or task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in jobs


def write_dir(model_dir, strategy=None):
    """Where this process writes what belongs in ``model_dir``.

    Returns ``model_dir`` on the chief (see `is_chief`); on any other worker, a
    new temporary directory named after its task (e.g.
    ``/tmp/itgc_tf_worker_1_x8k2``), to be removed with `cleanup_write_dir`.
    """
    if is_chief(strategy):
        return model_dir
    task_type, task_id, _ = _task(strategy)
    return tempfile.mkdtemp(prefix=f"itgc_tf_{task_type}_{task_id}_")


def cleanup_write_dir(path, model_dir):
    """Removes a non-chief `write_dir` ``path``; does nothing when ``path`` is
    ``model_dir`` itself (the chief's files are kept)."""
    if os.path.abspath(path) != os.path.abspath(model_dir):
        shutil.rmtree(path, ignore_errors=True)


def _read_error(path):
    """The error reading any tensor of checkpoint ``path`` raises (damaged files), else None."""
    try:
        reader = tf.train.load_checkpoint(path)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)
    except Exception as error:  # noqa: BLE001 -- any failure to read means damaged files
        return error
    return None


def _build_optimizers(model, optimizers):
    """Creates the optimizer slots: Keras' ``optimizer`` is built the way ``fit``
    builds it; any other must already be built (by ``compile``)."""
    for name, optimizer in optimizers.items():
        if optimizer.built:
            continue
        if optimizer is getattr(model, "optimizer", None):
            with model.distribute_strategy.scope():
                optimizer.build(model.trainable_variables)
        else:
            raise ValueError(f"The optimizer {name} of {model.name} is not built, so its state "
                             "cannot be checkpointed; build it (the model's compile() should) before "
                             "making a RunCheckpoint.")


class RunCheckpoint:
    """Saves and restores a Keras model with everything it tracks.

    Args:
      directory: checkpoint directory of the run (e.g. ``MODEL_DIR/checkpoints``).
      model: the built and compiled Keras model (Teacher, Distiller, ...).
      max_to_keep: newest checkpoints kept (>= 1).
      save_every_n_steps: also save every N training steps (None: epoch ends only).
      strategy: the run's ``tf.distribute`` strategy; under a cluster only the
        chief writes to ``directory`` (see the module docstring).

    Attributes:
      latest_path: prefix of the newest checkpoint in ``directory`` (None: none yet).
      write_directory: where this process saves (``directory``, or a temporary
        directory on a non-chief worker).
    """

    def __init__(self, directory, model, max_to_keep=3, save_every_n_steps=None, strategy=None):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1 (checkpoints kept), got {max_to_keep}.")
        if save_every_n_steps is not None and save_every_n_steps < 1:
            raise ValueError(f"save_every_n_steps must be >= 1 or None (save at epoch ends only), "
                             f"got {save_every_n_steps}.")
        if not model.built or not model.variables or not getattr(model, "compiled", False):
            raise ValueError(f"RunCheckpoint needs a built and compiled model ({model.name} is not): "
                             "build it (e.g. call it on a batch) and compile it first.")
        self.directory = directory
        self.save_every_n_steps = save_every_n_steps
        self.write_directory = write_dir(directory, strategy)
        self._optimizers = model_optimizers(model)
        _build_optimizers(model, self._optimizers)  # every checkpoint holds the optimizer slots
        self._epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self._checkpoint = tf.train.Checkpoint(
            model=model, epoch=self._epoch, step=self._step,
            model_variables=list(model.variables), optimizers=list(self._optimizers.values()))
        self._manager = tf.train.CheckpointManager(self._checkpoint, self.write_directory,
                                                   max_to_keep=max_to_keep)

    @property
    def latest_path(self):
        return tf.train.latest_checkpoint(self.directory)

    @property
    def step(self):
        """Training steps done, counted over the whole run (restored on resume)."""
        return int(self._step.numpy())

    def _available(self):
        state = tf.train.get_checkpoint_state(self.directory)
        return list(state.all_model_checkpoint_paths) if state else []

    def restore_latest(self, restore_from=None):
        """Restores the newest checkpoint of ``directory`` (or ``restore_from``, a
        checkpoint prefix such as ``.../ckpt-3``) into the model.

        Returns:
          The number of completed epochs it holds (0 when there is none): pass it
          as ``initial_epoch`` to ``model.fit``.

        Raises:
          FileNotFoundError: ``restore_from`` is not a checkpoint.
          ValueError: the checkpoint cannot be read (corrupt) or does not match
            the model; the message says which files and what to do.
        """
        path = restore_from or self.latest_path
        if path is None:
            return 0
        if not tf.io.gfile.exists(path + ".index"):
            raise FileNotFoundError(
                f"--restore_from={path!r} is not a checkpoint (no {path}.index). Pass a checkpoint "
                f"prefix without its extension; available: {self._available() or 'none'}.")
        try:
            self._checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 -- damaged files raise TF, protobuf or index errors
            damage = _read_error(path)
            if damage is not None:
                earlier = [p for p in self._available() if p != path]
                raise ValueError(
                    f"Checkpoint {path} (files {path}.index and {path}.data-*) cannot be read; it is "
                    f"probably corrupt (a full disk or an interrupted copy): {damage!r}\n"
                    f"Restore an earlier one with --restore_from=PATH (available: "
                    f"{earlier or 'none'}), or delete {self.directory} to start the run over.") from error
            raise ValueError(
                f"Checkpoint {path} does not match this model ({error}). It was written by a run "
                "with another architecture or configuration: use the same flags as that run, or "
                "a new --model_dir.") from error
        logging.info("Restored %s (epoch %d, step %d).", path, self._epoch.numpy(), self.step)
        return int(self._epoch.numpy())

    def save(self, epoch, step=None):
        """Writes a checkpoint holding ``epoch`` (completed epochs) and ``step``
        (None: unchanged); returns its path. Old ones beyond ``max_to_keep`` are deleted."""
        self._epoch.assign(epoch)
        if step is not None:
            self._step.assign(step)
        path = self._manager.save()
        logging.info("Saved checkpoint %s (epoch %d, step %d).", path, epoch, self.step)
        return path

    def cleanup(self):
        """Removes this worker's temporary write directory (non-chief workers only)."""
        cleanup_write_dir(self.write_directory, self.directory)

    def callback(self):
        """A Keras callback saving at every epoch end (and every
        ``save_every_n_steps`` steps); it never saves when the logs hold a
        non-finite value, so a NaN step cannot overwrite the last good state."""
        return _SaveCheckpoint(self)


class _SaveCheckpoint(keras.callbacks.Callback):
    def __init__(self, run_checkpoint):
        super().__init__()
        self._run = run_checkpoint
        self._epoch = 0
        self._steps_before_epoch = 0
        self._step = 0

    def on_train_begin(self, logs=None):
        self._steps_before_epoch = self._step = self._run.step

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._steps_before_epoch = self._step

    def on_train_batch_end(self, batch, logs=None):
        # `batch` is the index of the epoch's last step run (steps_per_execution > 1 runs several).
        previous, self._step = self._step, self._steps_before_epoch + batch + 1
        every = self._run.save_every_n_steps
        last_of_epoch = self._step - self._steps_before_epoch == self.params.get("steps")
        if every and self._step // every > previous // every and not last_of_epoch:
            self._save(self._epoch, logs)  # (the epoch end saves after the last step)

    def on_epoch_end(self, epoch, logs=None):
        self._save(epoch + 1, logs)

    def on_train_end(self, logs=None):
        self._run.cleanup()

    def _save(self, epoch, logs):
        bad = nonfinite_terms(logs)
        if bad:
            logging.warning("Not saving a checkpoint at step %d: non-finite %s.", self._step,
                            ", ".join(bad))
            return
        self._run.save(epoch, self._step)
