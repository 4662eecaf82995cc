"""The main job on built-in data, end to end, in a few minutes on 2 CPU cores:

  teacher (Pix2Pix, residual U-Net, on demo:enhance) -> student (kd, a quarter of the
  width; VEM off, see STUDENT) -> export (SavedModel + TFLite) -> evaluation -> speed
  table (teacher vs student at 256x256 and 512x512, batch 1 and 8, SavedModel fp32 and
  LiteRT fp32/int8) -> report.json, comparison.png (whole held-out photos: input |
  teacher | student | ground truth) and a summary: the share of the teacher's PSNR gain
  over the input the student keeps, at what share of the MACs and what speed-up.

``python -m itgc_tf.demo [--model_dir=DIR]``; every stage shows progress, TensorFlow's
own log lines go to DIR/logs/tf.log.
"""
import dataclasses
import math
import os
import pathlib
import time

import numpy as np

from itgc_tf import options
from itgc_tf.cli.app import run_app
from itgc_tf.options import option

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
SHARED = dict(norm="none", netD="n_layers", ndf=16, n_layers_D=2, residual=True, verbose=2)
# The speed table: where compression matters (a 64x64 crop is all call overhead). Each row
# times teacher and student interleaved for about SPEED_BUDGET_S seconds (at least 3 runs).
SPEED_SIZES = (256, 512)
SPEED_BATCHES = (1, 8)
SPEED_BUDGET_S = 2.5
RUNTIMES = ("saved_model_fp32", "litert_fp32", "litert_int8")
# The headline: SavedModel fp32 (what TF Serving runs), batch 1, at the largest size.
HEADLINE_RUNTIME = "saved_model_fp32"
CLEARLY_FASTER = 1.5  # below this speed-up the summary says why the student is not faster
LITERT_BATCH = ("LiteRT models take a fixed batch of 1 (a batch runs image by image: "
                "batch times the batch-1 latency)")
COMMON_FLAGS = ("model_dir", "demo_epochs", "steps_per_epoch")


@dataclasses.dataclass(frozen=True)
class DemoConfig:
    """The demo's own options (every other setting is fixed above)."""
    flag_group = "demo"

    model_dir: str = option("runs/demo", "Folder of the demo's runs, exports and report "
                            "(relative to the current folder).")
    demo_epochs: int | None = option(None, "Override both stages' epochs (and set "
                                     "epochs_decay 0): e.g. 1 for a smoke run.", kind="int")
    steps_per_epoch: int | None = option(None, "Batches per epoch of both stages; default: one "
                                         "pass over the demo data.", kind="int")


def stage_configs(model_dir, epochs=None, steps_per_epoch=None):
    """(TrainTeacherConfig, DistillConfig) of the two training stages; the student's
    teacher is the teacher stage's run folder."""
    from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

    root = pathlib.Path(model_dir)
    overrides = {} if epochs is None else dict(epochs=epochs, epochs_decay=0)
    if steps_per_epoch is not None:
        overrides["steps_per_epoch"] = steps_per_epoch
    teacher = options.from_values(TrainTeacherConfig, DATA | SHARED | TEACHER | overrides | {
        "model_dir": str(root / "teacher")})
    student = options.from_values(DistillConfig, DATA | SHARED | STUDENT | overrides | {
        "model_dir": str(root / "student"), "teacher": str(root / "teacher")})
    return teacher, student


def timing_images(photos, size, count=max(SPEED_BATCHES)):
    """``count`` float32 images [count, size, size, 3] in [-1, 1] from uint8 photos
    [H, W, 3]: each photo resized to size x size, then its mirror images."""
    import tensorflow as tf

    base = [tf.image.resize(p[np.newaxis].astype(np.float32), [size, size])[0].numpy()
            for p in photos]
    flips = [lambda x: x, lambda x: x[:, ::-1], lambda x: x[::-1], lambda x: x[::-1, ::-1]]
    images = [flips[k // len(base) % 4](base[k % len(base)]) for k in range(count)]
    return (np.stack(images) / 127.5 - 1.0).astype(np.float32)


def speed_table(saved_models, tflite_dir, photos, sizes=SPEED_SIZES, batches=SPEED_BATCHES,
                budget_s=SPEED_BUDGET_S):
    """Rows of `itgc_tf.eval.latency.speedup_row`: teacher vs student per runtime, size and
    batch. ``saved_models``: {"teacher", "student": SavedModel directory}; LiteRT models
    are converted at each size into ``tflite_dir`` (timing only: int8 calibrated on the
    timing images, parity not enforced)."""
    from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
    from itgc_tf.eval.latency import skipped_row, speedup_row
    from itgc_tf.export import export_tflite

    saved = {name: SavedModelRunner(path) for name, path in saved_models.items()}
    rows = []
    for size in sizes:
        images = timing_images(photos, size, max(batches))
        rows += [speedup_row("saved_model_fp32", size, batch, saved["teacher"], saved["student"],
                             images[:batch], budget_s) for batch in batches]
        for quantization in ("fp32", "int8"):
            lite = {name: TFLiteRunner(export_tflite(
                path, pathlib.Path(tflite_dir) / f"{name}_{quantization}_{size}.tflite",
                input_size=(size, size), parity_images=images[:1], quantization=quantization,
                representative_images=images[:2], min_parity_psnr=-math.inf, overwrite=True,
                loaded=saved[name].loaded).path,
                num_threads=os.cpu_count()) for name, path in saved_models.items()}
            rows += [speedup_row(f"litert_{quantization}", size, 1, lite["teacher"],
                                 lite["student"], images[:1], budget_s) if batch == 1 else
                     skipped_row(f"litert_{quantization}", size, batch, LITERT_BATCH)
                     for batch in batches]
    return rows


def headline(rows):
    """The headline row: `HEADLINE_RUNTIME`, batch 1, the largest size measured."""
    measured = [r for r in rows if r["runtime"] == HEADLINE_RUNTIME and r["batch"] == 1
                and r["reason"] is None]
    return max(measured, key=lambda r: r["size"])


def add_speed(report, rows):
    """Put the speed table and its headline row into ``report`` (``speed.table``,
    ``speed.headline``, the latency keys and ``speedup_x``)."""
    from itgc_tf.eval.report import hardware

    row = headline(rows)
    report["speed.table"] = rows
    report["speed.headline"] = {k: row[k] for k in ("runtime", "size", "batch")}
    report.update({"student.latency_ms": row["student_latency_ms"],
                   "teacher.latency_ms": row["teacher_latency_ms"],
                   "student.latency_source": "saved_model", "teacher.latency_source": "saved_model",
                   "speedup_x": row["speedup_x"], "latency.runs": row["runs"],
                   "latency.batch": row["batch"], "latency.statistic": "fastest",
                   "latency.device": "CPU" if hardware()["gpu"] == "none" else "GPU"})
    for key in ("student.latency_ms", "teacher.latency_ms", "student.latency_source",
                "teacher.latency_source", "speedup_x", "latency.runs", "latency.batch",
                "latency.statistic", "latency.device"):
        report["null_reasons"].pop(key, None)
    return report


def run_demo(model_dir, epochs=None, steps_per_epoch=None, speed_sizes=SPEED_SIZES,
             speed_batches=SPEED_BATCHES, speed_budget_s=SPEED_BUDGET_S):
    """Run all stages into ``model_dir`` (``epochs``/``steps_per_epoch``: shorter
    stages; ``speed_*``: the speed table's sizes, batches and seconds per row); returns
    the report dict."""
    import keras

    from itgc_tf import distill, train_teacher
    from itgc_tf.data import build_dataset, first_images
    from itgc_tf.data.demo import held_out_photos
    from itgc_tf.eval.comparison import write_comparison
    from itgc_tf.eval.image_metrics import PairedImageMetrics
    from itgc_tf.eval.latency import format_speed_table
    from itgc_tf.eval.report import evaluate, format_table, write_report
    from itgc_tf.evaluate import inception_or_reason
    from itgc_tf.export import export_generator

    root = pathlib.Path(model_dir)
    started = time.time()
    teacher_config, student_config = stage_configs(root, epochs, steps_per_epoch)
    print("[1/5] Training the teacher (Pix2Pix, residual U-Net, ngf 16) on demo:enhance",
          flush=True)
    teacher_path = train_teacher.train(teacher_config)
    print(f"[2/5] Distilling the student (residual U-Net, ngf 4: ~1/12 of the MACs) with "
          f"{STUDENT['recipe']}{' + VEM' if STUDENT['vem_weight'] else ''}", flush=True)
    student_path = distill.train(student_config)

    teacher = keras.models.load_model(teacher_path, compile=False)
    student = keras.models.load_model(student_path, compile=False)
    config = teacher_config.data
    print("[3/5] Exporting SavedModels and TFLite models (TF Serving layout: "
          f"{root / 'export'}/<teacher|student>/<version>/)", flush=True)
    test_set = build_dataset(config, "test", training=False)
    heldout, calibration = first_images(config, "test", 8), first_images(config, "train", 32)
    served = {name: export_generator(model, root / "export", model_name=name,
                                     input_nc=config.input_nc, output_nc=config.output_nc,
                                     tflite=tflite, calibration_images=calibration,
                                     parity_images=heldout,
                                     input_size=(config.crop_size, config.crop_size))
              for name, model, tflite in (("teacher", teacher, ()),
                                          ("student", student, ("fp32", "int8")))}
    lite = served["student"].tflite
    exports = {name: result.saved_model for name, result in served.items()}
    exports.update({f"student_tflite_{q}": result.path for q, result in lite.items()})
    parity = {q: result.parity_psnr for q, result in lite.items()}
    print("[4/5] Evaluating on the held-out demo photos", flush=True)
    baseline = PairedImageMetrics()  # the degraded input itself, for scale
    for batch in test_set:
        baseline.update(batch["A"], batch["B"])
    inception, fid_skipped = inception_or_reason(None)
    size = max(speed_sizes)
    report = evaluate(student, teacher, test_set, paired=True, inception=inception,
                      fid_skipped_reason=fid_skipped, image_size=(size, size), latency_runs=0,
                      export_paths=exports, dataset_name=config.dataset, split="test")
    report["tflite.parity_psnr_db"] = parity  # on held-out images
    report["int8_psnr_db_calibration"] = lite["int8"].calibration_psnr  # in-sample
    report["int8_psnr_db_heldout"] = lite["int8"].parity_psnr
    report["input.psnr_db_vs_target"] = baseline.result()["psnr"]
    report["input.ssim_vs_target"] = baseline.result()["ssim"]
    photos = held_out_photos()
    comparison = write_comparison(root / "comparison.png", teacher, student,
                                  [(d / 127.5 - 1.0, c / 127.5 - 1.0) for _, d, c in photos])
    report["comparison_png"] = comparison.path
    report["comparison.photos"] = [name for name, _, _ in photos]
    report["comparison.psnr_db"] = [[m["psnr"] for m in row[:3]] for row in comparison.metrics]
    sizes = " and ".join(f"{s}x{s}" for s in speed_sizes)
    print(f"[5/5] Timing teacher vs student at {sizes} (SavedModel, LiteRT fp32/int8)",
          flush=True)
    rows = speed_table({k: exports[k] for k in ("teacher", "student")},
                       root / "speed_models", [d for _, d, _ in photos], speed_sizes,
                       speed_batches, speed_budget_s)
    add_speed(report, rows)
    report["seconds"] = round(time.time() - started, 1)
    write_report(root / "report.json", report)
    print()
    print(format_table(report))
    print(f"degraded input vs target: PSNR {report['input.psnr_db_vs_target']:.2f} dB, "
          f"SSIM {report['input.ssim_vs_target']:.4f}; TFLite parity on held-out images at "
          f"{config.crop_size}x{config.crop_size} (dB): "
          + ", ".join(f"{q} {v:.1f}" for q, v in parity.items())
          + f"; int8 on its calibration images: {report['int8_psnr_db_calibration']:.1f}")
    print("\nSpeed (fastest ms per call over the runs, teacher and student timed interleaved; "
          "speed-up = teacher / student):")
    print("\n".join(format_speed_table(rows)))
    print()
    print(summary_line(report))
    print("\n" + "\n".join(where_lines(root)))
    return report


def where_lines(root):
    """Where the demo's outputs are, as paths from the current folder."""
    root = pathlib.Path(root)
    return [f"Report: {root / 'report.json'}", f"Comparison picture: {root / 'comparison.png'}",
            f"TensorFlow log: {root / 'logs' / 'tf.log'}",
            f"TensorBoard: tensorboard --logdir {root}"]


def _speed_phrase(report):
    """How much faster the student runs (the headline row), or exactly why it is not
    clearly faster."""
    head = report["speed.headline"]
    where = f"{head['runtime']} at {head['size']}x{head['size']}, batch {head['batch']}"
    speedup = report["speedup_x"]
    measured = [r["speedup_x"] for r in report["speed.table"] if r["reason"] is None]
    spread = f"; {min(measured):.1f}x to {max(measured):.1f}x over the speed table"
    if speedup >= CLEARLY_FASTER:
        return f"runs {speedup:.1f}x faster ({where}{spread})"
    rate = {name: report[f"{name}.macs"] * head["batch"] / report[f"{name}.latency_ms"] / 1e6
            for name in ("student", "teacher")}  # GMAC/s
    return (f"is NOT clearly faster: {speedup:.2f}x ({where}{spread}). It computes "
            f"{report['macs_ratio']:.0f}x fewer MACs but runs at {rate['student']:.1f} GMAC/s "
            f"against the teacher's {rate['teacher']:.1f}: per-call and per-layer overhead, not "
            f"arithmetic, bounds its latency on this {report['latency.device']}")


def summary_line(report):
    """What the demo shows, from a report with ``input.psnr_db_vs_target`` and a speed
    table: the share of the teacher's PSNR gain over the degraded input that the student
    keeps, at what cost."""
    base = report["input.psnr_db_vs_target"]
    teacher_gain = report["teacher.psnr_db_vs_target"] - base
    student_gain = report["student.psnr_db_vs_target"] - base
    cost = f"at 1/{report['macs_ratio']:.0f} of its MACs, and {_speed_phrase(report)}"
    if teacher_gain <= 0:
        return (f"The teacher does not beat the degraded input ({teacher_gain:+.2f} dB): no gain "
                f"for the student (student {student_gain:+.2f} dB) to keep; it is {cost}.")
    return (f"Teacher {teacher_gain:+.2f} dB over the degraded input, student "
            f"{student_gain:+.2f} dB: the student keeps {100 * student_gain / teacher_gain:.0f}% "
            f"of the teacher's PSNR gain over the input {cost}.")


def main(config):
    run_demo(config.model_dir, config.demo_epochs, config.steps_per_epoch)


def run():
    run_app(DemoConfig, main, common=COMMON_FLAGS)


if __name__ == "__main__":
    run()
