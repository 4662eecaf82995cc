"""Evaluate a student against its teacher: ``python -m itgc_tf.evaluate``.

Quality (PSNR/SSIM vs ground truth and vs teacher; FID/KID when Inception
weights are available; mIoU with ``--segmenter``), cost (MACs, parameters, latency, speed-up); writes a
JSON report and prints a table.
"""
import pathlib

from absl import flags

from itgc_tf.cli import runner
from itgc_tf.cli.tasks import load_generator
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.data import flags as data_flags

FLAGS = flags.FLAGS


def define_flags():
    data_flags.define_flags()
    flags.DEFINE_string("student", None, "Student: MODEL_DIR of an itgc-distill run or a .keras "
                        "generator file.")
    flags.DEFINE_string("teacher", None, "Teacher: MODEL_DIR of an itgc-train-teacher run or a "
                        ".keras generator file.")
    flags.DEFINE_string("split", "test", "Dataset split to evaluate on.")
    flags.DEFINE_string("report", None, "JSON report path; default STUDENT_DIR/report.json.")
    flags.DEFINE_string("inception_weights", None, "FID/KID network: the standard FID "
                        "Inception SavedModel or Keras InceptionV3 notop weights (.h5); default "
                        "the Keras cache. Without weights FID/KID are skipped with a note.")
    flags.DEFINE_string("fid_stats", None, "Cache file (.npz) of the real images' Inception "
                        "statistics; computed once, reused after.")
    flags.DEFINE_integer("latency_runs", 30, "Timed runs (after warm-up) for the latency median.")
    flags.DEFINE_string("segmenter", None, "mIoU: a segmentation SavedModel ([-1, 1] images -> "
                        "class scores) run on generated and real photos of a label-map dataset "
                        "(--layout=labels); nothing is downloaded.")
    flags.DEFINE_enum("segmenter_ids", "identity", ["identity", "cityscapes_train_ids"],
                      "How dataset label ids map to the segmenter's classes: as they are, or "
                      "Cityscapes labelIds -> the 19 trainIds (DRN-D-105).")


def inception_or_none(weights_path):
    """The FID/KID network, or None with one line saying how to enable FID/KID."""
    from itgc_tf.eval.inception import InceptionFeatures, keras_cache_path
    try:
        return InceptionFeatures(weights_path)
    except FileNotFoundError:
        print("FID/KID skipped: no Inception weights (nothing is downloaded). To enable them, "
              f"put the Keras InceptionV3 notop weights at {keras_cache_path()} or pass "
              "--inception_weights=PATH (a FID Inception SavedModel or .h5) to itgc_tf.evaluate.")
        return None


def evaluate_from_flags(argv=()):
    """Evaluate per the parsed flags; returns (report, report_path)."""
    from itgc_tf.eval.report import evaluate, format_table, write_report

    del argv
    config = data_flags.config_from_flags()
    info = dataset_info(config, FLAGS.split)
    student = load_generator(FLAGS.student, "student")
    teacher = load_generator(FLAGS.teacher, "teacher")
    inception = inception_or_none(FLAGS.inception_weights)
    segmenter = None
    if FLAGS.segmenter:
        from itgc_tf.eval.miou import CITYSCAPES_TRAIN_IDS, load_segmenter
        id_map = CITYSCAPES_TRAIN_IDS if FLAGS.segmenter_ids == "cityscapes_train_ids" else None
        segmenter = load_segmenter(FLAGS.segmenter, id_map)
    report = evaluate(student, teacher, build_dataset(config, FLAGS.split, training=False),
                      paired=info.paired, image_size=config.crop_shape,
                      inception=inception, fid_stats_path=FLAGS.fid_stats,
                      latency_runs=FLAGS.latency_runs, segmenter=segmenter)
    student_dir = pathlib.Path(FLAGS.student)
    path = pathlib.Path(FLAGS.report or (student_dir if student_dir.is_dir()
                                         else student_dir.parent) / "report.json")
    write_report(path, report)
    print(format_table(report))
    return report, path


def main(argv):
    _, path = evaluate_from_flags(argv)
    print(f"Report written to {path}")


def run():
    runner.run_app(define_flags, main, required=("student", "teacher", "dataset"))


if __name__ == "__main__":
    run()
