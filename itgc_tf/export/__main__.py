"""Export a trained generator: ``python -m itgc_tf.export --generator=DIR_OR_FILE ...``.

Writes a SavedModel for TF Serving (signatures serving_default, uint8, encoded) and
TFLite models (--tflite=fp32,fp16,int8) checked for parity against the SavedModel.
"""
import pathlib

from itgc_tf.cli.app import run_app
from itgc_tf.data import build_dataset
from itgc_tf.export import export_saved_model, export_tflite
from itgc_tf.export.config import ExportConfig
from itgc_tf.training.builders import load_generator


def export(config):
    """Export per an `ExportConfig`; returns {name: path}."""
    data, options = config.data, config.export
    source = pathlib.Path(options.generator)
    generator = load_generator(source, "generator")
    out = pathlib.Path(options.export_dir or (source if source.is_dir() else source.parent) /
                       "export")
    paths = {"saved_model": export_saved_model(generator, out / "saved_model",
                                               input_nc=data.input_nc, output_nc=data.output_nc,
                                               overwrite=options.overwrite)}
    if options.tflite:
        images = next(iter(build_dataset(data, "train", training=False).unbatch()
                           .batch(options.num_calibration)))["A"].numpy()
        for quantization in options.tflite:
            result = export_tflite(paths["saved_model"], out / f"model_{quantization}.tflite",
                                   input_size=(data.crop_size, data.crop_size),
                                   quantization=quantization, representative_images=images,
                                   parity_images=images, min_parity_psnr=options.min_parity_psnr,
                                   overwrite=options.overwrite)
            paths[f"tflite_{quantization}"] = result.path
            print(f"TFLite {quantization}: {result.path} ({result.size_bytes} bytes, parity "
                  f"{result.parity_psnr:.1f} dB)")
    return paths


def main(config):
    for name, path in export(config).items():
        print(f"{name}: {path}")


def run():
    run_app(ExportConfig, main, required=("generator", "dataset"))


if __name__ == "__main__":
    run()
