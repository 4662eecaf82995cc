"""Distil a student from a teacher with a base recipe + VEM: ``python -m itgc_tf.distill``."""
from absl import flags

from itgc_tf.cli import flags as cli_flags
from itgc_tf.cli import runner, tasks

FLAGS = flags.FLAGS


def define_flags():
    cli_flags.define_run_flags()
    cli_flags.define_generator_flags()
    cli_flags.define_discriminator_flags()
    cli_flags.define_vem_flags()
    cli_flags.define_distill_flags()


def _grid(distiller, sample):
    """input | teacher | student | Langevin sample (when VEM bounds the output images)."""
    grid = {"input": sample["A"], "teacher": distiller.teachers[0](sample["A"]),
            "student": distiller.student(sample["A"])}
    if distiller.critic is not None and distiller.vem.tap is None:
        grid["langevin"] = distiller.langevin_sample(grid["student"])
    return grid


def train(argv=()):
    """Distil per the parsed flags; returns the path of the saved student generator.keras."""
    del argv
    return runner.train(__name__, tasks.distiller, _grid,
                        lambda distiller: {"generator.keras": distiller.student})


def main(argv):
    print(f"Student generator saved to {train(argv)}")


def run():
    runner.run_app(define_flags, main)


if __name__ == "__main__":
    run()
