"""The main job on built-in data, end to end, in a few minutes on 2 CPU cores:

  teacher (Pix2Pix, residual U-Net, on demo:enhance) -> student (kd, a quarter of the
  width; VEM off, see STUDENT) -> export (SavedModel + TFLite) -> evaluation -> report.json,
  comparison.png (whole held-out photos: input | teacher | student | ground truth) and a
  summary line: the share of the teacher's PSNR gain over the input the student keeps,
  at what share of the MACs and what speed-up at 256x256.

``python -m itgc_tf.demo [--model_dir=DIR]``; every step shows progress.
"""
import dataclasses
import pathlib
import time

import numpy as np

from itgc_tf import distill, options, train_teacher
from itgc_tf.cli.app import run_app
from itgc_tf.data import build_dataset
from itgc_tf.options import option
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

# The demo's recipe: small residual nets trained on 64x64 crops (at the photos' native
# resolution: --preprocess=crop keeps the degradation) so that it runs in minutes on a
# CPU; a restoration objective (L1-dominated teacher, no normalisation at batch 4).
DATA = dict(dataset="demo:enhance", load_size=72, crop_size=64, preprocess="crop",
            batch_size=4)
TEACHER = dict(teacher_model="pix2pix", netG="unet_64", ngf=16, epochs=18, epochs_decay=9,
               lr=2e-3, lambda_l1=1000.0, gan_mode="vanilla")
# kd alone: with kd + VEM (--vem_weight=0.1 --critic_blocks=4 --langevin_step_size=50) the
# student scored 0.07 dB lower against the ground truth (seed 0) and each step took about
# twice as long; the demo spends that time on more student epochs (docs/STUDY.md).
STUDENT = dict(recipe="kd", student_netG="unet_64", student_ngf=4, epochs=24, epochs_decay=12,
               lr=2e-3, lambda_recon=10.0, gan_mode="lsgan", vem_weight=0.0)
SPEED_SIZE = 256  # MACs and latency (batch 1, median after warm-up) at 256x256
SHARED = dict(norm="none", netD="n_layers", ndf=16, n_layers_D=2, residual=True, verbose=2)


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The demo's own options (every other setting is fixed above)."""
    flag_group = "demo"

    model_dir: str = option("runs/demo", "Folder of the demo's runs, exports and report.")
    demo_epochs: int | None = option(None, "Override both stages' epochs (and set "
                                     "epochs_decay 0): e.g. 1 for a smoke run.", kind="int")
    steps_per_epoch: int | None = option(None, "Batches per epoch of both stages; default: one "
                                         "pass over the demo data.", kind="int")


def stage_configs(model_dir, epochs=None, steps_per_epoch=None):
    """(TrainTeacherConfig, DistillConfig) of the two training stages; the student's
    teacher is the teacher stage's run folder."""
    root = pathlib.Path(model_dir)
    overrides = {} if epochs is None else dict(epochs=epochs, epochs_decay=0)
    if steps_per_epoch is not None:
        overrides["steps_per_epoch"] = steps_per_epoch
    teacher = options.from_values(TrainTeacherConfig, DATA | SHARED | TEACHER | overrides | {
        "model_dir": str(root / "teacher")})
    student = options.from_values(DistillConfig, DATA | SHARED | STUDENT | overrides | {
        "model_dir": str(root / "student"), "teacher": str(root / "teacher")})
    return teacher, student


def run_demo(model_dir, epochs=None, steps_per_epoch=None):
    """Run all stages into ``model_dir`` (``epochs``/``steps_per_epoch``: shorter
    stages); returns the report dict."""
    from itgc_tf.data.demo import held_out_photos
    from itgc_tf.eval.comparison import write_comparison
    from itgc_tf.eval.image_metrics import PairedImageMetrics
    from itgc_tf.eval.report import evaluate, format_table, write_report
    from itgc_tf.evaluate import inception_or_none
    from itgc_tf.export import export_saved_model, export_tflite

    root = pathlib.Path(model_dir)
    started = time.time()
    teacher_config, student_config = stage_configs(root, epochs, steps_per_epoch)
    print("[1/4] Training the teacher (Pix2Pix, residual U-Net, ngf 16) on demo:enhance")
    teacher_path = train_teacher.train(teacher_config)
    print(f"[2/4] Distilling the student (residual U-Net, ngf 4: ~1/12 of the MACs) with "
          f"{STUDENT['recipe']}{' + VEM' if STUDENT['vem_weight'] else ''}")
    student_path = distill.train(student_config)

    import keras
    teacher = keras.models.load_model(teacher_path, compile=False)
    student = keras.models.load_model(student_path, compile=False)
    config = teacher_config.data
    print("[3/4] Exporting SavedModels and TFLite models")
    test_set = build_dataset(config, "test", training=False)
    images = np.concatenate([b["A"].numpy() for b in test_set.take(2)])[:8]
    exports, parity = {}, {}
    for name, model in (("teacher", teacher), ("student", student)):
        saved = export_saved_model(model, root / "export" / name, input_nc=config.input_nc,
                                   output_nc=config.output_nc, overwrite=True)
        exports[name] = str(saved)
    for quantization in ("fp32", "int8"):
        result = export_tflite(exports["student"],
                               root / "export" / f"student_{quantization}.tflite",
                               input_size=(config.crop_size, config.crop_size),
                               quantization=quantization, representative_images=images,
                               parity_images=images, overwrite=True)
        exports[f"student_tflite_{quantization}"] = str(result.path)
        parity[quantization] = result.parity_psnr
    print("[4/4] Evaluating on the held-out demo photos")
    baseline = PairedImageMetrics()  # the degraded input itself, for scale
    for batch in test_set:
        baseline.update(batch["A"], batch["B"])
    report = evaluate(student, teacher, test_set, paired=True, inception=inception_or_none(None),
                      image_size=(SPEED_SIZE, SPEED_SIZE), export_paths=exports)
    report["tflite.parity_psnr"] = parity
    report["input.psnr_vs_target"] = baseline.result()["psnr"]
    report["input.ssim_vs_target"] = baseline.result()["ssim"]
    photos = held_out_photos()
    comparison = write_comparison(root / "comparison.png", teacher, student,
                                  [(d / 127.5 - 1.0, c / 127.5 - 1.0) for _, d, c in photos])
    report["comparison_png"] = comparison.path
    report["comparison.photos"] = [name for name, _, _ in photos]
    report["comparison.psnr"] = [[m["psnr"] for m in row[:3]] for row in comparison.metrics]
    report["seconds"] = round(time.time() - started, 1)
    write_report(root / "report.json", report)
    print(format_table(report))
    print(f"degraded input vs target: PSNR {report['input.psnr_vs_target']:.2f} dB, "
          f"SSIM {report['input.ssim_vs_target']:.4f}; TFLite parity (dB): {parity}")
    print(summary_line(report))
    print(f"\nReport: {root / 'report.json'}\nComparison picture: {comparison.path}"
          f"\nTensorBoard: tensorboard --logdir {root}")
    return report


def summary_line(report):
    """What the demo shows, from a report with ``input.psnr_vs_target``: the share of the
    teacher's PSNR gain over the degraded input that the student keeps, at what cost."""
    base = report["input.psnr_vs_target"]
    teacher_gain = report["teacher.psnr_vs_target"] - base
    student_gain = report["student.psnr_vs_target"] - base
    height, width = report["image_size"]
    cost = (f"at 1/{report['macs_ratio']:.0f} of its MACs, and runs "
            f"{report['speedup']:.1f}x faster at {height}x{width}")
    if teacher_gain <= 0:
        return (f"The teacher does not beat the degraded input ({teacher_gain:+.2f} dB): no gain "
                f"for the student (student {student_gain:+.2f} dB) to keep; it is {cost}.")
    return (f"Teacher {teacher_gain:+.2f} dB over the degraded input, student "
            f"{student_gain:+.2f} dB: the student keeps {100 * student_gain / teacher_gain:.0f}% "
            f"of the teacher's PSNR gain over the input {cost}.")


def main(config):
    run_demo(config.model_dir, config.demo_epochs, config.steps_per_epoch)


def run():
    run_app(DemoConfig, main)


if __name__ == "__main__":
    run()
