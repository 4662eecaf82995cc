"""What every training command shares: strategy, model_dir layout, the fit loop.

model_dir/
  flags.cfg        resolved flags: ``--flagfile=model_dir/flags.cfg`` reproduces the run
  checkpoints/     tf.train.CheckpointManager (resume: re-run the same command)
  tensorboard/     scalars of every tracker, image grids, hparams
  export/          SavedModel / TFLite of the trained generator
  *.keras          the trained generator(s), Keras format (teachers for distillation)
"""
import os
import pathlib
import tempfile

import keras
import tensorflow as tf
from absl import flags, logging

from itgc_tf.training.callbacks import (ImageGridCallback, NaNGuard, tensorboard_callbacks)
from itgc_tf.training.checkpointing import RunCheckpoint, write_dir
from itgc_tf.training.schedules import LinearDecay

FLAGS = flags.FLAGS


def make_strategy(name, tpu=None):
    """The tf.distribute strategy for --strategy (see its help)."""
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        name = "mirrored" if len(gpus) > 1 else "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker reads the cluster from the TF_CONFIG "
                             "environment variable, which is not set. See the README's "
                             "'Multi-host training' section.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"Unknown --strategy={name!r}.")


def run_dirs(model_dir, strategy):
    """Paths this process writes to (chief: model_dir; other workers: a temp dir)."""
    if not model_dir:
        raise flags.ValidationError("--model_dir is required: the folder for checkpoints, "
                                    "TensorBoard logs and exports of this run.")
    root = pathlib.Path(write_dir(model_dir, strategy))
    dirs = {name: root / name for name in ("checkpoints", "tensorboard", "export")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    dirs["root"] = root
    return dirs


def write_flagfile(root, module_name):
    """Save the parsed flags of the running program (``module_name``'s and the
    shared ones) as ``root/flags.cfg``, atomically."""
    lines = [f"--{f.name}={f.value}" if not isinstance(f.value, (list, tuple))
             else f"--{f.name}={','.join(map(str, f.value))}"
             for f in _program_flags(module_name) if f.value is not None]
    _atomic_write(pathlib.Path(root) / "flags.cfg", "\n".join(sorted(lines)) + "\n")


def _program_flags(module_name):
    seen, result = set(), []
    for module, module_flags in FLAGS.flags_by_module_dict().items():
        if module.startswith("itgc_tf") or module == module_name or module.endswith("__main__"):
            for flag in module_flags:
                if flag.name not in seen and flag.name not in ("flagfile", "helpfull"):
                    seen.add(flag.name)
                    result.append(flag)
    return result


def _atomic_write(path, text):
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def lr_schedule(steps_per_epoch):
    """--lr constant for --epochs, then linear decay to 0 over --epochs_decay."""
    return LinearDecay(FLAGS.lr, FLAGS.epochs, FLAGS.epochs_decay, steps_per_epoch)


def adam(steps_per_epoch):
    return keras.optimizers.Adam(lr_schedule(steps_per_epoch), beta_1=FLAGS.beta1, beta_2=0.999)


def save_keras_atomically(model, path):
    """model.save to a temp file beside ``path`` then rename: never half-written."""
    path = pathlib.Path(path)
    tmp = path.with_name(path.stem + ".tmp.keras")
    model.save(tmp)
    os.replace(tmp, path)
    return path


def fit(model, dataset, dirs, *, steps_per_epoch, images_fn=None, hparams=None):
    """model.fit for --epochs + --epochs_decay with resume, TensorBoard, NaN guard.

    Returns the Keras History (empty when the run had already finished).
    """
    total_epochs = FLAGS.epochs + FLAGS.epochs_decay
    checkpoint = RunCheckpoint(dirs["checkpoints"], model, max_to_keep=FLAGS.keep_checkpoints,
                               save_every_n_steps=FLAGS.checkpoint_every_steps)
    initial_epoch = checkpoint.restore_latest()
    if initial_epoch:
        logging.info("Resuming from %s at epoch %d.", dirs["checkpoints"], initial_epoch)
    callbacks = [NaNGuard(checkpoint), checkpoint.callback(),
                 *tensorboard_callbacks(str(dirs["tensorboard"]), hparams or {})]
    if images_fn is not None and FLAGS.image_summary_every > 0:
        callbacks.append(ImageGridCallback(str(dirs["tensorboard"]), images_fn,
                                           every_n_epochs=FLAGS.image_summary_every))
    if initial_epoch >= total_epochs:
        logging.info("Training already finished (%d epochs); nothing to do.", total_epochs)
        return keras.callbacks.History()
    return model.fit(dataset, epochs=total_epochs, initial_epoch=initial_epoch,
                     steps_per_epoch=steps_per_epoch, callbacks=callbacks,
                     verbose=FLAGS.verbose, shuffle=False)


def main_with_user_errors(function):
    """Wrap an absl ``main`` so configuration mistakes print their message, not a traceback."""
    from absl import app

    def main(argv):
        try:
            return function(argv)
        except (ValueError, FileNotFoundError, flags.ValidationError) as error:
            raise app.UsageError(str(error)) from error
    return main
