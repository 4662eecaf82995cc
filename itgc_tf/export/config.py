"""`ExportConfig`: what ``itgc-export`` writes, validated once."""
import dataclasses

from itgc_tf.data.config import DataConfig
from itgc_tf.options import option, require

QUANTIZATIONS = ("fp32", "fp16", "int8")


@dataclasses.dataclass(frozen=True)
class ExportOptions:
    """The generator to export and the exports to write."""
    flag_group = "export"

    generator: str = option(help="MODEL_DIR of a training run (its generator.keras) or a "
                            ".keras generator file.", kind="str")
    export_dir: str | None = option(None, "Output folder; default GENERATOR_DIR/export.",
                                    kind="str")
    tflite: tuple[str, ...] = option(("fp32",), "TFLite variants to write: any of fp32, fp16, "
                                     "int8 (empty: none). int8 calibrates on "
                                     "--num_calibration training images.", kind="list")
    num_calibration: int = option(32, "Representative images for int8 calibration and parity "
                                  "checks.")
    min_parity_psnr: float | None = option(
        None, "Refuse a TFLite model whose PSNR against the SavedModel falls below this (dB); "
        "default per variant (fp32 60, fp16 40, int8 20).", kind="float")
    overwrite: bool = option(False, "Replace existing exports.")

    def __post_init__(self):
        require(bool(self.generator), "--generator is required. Fix: pass --generator="
                "MODEL_DIR or a .keras generator file.")
        require(set(self.tflite) <= set(QUANTIZATIONS), "--tflite takes a comma-separated "
                f"subset of fp32,fp16,int8, got {','.join(self.tflite)}. Fix: pick from them.")
        require(self.num_calibration >= 1, f"--num_calibration must be >= 1, got "
                f"{self.num_calibration}. Fix: pass a positive count.")


@dataclasses.dataclass(frozen=True)
class ExportConfig:
    """Everything ``itgc-export`` does (the data: calibration images and sizes)."""
    data: DataConfig
    export: ExportOptions
