"""Distil a student from a teacher with a base recipe + VEM: ``python -m itgc_tf.distill``."""
from itgc_tf.cli.app import run_app
from itgc_tf.training.config import DistillConfig
# The library (TensorFlow) is imported when the command runs: --help answers without it.

COMMON_FLAGS = ("dataset", "teacher", "model_dir", "recipe", "student_netG", "student_ngf",
                "vem_weight", "epochs", "epochs_decay", "batch_size")


def _grid(distiller, sample):
    """input | teacher | student | Langevin sample (when VEM bounds the output images)."""
    from itgc_tf.data.labels import shown_input
    grid = {"input": shown_input(sample), "teacher": distiller.teachers[0](sample["A"]),
            "student": distiller.student(sample["A"])}
    if distiller.critic is not None and distiller.vem.vem_tap is None:
        grid["langevin"] = distiller.langevin_sample(grid["student"])
    return grid


def train(config, teacher_score=None, callbacks=lambda distiller, dirs: (), **resources):
    """Distil per a `DistillConfig`; returns the path of the saved student generator.keras.

    With ``--student_rounds_every_epochs`` the student trains in rounds against a frozen
    copy of the online teacher (`round_runner`; ``teacher_score`` replaces its FID scorer).
    ``callbacks(distiller, dirs)``: more Keras callbacks (`runner.train`; not in rounds).
    resources: handed to the recipe (e.g. OMGD's ``vgg``)."""
    from itgc_tf.training import round_runner, runner
    from itgc_tf.training.builders import build_distiller
    if config.online_teachers.rounds:
        return round_runner.train(config, _grid, teacher_score=teacher_score, **resources)
    return runner.train(config, lambda info, steps: build_distiller(config, info, steps,
                                                                    **resources),
                        _grid, lambda distiller: {"generator.keras": distiller.student},
                        callbacks)


def main(config):
    print(f"Student generator saved to {train(config)}")


def run():
    run_app(DistillConfig, main, required=("model_dir", "dataset"), common=COMMON_FLAGS)


if __name__ == "__main__":
    run()
