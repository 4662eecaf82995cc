"""Export a trained generator: ``python -m itgc_tf.export --generator=DIR_OR_FILE ...``.

Writes version VERSION of model MODEL_NAME in TensorFlow Serving's layout,
EXPORT_DIR/MODEL_NAME/VERSION/: the SavedModel (signatures serving_default, uint8,
encoded, tflite, any input size; for label-map data, i.e. a GauGAN, serving_default on
semantic maps, labels and tflite) and TFLite models (--tflite=fp32,fp16,int8; int8 calibrated on
training images) checked for parity against the SavedModel on held-out images, all or
nothing: a failure leaves nothing behind.
"""
import pathlib

from itgc_tf.cli.app import run_app
from itgc_tf.export.config import ExportConfig
# The library (TensorFlow) is imported when the command runs: --help answers without it.

COMMON_FLAGS = ("generator", "dataset", "export_dir", "model_name", "version", "tflite",
                "num_calibration", "num_heldout", "heldout_split", "crop_size")


def generator_role(source):
    """"student" or "teacher" for a generator of an itgc-distill / itgc-train-teacher run
    folder (told apart by the --teacher flag only itgc-distill records in flags.cfg),
    else "generator"."""
    source = pathlib.Path(source)
    flags = (source if source.is_dir() else source.parent) / "flags.cfg"
    if not flags.is_file():
        return "generator"
    lines = flags.read_text().splitlines()
    return "student" if any(line.startswith("--teacher=") for line in lines) else "teacher"


def export(config):
    """Export per an `ExportConfig`, all or nothing; returns the `ServingExport`.

    Every input (the generator, the calibration and parity images, the version) is
    checked before anything is written (`export_generator`)."""
    from itgc_tf.data import dataset_info, first_images
    from itgc_tf.export import export_generator
    from itgc_tf.training.builders import load_generator, model_input_nc

    data, options = config.data, config.export
    source = pathlib.Path(options.generator)
    info = dataset_info(data)
    generator = load_generator(source, "generator", data, info)
    label_maps = data if info.layout == "labels" else None  # a GauGAN: semantic-map input
    out = options.export_dir or (source if source.is_dir() else source.parent) / "export"
    images = {}
    if options.tflite:
        images["parity_images"] = first_images(data, options.heldout_split, options.num_heldout)
    if "int8" in options.tflite:
        images["calibration_images"] = first_images(data, "train", options.num_calibration)
    return export_generator(generator, out, model_name=options.model_name or
                            generator_role(source), version=options.version,
                            input_nc=model_input_nc(data, info), output_nc=data.output_nc,
                            tflite=options.tflite, input_size=(data.crop_size, data.crop_size),
                            min_parity_psnr=options.min_parity_psnr, label_maps=label_maps,
                            **images)


def main(config):
    result = export(config)
    print(f"SavedModel: {result.saved_model}\n  serve it with: tensorflow_model_server "
          f"--model_name={pathlib.Path(result.model_base_path).name} "
          f"--model_base_path={result.model_base_path} --rest_api_port=8501")
    for quantization, lite in result.tflite.items():
        calibration = ("" if lite.calibration_psnr is None else
                       f", {lite.calibration_psnr:.1f} dB on the calibration images")
        print(f"TFLite {quantization}: {lite.path} ({lite.size_bytes} bytes, parity "
              f"{lite.parity_psnr:.1f} dB on held-out images{calibration})")


def run():
    run_app(ExportConfig, main, required=("generator", "dataset"), common=COMMON_FLAGS)


if __name__ == "__main__":
    run()
