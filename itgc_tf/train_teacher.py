"""Train a Pix2Pix or CycleGAN teacher: ``python -m itgc_tf.train_teacher --flagfile=...``."""
from absl import flags

from itgc_tf.cli import flags as cli_flags
from itgc_tf.cli import runner, tasks

FLAGS = flags.FLAGS


def define_flags():
    cli_flags.define_run_flags()
    cli_flags.define_generator_flags()
    cli_flags.define_discriminator_flags()
    cli_flags.define_teacher_flags()


def _build(info, steps, crop_size):
    return tasks.teacher_model(FLAGS.teacher_model, FLAGS.netG, FLAGS.ngf, info.paired, steps,
                               crop_size)


def _grid(model, sample):
    output = tasks.teacher_generator_of(model)(sample["A"])
    return {"input": sample["A"], "output": output, "target": sample["B"]}


def train(argv=()):
    """Train per the parsed flags; returns the path of the saved generator.keras. The
    discriminator that judges the A->B output is saved beside it as
    discriminator.keras (a student discriminator can start from it)."""
    del argv
    return runner.train(__name__, _build, _grid, lambda model: {
        "discriminator.keras": tasks.teacher_discriminator_of(model),
        "generator.keras": tasks.teacher_generator_of(model)})


def main(argv):
    print(f"Teacher generator saved to {train(argv)}")


def run():
    runner.run_app(define_flags, main)


if __name__ == "__main__":
    run()
