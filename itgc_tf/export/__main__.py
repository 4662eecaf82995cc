"""Export a trained generator: ``python -m itgc_tf.export --generator=DIR_OR_FILE ...``.

Writes a SavedModel for TF Serving (signatures serving_default, uint8, encoded; for
label-map data, i.e. a GauGAN, serving_default on semantic maps and labels) and TFLite
models (--tflite=fp32,fp16,int8) checked for parity against the SavedModel,
all or nothing: a failure leaves the export folder as it was.
"""
import pathlib

from itgc_tf.cli.app import run_app
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.export import export_generator
from itgc_tf.export.config import ExportConfig
from itgc_tf.training.builders import load_generator, model_input_nc


def export(config):
    """Export per an `ExportConfig`, all or nothing; returns {name: path}.

    Every input (the generator, the calibration/parity images, existing
    targets) is checked before anything is written (`export_generator`)."""
    data, options = config.data, config.export
    source = pathlib.Path(options.generator)
    info = dataset_info(data)
    generator = load_generator(source, "generator", data, info)
    label_maps = data if info.layout == "labels" else None  # a GauGAN: semantic-map input
    out = pathlib.Path(options.export_dir or (source if source.is_dir() else source.parent) /
                       "export")
    images, input_size = None, None
    if options.tflite:
        input_size = (data.crop_size, data.crop_size)
        images = next(iter(build_dataset(data, "train", training=False).unbatch()
                           .batch(options.num_calibration)))["A"].numpy()
    paths, results = export_generator(generator, out, input_nc=model_input_nc(data, info),
                                      output_nc=data.output_nc, tflite=options.tflite,
                                      images=images, input_size=input_size,
                                      min_parity_psnr=options.min_parity_psnr,
                                      label_maps=label_maps, overwrite=options.overwrite)
    for quantization, result in results.items():
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
