"""Distil a student from a teacher with a base recipe + VEM: ``python -m itgc_tf.distill``."""
from itgc_tf.cli.app import run_app
from itgc_tf.data.labels import shown_input
from itgc_tf.training import runner
from itgc_tf.training.builders import build_distiller
from itgc_tf.training.config import DistillConfig


def _grid(distiller, sample):
    """input | teacher | student | Langevin sample (when VEM bounds the output images)."""
    grid = {"input": shown_input(sample), "teacher": distiller.teachers[0](sample["A"]),
            "student": distiller.student(sample["A"])}
    if distiller.critic is not None and distiller.vem.vem_tap is None:
        grid["langevin"] = distiller.langevin_sample(grid["student"])
    return grid


def train(config, callbacks=lambda distiller, dirs: ()):
    """Distil per a `DistillConfig`; returns the path of the saved student generator.keras.
    ``callbacks(distiller, dirs)``: more Keras callbacks (`runner.train`)."""
    return runner.train(config, lambda info, steps: build_distiller(config, info, steps), _grid,
                        lambda distiller: {"generator.keras": distiller.student}, callbacks)


def main(config):
    print(f"Student generator saved to {train(config)}")


def run():
    run_app(DistillConfig, main, required=("model_dir", "dataset"))


if __name__ == "__main__":
    run()
