"""Prune an inception teacher to a MAC budget (CAT's one-step pruning):
``python -m itgc_tf.prune`` / ``itgc-prune``.

    itgc-prune --teacher=runs/h2z_teacher --macs_budget=2.6G --input_size=256 \
        --output=runs/h2z_student_2p6G

Writes OUTPUT/generator.keras (the student, kept channels' weights from the
teacher) and OUTPUT/widths.json (kept widths per layer, MACs, threshold), all or
nothing. The library is ``itgc_tf.models.pruning``.
"""
import re

from absl import app, flags

from itgc_tf.models.pruning import CAT_MIN_CHANNELS, prune_to_budget, save_pruned

FLAGS = flags.FLAGS
_SUFFIXES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
_MACS = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*([KMG]?)\s*$", re.IGNORECASE)


def parse_macs(text):
    """'2.6G' -> 2.6e9 (suffixes K, M, G, any case; plain numbers and 2.6e9 too)."""
    match = _MACS.match(str(text))
    if not match or float(match[1]) <= 0:
        raise ValueError(f"--macs_budget={text!r} is not a positive MAC count. Fix: write e.g. "
                         "2.6G, 500M, 750K or 2.6e9.")
    return float(match[1]) * _SUFFIXES[match[2].upper()]


def define_flags():
    flags.DEFINE_string("teacher", None, "Teacher: an itgc-train-teacher MODEL_DIR (its "
                        "generator.keras) or a .keras inception generator with affine norms.")
    flags.DEFINE_string("macs_budget", None, "Largest MACs of the student at --input_size, "
                        "with a K/M/G suffix (e.g. 2.6G, CAT's horse2zebra student).")
    flags.DEFINE_integer("input_size", 256, "Square input size (pixels) at which MACs count.")
    flags.DEFINE_integer("min_channels", CAT_MIN_CHANNELS, "Fewest channels the stem, "
                         "down and up layers keep (CAT's --prune_cin_lb).")
    flags.DEFINE_string("output", None, "Folder to write generator.keras and widths.json to.")
    flags.DEFINE_bool("overwrite", False, "Replace an existing --output folder.")
    for name in ("teacher", "macs_budget", "output"):
        flags.mark_flag_as_required(name)


def main(argv):
    del argv
    from itgc_tf.cli.tasks import load_generator  # heavy import after flag parsing
    try:
        budget = parse_macs(FLAGS.macs_budget)
        teacher = load_generator(FLAGS.teacher, "teacher")
        student, result = prune_to_budget(teacher, budget, FLAGS.input_size, FLAGS.min_channels)
    except (ValueError, FileNotFoundError) as error:
        raise app.UsageError(str(error)) from error
    save_pruned(student, result, FLAGS.output, overwrite=FLAGS.overwrite)
    print(f"student: {result.macs / 1e9:.4g}G MACs at {FLAGS.input_size}px (budget "
          f"{budget / 1e9:.4g}G, teacher {result.teacher_macs / 1e9:.4g}G); widths {result.widths}")
    print(f"wrote {FLAGS.output}/generator.keras and widths.json")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
