"""What every training command does, from its configuration (never flags): strategy,
precision, model_dir layout, the fit loop. ``train(config, build_model, ...)``.

Distribution (``strategy``): models are built in the strategy's scope and
``model.fit`` runs each step on every replica; ``batch_size`` is the GLOBAL
batch (split evenly across replicas; each loss is averaged over the global
batch, so results do not depend on the replica count). Under
``multi_worker`` (``MultiWorkerMirroredStrategy``, cluster from ``TF_CONFIG``)
every worker runs the same command; ``fit`` shards the dataset by data (each
worker keeps its replicas' part of every global batch, the pipeline's
auto-shard policy) and only the chief writes into ``--model_dir`` (the others
write to temporary folders they delete: `run_dirs`). ``--model_dir`` must be
on a filesystem every worker sees (all of them restore from it).

Fault tolerance: one mechanism, ``RunCheckpoint`` (a
``tf.train.CheckpointManager``; saves at epoch ends and every
``--checkpoint_every_steps`` steps, atomically). A killed run restarted with
the same command resumes from the newest checkpoint; the interrupted epoch is
run again from its first batch (with the weights of the last step-level save).
``NaNGuard`` stops at the first NaN/Inf with a message naming the term and the
step, keeping the last good checkpoint (the command exits non-zero);
``--skip_nonfinite_steps`` instead skips such updates and counts them.

model_dir/
  .lock            held by the running process (`RunLock`; chief only)
  flags.cfg        resolved flags: ``--flagfile=model_dir/flags.cfg`` reproduces the run;
                   written once the run is validated, compared on resume
  flags_history.txt  flag changes applied with --allow_changed_flags
  checkpoints/     tf.train.CheckpointManager (resume: re-run the same command); student
                   rounds keep checkpoints/teacher/ and checkpoints/student/ (`round_runner`)
  tensorboard/     scalars of every tracker, image grids, hparams
  export/          itgc-export's versions: export/<model_name>/<version>/ (TF Serving)
  *.keras          the trained generator(s), Keras format (teachers for distillation)
"""
import contextlib
import dataclasses
import os
import pathlib
import shutil
import typing

import keras
import tensorflow as tf
from absl import logging

from itgc_tf import options
from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.interrupts import deferred_interrupt
from itgc_tf.training import run_flags
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.callbacks import (EpochLine, ExplosionGuard, ImageGridCallback, NaNGuard,
                                        StopOnInterrupt, tensorboard_callbacks)
from itgc_tf.training.checkpointing import RunCheckpoint, cleanup_write_dir, is_chief, write_dir
from itgc_tf.training.run_lock import RunLock
from itgc_tf.training.schedules import LinearDecay


def make_strategy(name, tpu=None):
    """The tf.distribute strategy ``name`` (see ``DistributionConfig.strategy``). Call
    it before any other TensorFlow work: ``multi_worker`` must start its collectives
    first.

    ``tpu`` (untested here: no TPU) resolves a TPU name or grpc:// address (empty
    on a Cloud TPU VM) with ``TPUClusterResolver``, connects and initialises the TPU
    system, and returns a ``TPUStrategy``."""
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker reads the cluster from the TF_CONFIG "
                             "environment variable, which is not set. Set it on every worker "
                             "(see the README's 'Multi-host training' section), or use "
                             "--strategy=mirrored on one machine.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown --strategy={name!r}; use one of auto, default, one_device, "
                     "mirrored, multi_worker, tpu.")


def configure_run(distribution, seed):
    """Seeds (``seed``: weights, Langevin chains, data), ``deterministic_ops`` and the
    Keras dtype policy (``mixed_precision``) of a `DistributionConfig`. Call after
    `make_strategy`, before building any model."""
    keras.utils.set_random_seed(seed)
    if distribution.deterministic_ops:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(
        "float32" if distribution.mixed_precision == "none" else distribution.mixed_precision)


def check_global_batch(batch_size, strategy):
    """Raises ValueError unless the global ``batch_size`` splits evenly over the
    strategy's replicas (global-batch averaging assumes equal shares)."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        suggestion = replicas * max(batch_size // replicas, 1)
        raise ValueError(f"--batch_size={batch_size} is the GLOBAL batch and must split evenly "
                         f"over the {replicas} replicas of --strategy; use a multiple of "
                         f"{replicas} (e.g. --batch_size={suggestion}).")


def _require_model_dir(model_dir):
    if not model_dir:
        raise ValueError("--model_dir is required: the folder for checkpoints, TensorBoard logs "
                         "and exports of this run. Fix: pass --model_dir=DIR.")


@contextlib.contextmanager
def run_dirs(model_dir, strategy):
    """Paths of the run, as a context manager: {"root", "tensorboard", "export"}
    are where THIS process writes (chief: under model_dir; other workers: a
    temporary folder, removed on exit); "checkpoints" is always
    model_dir/checkpoints, which every worker restores from (`RunCheckpoint`
    redirects a non-chief's saves)."""
    _require_model_dir(model_dir)
    root = pathlib.Path(write_dir(model_dir, strategy))
    dirs = {name: root / name for name in ("tensorboard", "export")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    dirs["root"] = root
    dirs["checkpoints"] = pathlib.Path(model_dir) / "checkpoints"
    try:
        yield dirs
    finally:
        cleanup_write_dir(str(root), model_dir)


@contextlib.contextmanager
def claimed_run_folder(model_dir, strategy):
    """The run folder, held for this run by the chief (other workers: nothing to do):
    created if missing, locked (`RunLock`), and removed again when this run created it
    and fails before writing any file into it (no empty run folder is left behind)."""
    _require_model_dir(model_dir)
    if not is_chief(strategy):  # the chief claims the folder for every worker
        yield
        return
    created = not os.path.exists(model_dir)
    try:
        with RunLock(model_dir):
            yield
    except BaseException:
        if created and os.path.isdir(model_dir) and not any(
                files for _, _, files in os.walk(model_dir)):
            shutil.rmtree(model_dir, ignore_errors=True)
        raise


def write_flagfile(path, config):
    """Save ``config`` as the flag lines that reproduce it (``--flagfile=path``), atomically
    (mode 0644); one-off options are left out."""
    with atomic_output(path, overwrite=True) as tmp:
        pathlib.Path(tmp).write_text("\n".join(options.flag_lines(config)) + "\n")


def resume_flag_changes(model_dir, config):
    """The `FlagChange` s of ``config`` against ``model_dir/flags.cfg`` (none for a new run);
    an option the file lacks is read as its default.

    Raises ValueError listing each change that alters the run (`run_flags`) unless
    ``config.run.allow_changed_flags``."""
    path = pathlib.Path(model_dir) / "flags.cfg"
    if not path.is_file():
        return []
    # An option the record lacks had its default then: it is newer than the run's
    # flags.cfg (a run started by an older itgc_tf), so resuming does not change it.
    recorded = options.default_flag_values(type(config)) | run_flags.parse_flagfile(
        path.read_text())
    changes = run_flags.flag_changes(
        recorded, run_flags.parse_flagfile("\n".join(options.flag_lines(config))))
    refused = run_flags.refused_changes(changes)
    if refused and not config.run.allow_changed_flags:
        raise ValueError(run_flags.changes_message(refused, path, "allow_changed_flags"))
    return changes


def record_flags(root, config, changes):
    """Write ``root/flags.cfg``; append ``changes`` (if any) to ``root/flags_history.txt``."""
    if changes:
        history = pathlib.Path(root) / "flags_history.txt"
        old = history.read_text() if history.is_file() else ""
        with atomic_output(history, overwrite=True) as tmp:
            pathlib.Path(tmp).write_text(old + run_flags.history_entry(changes))
    write_flagfile(pathlib.Path(root) / "flags.cfg", config)


def build_optimizer(schedule, steps_per_epoch, lr_scale=1.0, learning_rate=None):
    """Adam(``lr`` · ``lr_scale`` constant for ``epochs``, then linear decay to 0 over
    ``epochs_decay``; ``beta1``, ``beta2``) of a `ScheduleConfig`, in a
    LossScaleOptimizer under mixed_float16; ``learning_rate`` (a schedule) replaces
    that rate (e.g. the student rounds' `RoundLinearDecay`)."""
    optimizer = FusedAdam(
        learning_rate or LinearDecay(schedule.lr * lr_scale, schedule.epochs,
                                     schedule.epochs_decay, steps_per_epoch),
        beta_1=schedule.beta1, beta_2=schedule.beta2)
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_optimizers(schedule, steps_per_epoch):
    """(generator, discriminator) optimisers of a `ScheduleConfig`; with ``ttur`` the
    generators' learning rate is halved and the discriminators' doubled (SPADE)."""
    g_scale, d_scale = (0.5, 2.0) if schedule.ttur else (1.0, 1.0)
    return (build_optimizer(schedule, steps_per_epoch, g_scale),
            build_optimizer(schedule, steps_per_epoch, d_scale))


def save_keras_atomically(model, path):
    """model.save to a temp file beside ``path`` then rename: never half-written."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def training_data(data, schedule):
    """(dataset_fn, info, steps_per_epoch) of a `DataConfig` and `ScheduleConfig`.

    ``dataset_fn()`` builds the repeated training stream anew: every new dataset
    object replays the same sequence for a seed (an object iterated twice
    reshuffles), which exact resumption relies on (`fit`)."""
    info = dataset_info(data, "train")
    steps = schedule.steps_per_epoch or max(info.num_examples // data.batch_size, 1)
    return lambda: build_dataset(data, "train").repeat(), info, steps


def restored_checkpoint(model, run, directory, strategy):
    """The `RunCheckpoint` of ``model`` in ``directory``, restored from ``run.restore_from``
    when given, else from the newest checkpoint there (none: a new run)."""
    checkpoint = RunCheckpoint(str(directory), model, max_to_keep=run.keep_checkpoints,
                               save_every_n_steps=run.checkpoint_every_steps, strategy=strategy)
    try:
        checkpoint.restore_latest(run.restore_from)
    except BaseException:
        checkpoint.cleanup()
        raise
    if checkpoint.step:
        logging.info("Resuming from %s at epoch %d, step %d.", directory, checkpoint.epoch + 1,
                     checkpoint.step)
    return checkpoint


# Options that say where and how a run is watched, saved or resumed, not what it computes.
_NOT_HPARAMS = run_flags.RESUME_SAFE_FLAGS | {"model_dir", "tfds_data_dir"}


def run_hparams(config):
    """{option: value} of a training configuration for TensorBoard's HParams: the
    command's own options that define what the run computes, without those it does not
    read (``config.unused_options()``) and those that only say where and how it is
    watched or saved (``_NOT_HPARAMS``)."""
    left_out = _NOT_HPARAMS | config.unused_options()
    return {name: value for name, value in options.flat(config).items() if name not in left_out}


def fit(model, run, dataset_fn, dirs, strategy, *, steps_per_epoch, images_fn=None,
        hparams=None, validated=None, epochs=None, checkpoint=None, more_callbacks=()):
    """model.fit for the `RunConfig` ``run``'s epochs with exact resume, TensorBoard, NaN
    guard.

    ``epochs``: train until this many epochs are done (default: the schedule's total).
    ``checkpoint``: the model's `RunCheckpoint`, already restored (`restored_checkpoint`),
    used as it is and left for the caller to clean up (a model fitted in several parts,
    as in the student rounds); default: made from ``dirs["checkpoints"]`` and restored
    here.

    ``dataset_fn()`` builds the run's infinite batch stream (a new dataset object
    each call: iterating one object twice would reshuffle). ``fit`` reads it with
    one iterator across epochs, so a run resumed after ``n`` saved steps
    continues with ``dataset_fn().skip(n)`` (tf.data computes the skipped
    batches: seconds to minutes for long runs), and a step-level checkpoint
    inside an epoch resumes that epoch at its next step. With deterministic data
    and deterministic_ops the resumed run then equals an uninterrupted one.

    The checkpoint restored is ``run.restore_from`` when given, else the newest.
    ``validated()`` (optional) is called once the restored state is checked against
    the run, before training. ``more_callbacks``: more Keras callbacks (e.g. a
    `PeriodicEvaluation`). With ``run.explosion_factor`` an `ExplosionGuard`
    stops a run whose losses blow up (checkpoint saves held during a streak).

    Returns the Keras History of the last ``fit`` call (empty when the run had
    already finished). Raises `NonFiniteLossError` when a loss or energy turns
    NaN/Inf (without skip_nonfinite_steps; with it, prints how many steps were
    skipped) and `LossExplosionError` from the explosion guard (both
    `TrainingDivergedError`).
    """
    total_epochs = run.schedule.total_epochs if epochs is None else epochs
    own_checkpoint = checkpoint is None
    if own_checkpoint:
        checkpoint = restored_checkpoint(model, run, dirs["checkpoints"], strategy)
    history = keras.callbacks.History()
    try:
        epoch, steps_done = checkpoint.epoch, checkpoint.step
        into_epoch = steps_done - epoch * steps_per_epoch
        if not 0 <= into_epoch < steps_per_epoch:
            raise ValueError(
                f"The checkpoint in {dirs['checkpoints']} holds {epoch} epochs and {steps_done} "
                f"steps, which does not fit --steps_per_epoch={steps_per_epoch}. Resume with the "
                "flags of that run (--flagfile=MODEL_DIR/flags.cfg), or use a new --model_dir.")
        if validated is not None:
            validated()
        guards = [ExplosionGuard(run.explosion_factor, run.explosion_patience, checkpoint)
                  ] if run.explosion_factor else []
        callbacks = [NaNGuard(checkpoint), *guards, checkpoint.callback(hold=guards),
                     *tensorboard_callbacks(str(dirs["tensorboard"]), hparams or {},
                                            run.log_every_steps or "epoch"),
                     *more_callbacks]
        if run.verbose == 2:  # one line per epoch (Keras' own prints two)
            callbacks.append(EpochLine(total_epochs))
        if images_fn is not None and run.image_summary_every > 0:
            callbacks.append(ImageGridCallback(str(dirs["tensorboard"]), images_fn,
                                               every_n_epochs=run.image_summary_every))

        def fit_epochs(steps, extra_callbacks=()):
            # Ctrl-C stops after the step it lands in (a KeyboardInterrupt raised inside
            # TensorFlow's C++ code could crash the process).
            with deferred_interrupt("Ctrl-C: stopping after this step (again: at once).") as (
                    interrupt):
                return model.fit(dataset_fn().skip(steps_done),
                                 epochs=total_epochs, initial_epoch=epoch, steps_per_epoch=steps,
                                 callbacks=[*callbacks, *extra_callbacks,
                                            StopOnInterrupt(interrupt)],
                                 verbose=1 if run.verbose == 1 else 0,
                                 shuffle=False)

        if into_epoch and epoch < total_epochs:  # finish the interrupted epoch first
            stop = keras.callbacks.LambdaCallback(
                on_epoch_end=lambda *_: setattr(model, "stop_training", True))
            history = fit_epochs(steps_per_epoch - into_epoch, [stop])
            epoch, steps_done = epoch + 1, steps_done + steps_per_epoch - into_epoch
        if epoch < total_epochs:
            history = fit_epochs(steps_per_epoch)
        else:
            logging.info("Training finished (%d epochs).", total_epochs)
    finally:
        if own_checkpoint:
            checkpoint.cleanup()
    if run.schedule.skip_nonfinite_steps:
        print(f"Skipped steps with non-finite values: {int(model.skipped_steps.numpy())} "
              "(over the whole run).")
    return history


@dataclasses.dataclass(frozen=True)
class PreparedRun:
    """What `prepared_run` sets up: the strategy, the run's paths (`run_dirs`), the
    training stream (`training_data`) and ``validated()``, which records the flags
    (call it once the restored state is checked, before training)."""
    strategy: tf.distribute.Strategy
    dirs: dict
    dataset_fn: typing.Callable
    info: typing.Any
    steps_per_epoch: int
    validated: typing.Callable


@contextlib.contextmanager
def prepared_run(config):
    """What every training command does before building its models (``config.data``: a
    `DataConfig`, ``config.run``: a `RunConfig`): strategy, seeds and precision, the run
    folder claimed (`claimed_run_folder`), the flags compared with a resumed run's
    (`resume_flag_changes`), the data; yields a `PreparedRun`."""
    run, distribution = config.run, config.run.distribution
    strategy = make_strategy(distribution.strategy, distribution.tpu)
    configure_run(distribution, config.data.seed)
    with claimed_run_folder(run.model_dir, strategy), run_dirs(run.model_dir, strategy) as dirs:
        changes = resume_flag_changes(run.model_dir, config)
        dataset_fn, info, steps = training_data(config.data, run.schedule)
        check_global_batch(config.data.batch_size, strategy)
        yield PreparedRun(strategy, dirs, dataset_fn, info, steps,
                          lambda: record_flags(dirs["root"], config, changes))


def save_outputs(networks, root):
    """Save {file name: Keras model} into ``root`` atomically; returns the last path."""
    for name, network in networks.items():
        path = save_keras_atomically(network, pathlib.Path(root) / name)
    return path


def train(config, build_model, image_grid, outputs, callbacks=lambda model, dirs: ()):
    """What every training command does with its configuration: `prepared_run`, the
    model built in the strategy scope, fit with resume, flags.cfg written once the run
    is validated, atomic saves.

    build_model(info, steps_per_epoch) -> compiled model (called in scope);
    image_grid(model, sample_batch) -> {column: images [N, H, W, C]} for TensorBoard;
    outputs(model) -> {file name: Keras model} saved into the run folder;
    callbacks(model, dirs) -> more Keras callbacks for ``fit`` (default none).
    Returns the path of the last saved output (under a temporary folder, deleted
    on return, on a non-chief worker).
    """
    with prepared_run(config) as prepared:
        with prepared.strategy.scope():
            model = build_model(prepared.info, prepared.steps_per_epoch)
        sample = next(iter(prepared.dataset_fn().take(1)))
        fit(model, config.run, prepared.dataset_fn, prepared.dirs, prepared.strategy,
            steps_per_epoch=prepared.steps_per_epoch, hparams=run_hparams(config),
            images_fn=lambda: image_grid(model, sample), validated=prepared.validated,
            more_callbacks=callbacks(model, prepared.dirs))
        return save_outputs(outputs(model), prepared.dirs["root"])
