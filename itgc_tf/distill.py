"""Distil a student from a teacher with a base recipe + VEM: ``python -m itgc_tf.distill``."""
import tensorflow as tf
from absl import app, flags

from itgc_tf.cli import flags as cli_flags
from itgc_tf.cli import runner, tasks

FLAGS = flags.FLAGS


def define_flags():
    cli_flags.define_run_flags()
    cli_flags.define_generator_flags()
    cli_flags.define_discriminator_flags()
    cli_flags.define_vem_flags()
    cli_flags.define_distill_flags()


def train(argv=()):
    """Distil per the parsed flags; returns the path of the saved student generator.keras
    (under a temporary folder, deleted on return, on a non-chief worker)."""
    del argv
    strategy = runner.make_strategy(FLAGS.strategy, FLAGS.tpu)
    runner.configure_run()
    with runner.run_dirs(FLAGS.model_dir, strategy) as dirs:
        runner.write_flagfile(dirs["root"], __name__)
        config, dataset_fn, info, steps = tasks.training_data()
        runner.check_global_batch(config.batch_size, strategy)
        with strategy.scope():
            distiller = tasks.distiller(info, steps, config.crop_size)
        sample = next(iter(dataset_fn().take(1)))

        def images():
            grid = {"input": sample["A"]}  # generator outputs: float32 for the summary
            for name, net in (("teacher", distiller.teachers[0]), ("student", distiller.student)):
                grid[name] = tf.cast(net(sample["A"]), tf.float32)
            if distiller.critic is not None and distiller.vem.tap is None:
                grid["langevin"] = distiller.langevin_sample(grid["student"])
            return grid

        runner.fit(distiller, dataset_fn, dirs, strategy, steps_per_epoch=steps,
                   hparams=dict(FLAGS.flag_values_dict()), images_fn=images)
        return runner.save_keras_atomically(distiller.student, dirs["root"] / "generator.keras")


def main(argv):
    print(f"Student generator saved to {train(argv)}")


def run():
    define_flags()
    flags.mark_flag_as_required("model_dir")
    flags.mark_flag_as_required("dataset")
    app.run(runner.main_with_user_errors(main))


if __name__ == "__main__":
    run()
