"""Train a Pix2Pix or CycleGAN teacher: ``python -m itgc_tf.train_teacher --flagfile=...``."""
import tensorflow as tf
from absl import app, flags

from itgc_tf.cli import flags as cli_flags
from itgc_tf.cli import runner, tasks

FLAGS = flags.FLAGS


def define_flags():
    cli_flags.define_run_flags()
    cli_flags.define_generator_flags()
    cli_flags.define_discriminator_flags()
    cli_flags.define_teacher_flags()


def train(argv=()):
    """Train per the parsed flags; returns the path of the saved generator.keras
    (under a temporary folder, deleted on return, on a non-chief worker). The
    discriminator that judges the A->B output is saved beside it as
    discriminator.keras (a student discriminator can start from it)."""
    del argv
    strategy = runner.make_strategy(FLAGS.strategy, FLAGS.tpu)
    runner.configure_run()
    with runner.run_dirs(FLAGS.model_dir, strategy) as dirs:
        runner.write_flagfile(dirs["root"], __name__)
        config, dataset_fn, info, steps = tasks.training_data()
        runner.check_global_batch(config.batch_size, strategy)
        with strategy.scope():
            model = tasks.teacher_model(FLAGS.teacher_model, FLAGS.netG, FLAGS.ngf, info.paired,
                                        steps, config.crop_size)
        sample = next(iter(dataset_fn().take(1)))
        generator = tasks.teacher_generator_of(model)
        runner.fit(model, dataset_fn, dirs, strategy, steps_per_epoch=steps,
                   hparams=dict(FLAGS.flag_values_dict()),
                   images_fn=lambda: {"input": sample["A"],
                                      "output": tf.cast(generator(sample["A"]), tf.float32),
                                      "target": sample["B"]})
        runner.save_keras_atomically(tasks.teacher_discriminator_of(model),
                                     dirs["root"] / "discriminator.keras")
        return runner.save_keras_atomically(generator, dirs["root"] / "generator.keras")


def main(argv):
    print(f"Teacher generator saved to {train(argv)}")


def run():
    define_flags()
    flags.mark_flag_as_required("model_dir")
    flags.mark_flag_as_required("dataset")
    app.run(runner.main_with_user_errors(main))


if __name__ == "__main__":
    run()
