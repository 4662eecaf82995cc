"""Prune an inception teacher to a MAC budget (CAT's one-step pruning):
``python -m itgc_tf.prune`` / ``itgc-prune``.

    itgc-prune --teacher=runs/h2z_teacher --macs_budget=2.6G --input_size=256 \
        --output=runs/h2z_student_2p6G

Writes OUTPUT/generator.keras (the student, kept channels' weights from the
teacher) and OUTPUT/widths.json (kept widths per layer, MACs, threshold), all or
nothing; ``itgc-distill --student=OUTPUT`` distils it. The library is
``itgc_tf.models.pruning``.
"""
import dataclasses
import re

from itgc_tf.cli.app import run_app
from itgc_tf.models.config import CAT_MIN_CHANNELS
from itgc_tf.options import option, require
# The library (TensorFlow) is imported when the command runs: --help answers without it.

_SUFFIXES = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9}
_MACS = re.compile(r"^\s*(\d+(?:\.\d*)?(?:[eE][+-]?\d+)?)\s*([KMG]?)\s*$", re.IGNORECASE)


def parse_macs(text):
    """'2.6G' -> 2.6e9 (suffixes K, M, G, any case; plain numbers and 2.6e9 too)."""
    match = _MACS.match(str(text))
    if not match or float(match[1]) <= 0:
        raise ValueError(f"--macs_budget={text!r} is not a positive MAC count. Fix: write e.g. "
                         "2.6G, 500M, 750K or 2.6e9.")
    return float(match[1]) * _SUFFIXES[match[2].upper()]


@dataclasses.dataclass(frozen=True)
class PruneConfig:
    """Everything ``itgc-prune`` does."""
    flag_group = "prune"

    teacher: str | None = option(None, "Teacher: an itgc-train-teacher MODEL_DIR (its "
                                 "generator.keras) or a .keras inception generator with affine "
                                 "norms.", kind="str")
    macs_budget: str | None = option(None, "Largest MACs of the student at --input_size, with "
                                     "a K/M/G suffix (e.g. 2.6G, CAT's horse2zebra student).",
                                     kind="str")
    input_size: int = option(256, "Square input size (pixels) at which MACs count.")
    min_channels: int = option(CAT_MIN_CHANNELS, "Fewest channels the stem, down and up layers "
                               "keep (CAT's --prune_cin_lb).")
    output: str | None = option(None, "Folder to write generator.keras and widths.json to.",
                                kind="str")
    overwrite: bool = option(False, "Replace an existing --output folder.")

    def __post_init__(self):
        for name in ("teacher", "macs_budget", "output"):
            require(bool(getattr(self, name)), f"itgc-prune needs --{name}. Fix: pass --{name}.")
        parse_macs(self.macs_budget)
        require(self.input_size >= 1 and self.min_channels >= 1, "--input_size and "
                "--min_channels must be >= 1. Fix: pass positive values.")

    @property
    def budget(self):
        """The MAC budget as a number."""
        return parse_macs(self.macs_budget)


def prune(config):
    """Prune per a `PruneConfig`; returns the `PruneResult` (files written to ``output``)."""
    from itgc_tf.models.pruning import prune_to_budget, save_pruned
    from itgc_tf.training.builders import load_generator
    teacher = load_generator(config.teacher, "teacher")
    student, result = prune_to_budget(teacher, config.budget, config.input_size,
                                      config.min_channels)
    save_pruned(student, result, config.output, overwrite=config.overwrite)
    return result


def main(config):
    result = prune(config)
    print(f"student: {result.macs / 1e9:.4g}G MACs at {config.input_size}px (budget "
          f"{config.budget / 1e9:.4g}G, teacher {result.teacher_macs / 1e9:.4g}G); widths "
          f"{result.widths}")
    print(f"wrote {config.output}/generator.keras and widths.json")


def run():
    run_app(PruneConfig, main, required=("teacher", "macs_budget", "output"))


if __name__ == "__main__":
    run()
