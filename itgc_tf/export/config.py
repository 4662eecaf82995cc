"""`ExportConfig`: what ``itgc-export`` writes, validated once."""
import dataclasses

from itgc_tf.data.config import DataConfig
from itgc_tf.options import option, require

QUANTIZATIONS = ("fp32", "fp16", "int8")


def check_version(version):
    """A served version is a positive integer (None: the next free one)."""
    require(version is None or version >= 1, f"--version must be a positive integer, got "
            f"{version}. Fix: pass --version=N with N >= 1, or leave it out for the next free "
            "version.")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """The generator to export and the exports to write."""
    flag_group = "export"

    generator: str = option(help="MODEL_DIR of a training run (its generator.keras) or a "
                            ".keras generator file.", kind="str")
    export_dir: str | None = option(None, "Folder of served models; the export goes to "
                                    "EXPORT_DIR/MODEL_NAME/VERSION/ (TF Serving's layout). "
                                    "Default GENERATOR_DIR/export.", kind="str")
    model_name: str | None = option(None, "Served model name (TF Serving's --model_name, "
                                    "the folder under --export_dir); default the generator's "
                                    "role: student (an itgc-distill run), teacher (an "
                                    "itgc-train-teacher run), else generator.", kind="str")
    version: int | None = option(None, "Version folder to write (a positive integer); "
                                 "default the next free one. An existing version is refused.",
                                 kind="int")
    tflite: tuple[str, ...] = option(("fp32",), "TFLite variants to write: any of fp32, fp16, "
                                     "int8 (empty: none). int8 calibrates on "
                                     "--num_calibration training images.", kind="list")
    num_calibration: int = option(32, "Training images that calibrate int8.")
    num_heldout: int = option(8, "Held-out images (--heldout_split) on which every TFLite "
                              "variant's parity against the SavedModel is checked.")
    heldout_split: str = option("test", "Dataset split of the parity images.")
    min_parity_psnr: float | None = option(
        None, "Refuse a TFLite model whose PSNR against the SavedModel on a held-out image "
        "falls below this (dB); default per variant (fp32 60, fp16 40, int8 20).", kind="float")

    def __post_init__(self):
        require(bool(self.generator), "--generator is required. Fix: pass --generator="
                "MODEL_DIR or a .keras generator file.")
        require(set(self.tflite) <= set(QUANTIZATIONS), "--tflite takes a comma-separated "
                f"subset of fp32,fp16,int8, got {','.join(self.tflite)}. Fix: pick from them.")
        for name in ("num_calibration", "num_heldout"):
            require(getattr(self, name) >= 1, f"--{name} must be >= 1, got "
                    f"{getattr(self, name)}. Fix: pass a positive count.")
        check_version(self.version)


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Everything ``itgc-export`` does (the data: calibration images and sizes)."""
    data: DataConfig
    export: ExportOptions
