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

Atomicity: TensorFlow writes a checkpoint's data files first (under a
``ckpt-N_temp`` folder, renamed into place) and only then the ``checkpoint``
state file (itself written to a temp file and renamed), which is what
`restore_latest` reads; a crash during a save leaves the previous checkpoint
the latest one. A kill or a full disk may leave a ``ckpt-N_temp`` folder
behind: `remove_stale_temp` (called when a `RunCheckpoint` is made on the
chief) deletes it with a note.

Damage: a missing or stale ``checkpoint`` state file with ``ckpt-N`` files
present restores the newest intact ``ckpt-N`` (with a note; the state file is
rewritten) or refuses when none is intact; a corrupt newest checkpoint is
refused with a message naming its files and ``--restore_from``. New saves are
always numbered above every ``ckpt-N`` on disk, so no checkpoint file is ever
overwritten.

Multi-worker (``MultiWorkerMirroredStrategy``): every worker must save (saving
may run collective ops), but only the chief writes to the run directory;
the others write to a temporary directory (`write_dir`) removed at the end of
training (`cleanup_write_dir`), the Keras multi-worker pattern. Every worker
restores from the run directory, so it must be on a filesystem all workers
see.
"""
import logging
import os
import re
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


CHECKPOINT_NAME = "ckpt"  # tf.train.CheckpointManager's default file prefix
_NUMBERED = re.compile(rf"^{CHECKPOINT_NAME}-(\d+)\.index$")
_TEMP = re.compile(rf"^{CHECKPOINT_NAME}-\d+_temp$")


def numbered_checkpoints(directory):
    """[(N, prefix)] of every ``ckpt-N`` in ``directory`` (one per ``.index`` file),
    sorted by N; [] when the directory does not exist."""
    if not tf.io.gfile.isdir(directory):
        return []
    found = []
    for name in tf.io.gfile.listdir(directory):
        match = _NUMBERED.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name[:-len(".index")])))
    return sorted(found)


def remove_stale_temp(directory):
    """Deletes the ``ckpt-N_temp`` folders a killed or failed save left in
    ``directory`` (a finished save renames its own away), logging a note for
    each. Call it only where no other process saves into ``directory``.

    Returns:
      The removed paths, sorted.
    """
    if not tf.io.gfile.isdir(directory):
        return []
    removed = sorted(os.path.join(directory, name) for name in tf.io.gfile.listdir(directory)
                     if _TEMP.match(name.rstrip("/")))
    for path in removed:
        tf.io.gfile.rmtree(path)
        logging.warning("Removed %s: the unfinished files of a checkpoint save that was killed "
                        "or ran out of disk space (the checkpoints before it are intact).", path)
    return removed


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


def _first_line(error):
    """The first line of an exception's message, with its type (TF errors run long)."""
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__


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
        self._max_to_keep = max_to_keep
        if self.write_directory == directory:
            remove_stale_temp(directory)
        self._manager = self._new_manager()

    def _new_manager(self):
        """A CheckpointManager reading the current ``checkpoint`` state file."""
        return tf.train.CheckpointManager(self._checkpoint, self.write_directory,
                                          max_to_keep=self._max_to_keep)

    @property
    def latest_path(self):
        return tf.train.latest_checkpoint(self.directory)

    @property
    def epoch(self):
        """Completed epochs held (restored on resume, advanced by each save)."""
        return int(self._epoch.numpy())

    @property
    def step(self):
        """Training steps done, counted over the whole run (restored on resume)."""
        return int(self._step.numpy())

    def restore_latest(self, restore_from=None):
        """Restores the newest checkpoint of ``directory`` (or ``restore_from``, a
        checkpoint prefix such as ``.../ckpt-3`` or its name ``ckpt-3`` in
        ``directory``) into the model.

        When the ``checkpoint`` state file is missing (or names a checkpoint that
        is gone) but ``ckpt-N`` files are present, the newest intact one is
        restored with a note and, on the chief, the state file is rewritten to
        list the intact ones.

        Returns:
          The number of completed epochs it holds (0 when there is none): pass it
          as ``initial_epoch`` to ``model.fit``.

        Raises:
          FileNotFoundError: ``restore_from`` is not a checkpoint.
          ValueError: the checkpoint cannot be read (corrupt), no ``ckpt-N``
            without a state file is intact, or the checkpoint does not match
            the model; the message says which files and what to do.
        """
        path = self._resolve(restore_from) if restore_from else self.latest_path
        if path is None:
            path = self._recover_without_state()
            if path is None:
                return 0
        try:
            self._checkpoint.restore(path).assert_existing_objects_matched()
        except Exception as error:  # noqa: BLE001 -- damaged files raise TF, protobuf or index errors
            damage = _read_error(path)
            if damage is not None:
                earlier = [p for _, p in numbered_checkpoints(self.directory) if p != path]
                raise ValueError(
                    f"Checkpoint {path} (files {path}.index and {path}.data-*) cannot be read; it is "
                    f"probably corrupt (a full disk or an interrupted copy): {_first_line(damage)}\n"
                    f"Fix: re-run with --restore_from=PATH naming an earlier checkpoint (on disk: "
                    f"{earlier or 'none'}) to continue from it, or delete the files of {path} (the "
                    f"newest intact checkpoint is then restored), or delete {self.directory} to "
                    "start the run over.") from error
            raise ValueError(
                f"Checkpoint {path} does not match this model ({error}). It was written "
                "by a run with another architecture or configuration. Fix: use the same flags as "
                "that run, or a new --model_dir.") from error
        logging.info("Restored %s (epoch %d, step %d).", path, self._epoch.numpy(), self.step)
        return int(self._epoch.numpy())

    def _resolve(self, restore_from):
        """The checkpoint prefix ``restore_from`` names (a path, or a name in ``directory``)."""
        for path in (restore_from, os.path.join(self.directory, restore_from)):
            if tf.io.gfile.exists(path + ".index"):
                return path
        available = [p for _, p in numbered_checkpoints(self.directory)]
        raise FileNotFoundError(
            f"--restore_from={restore_from!r} is not a checkpoint (no {restore_from}.index). Fix: "
            f"pass a checkpoint prefix without its extension; on disk: {available or 'none'}.")

    def _recover_without_state(self):
        """The newest intact ``ckpt-N`` when the state file names none (None: no
        ``ckpt-N`` at all); rewrites the state file on the chief."""
        found = numbered_checkpoints(self.directory)
        if not found:
            return None
        intact = [path for _, path in found if _read_error(path) is None]
        if not intact:
            raise ValueError(
                f"{self.directory} holds checkpoints {[p for _, p in found]} but no `checkpoint` "
                "state file naming the latest one, and none of them can be read (corrupt). They "
                "are left untouched. Fix: restore them from a backup, or delete "
                f"{self.directory} to start the run over.")
        skipped = [path for _, path in found if path not in intact]
        logging.warning(
            "The `checkpoint` state file of %s is missing or names a checkpoint that is gone; "
            "restoring the newest intact checkpoint on disk, %s%s.", self.directory, intact[-1],
            f" (unreadable, left on disk: {skipped})" if skipped else "")
        if self.write_directory == self.directory:
            tf.compat.v1.train.update_checkpoint_state(self.directory, intact[-1],
                                                       all_model_checkpoint_paths=intact)
            self._manager = self._new_manager()
        return intact[-1]

    def _number_above_existing(self):
        """Makes the next save's number exceed every ``ckpt-N`` on disk (after a
        restore of an older checkpoint, or beside files the state file does not
        list), so a save never overwrites a checkpoint."""
        numbers = [n for n, _ in numbered_checkpoints(self.write_directory)]
        if numbers and self._checkpoint.save_counter.numpy() < numbers[-1]:
            self._checkpoint.save_counter.assign(numbers[-1])

    def save(self, epoch, step=None):
        """Writes a checkpoint holding ``epoch`` (completed epochs) and ``step``
        (None: unchanged); returns its path. Old ones beyond ``max_to_keep`` are deleted."""
        self._number_above_existing()
        self._epoch.assign(epoch)
        if step is not None:
            self._step.assign(step)
        path = self._manager.save()
        logging.info("Saved checkpoint %s (epoch %d, step %d).", path, epoch, self.step)
        return path

    def cleanup(self):
        """Removes this worker's temporary write directory (non-chief workers only)."""
        cleanup_write_dir(self.write_directory, self.directory)

    def callback(self, hold=()):
        """A Keras callback saving at every epoch end (and every
        ``save_every_n_steps`` steps); it never saves when the logs hold a
        non-finite value, so a NaN step cannot overwrite the last good state,
        nor while one of ``hold`` (objects with a ``hold_reason()`` method, e.g.
        an `ExplosionGuard` placed before this callback) returns a reason."""
        return _SaveCheckpoint(self, hold)


class _SaveCheckpoint(keras.callbacks.Callback):
    def __init__(self, run_checkpoint, hold=()):
        super().__init__()
        self._run = run_checkpoint
        self._hold = tuple(hold)
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
        reasons = [reason for reason in (guard.hold_reason() for guard in self._hold) if reason]
        if reasons:
            logging.warning("Not saving a checkpoint at step %d: %s.", self._step, "; ".join(reasons))
            return
        self._run.save(epoch, self._step)
