"""`EvalConfig`: what ``itgc-evaluate`` compares, on which data, validated once."""
import dataclasses

from itgc_tf.data.config import DataConfig
from itgc_tf.options import option, require


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """The two generators, the split and the metrics' resources."""
    flag_group = "evaluation"

    student: str = option(help="Student: MODEL_DIR of an itgc-distill run or a .keras "
                          "generator file.", kind="str")
    teacher: str = option(help="Teacher: MODEL_DIR of an itgc-train-teacher run or a .keras "
                          "generator file.", kind="str")
    split: str = option("test", "Dataset split to evaluate on.")
    report: str | None = option(None, "JSON report path; default STUDENT_DIR/report.json.",
                                kind="str")
    inception_weights: str | None = option(
        None, "FID/KID network: the standard FID Inception SavedModel or Keras InceptionV3 "
        "notop weights (.h5); default the Keras cache. A SavedModel is code (its graph runs): "
        "use one only from a trusted source. Without weights FID/KID are skipped with a note.",
        kind="str")
    fid_stats: str | None = option(None, "Cache file (.npz) of the real images' Inception "
                                   "statistics; computed once, reused after.", kind="str")
    latency_runs: int = option(30, "Timed runs (after warm-up) for the latency median.")
    segmenter: str | None = option(
        None, "mIoU: a segmentation SavedModel ([-1, 1] images -> class scores) run on "
        "generated and real photos of a label-map dataset (--layout=labels); nothing is "
        "downloaded.", kind="str")
    segmenter_ids: str = option("identity", "How dataset label ids map to the segmenter's "
                                "classes: as they are, or Cityscapes labelIds -> the 19 "
                                "trainIds (DRN-D-105).",
                                choices=("identity", "cityscapes_train_ids"))
    comparison_png: str | None = option(
        None, "Also write a comparison picture here: the split's first 3 pairs at their "
        "stored resolution, degraded input | teacher | student | ground truth, each with "
        "PSNR/SSIM and a zoomed inset (paired data only).", kind="str")

    def __post_init__(self):
        for name in ("student", "teacher"):
            require(bool(getattr(self, name)), f"--{name} is required. Fix: pass --{name}="
                    "MODEL_DIR or a .keras generator file.")
        require(self.latency_runs >= 1, f"--latency_runs must be >= 1, got "
                f"{self.latency_runs}. Fix: pass a positive count.")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """Everything ``itgc-evaluate`` does."""
    data: DataConfig
    evaluation: EvalOptions
