"""Evaluate a student against its teacher: ``python -m itgc_tf.evaluate``.

Quality (PSNR/SSIM vs ground truth and vs teacher; FID/KID when Inception
weights are available; mIoU with ``--segmenter``), cost (MACs, parameters,
latency, speed-up); writes a JSON report and prints a table.
"""
import pathlib

from itgc_tf.cli.app import run_app
from itgc_tf.eval.config import EvalConfig

COMMON_FLAGS = ("student", "teacher", "dataset", "split", "load_size", "crop_size",
                "inception_weights", "fid_stats", "report", "comparison_png")


def inception_or_reason(weights_path):
    """(the FID/KID network, None), or (None, why FID/KID are skipped and how to enable them)."""
    from itgc_tf.eval.inception import InceptionFeatures, keras_cache_path
    try:
        return InceptionFeatures(weights_path), None
    except FileNotFoundError:
        where = weights_path or keras_cache_path()
        return None, ("FID/KID skipped: no Inception weights at "
                      f"{where} (nothing is downloaded). To enable them, put the Keras "
                      f"InceptionV3 notop weights at {keras_cache_path()} or pass "
                      "--inception_weights=PATH (a FID Inception SavedModel or .h5); see the "
                      "README's 'Weights on an offline machine'.")


def segmenter_or_none(path, ids):
    """The mIoU segmenter of ``--segmenter`` (None without one)."""
    if not path:
        return None
    from itgc_tf.eval.miou import CITYSCAPES_TRAIN_IDS, load_segmenter
    return load_segmenter(path, CITYSCAPES_TRAIN_IDS if ids == "cityscapes_train_ids" else None)


def evaluate_run(config):
    """Evaluate per an `EvalConfig`; returns (report, report_path)."""
    from itgc_tf.data import build_dataset, dataset_info
    from itgc_tf.eval.report import evaluate, format_table, write_report
    from itgc_tf.training.builders import load_generator

    data, options = config.data, config.evaluation
    info = dataset_info(data, options.split)
    student = load_generator(options.student, "student", data, info)
    teacher = load_generator(options.teacher, "teacher", data, info)
    inception, skipped = inception_or_reason(options.inception_weights)
    if skipped:
        print(skipped)
    report = evaluate(student, teacher, build_dataset(data, options.split, training=False),
                      paired=info.paired, image_size=data.crop_shape, dataset_name=data.dataset,
                      split=options.split, inception=inception, fid_skipped_reason=skipped,
                      fid_stats_path=options.fid_stats,
                      latency_runs=options.latency_runs,
                      segmenter=segmenter_or_none(options.segmenter, options.segmenter_ids))
    student_dir = pathlib.Path(options.student)
    path = pathlib.Path(options.report or (student_dir if student_dir.is_dir()
                                           else student_dir.parent) / "report.json")
    if options.comparison_png:
        from itgc_tf.data.pipeline import native_pairs
        from itgc_tf.eval.comparison import write_comparison
        comparison = write_comparison(options.comparison_png, teacher, student,
                                      native_pairs(data, options.split, count=3))
        report["comparison_png"] = comparison.path
    print(format_table(report))  # first: the metrics reach the user even if writing fails
    write_report(path, report)
    if options.comparison_png:
        print(f"Comparison picture written to {report['comparison_png']}")
    return report, path


def main(config):
    _, path = evaluate_run(config)
    print(f"Report written to {path}")


def run():
    run_app(EvalConfig, main, required=("student", "teacher", "dataset"), common=COMMON_FLAGS)


if __name__ == "__main__":
    run()
