"""Train a Pix2Pix, CycleGAN or GauGAN (SPADE) teacher:
``python -m itgc_tf.train_teacher --flagfile=...``."""
from itgc_tf.cli.app import run_app
from itgc_tf.training.config import TrainTeacherConfig
# The library (TensorFlow) is imported when the command runs: --help answers without it.

COMMON_FLAGS = ("dataset", "model_dir", "teacher_model", "netG", "ngf", "epochs", "epochs_decay",
                "batch_size", "crop_size", "lr")


def _grid(model, sample):
    from itgc_tf.data.labels import shown_input
    from itgc_tf.training import builders
    output = builders.teacher_generator_of(model)(sample["A"])
    return {"input": shown_input(sample), "output": output, "target": sample["B"]}


def train(config):
    """Train the teacher a `TrainTeacherConfig` describes; returns the path of the saved
    generator.keras. The discriminator that judges the A->B output is saved beside it
    as discriminator.keras (a student discriminator can start from it)."""
    from itgc_tf.training import builders, runner

    def build(info, steps):
        return builders.teacher_model(config, config.generator.netG, config.generator.ngf,
                                      info, steps)

    return runner.train(config, build, _grid, lambda model: {
        "discriminator.keras": builders.teacher_discriminator_of(model),
        "generator.keras": builders.teacher_generator_of(model)})


def main(config):
    print(f"Teacher generator saved to {train(config)}")


def run():
    run_app(TrainTeacherConfig, main, required=("model_dir", "dataset"), common=COMMON_FLAGS)


if __name__ == "__main__":
    run()
