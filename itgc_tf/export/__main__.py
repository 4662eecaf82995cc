"""Export a trained generator: ``python -m itgc_tf.export --generator=DIR_OR_FILE ...``.

Writes a SavedModel for TF Serving (signatures serving_default, uint8, encoded) and
TFLite models (--tflite=fp32,fp16,int8) checked for parity against the SavedModel,
all or nothing: a failure leaves the export folder as it was.
"""
import pathlib

from absl import flags

from itgc_tf.cli import runner
from itgc_tf.cli.tasks import load_generator
from itgc_tf.data import build_dataset
from itgc_tf.data import flags as data_flags
from itgc_tf.export import export_generator

FLAGS = flags.FLAGS


def define_flags():
    data_flags.define_flags()
    flags.DEFINE_string("generator", None, "MODEL_DIR of a training run (its generator.keras) "
                        "or a .keras generator file.")
    flags.DEFINE_string("export_dir", None, "Output folder; default GENERATOR_DIR/export.")
    flags.DEFINE_list("tflite", ["fp32"], "TFLite variants to write: any of fp32, fp16, int8 "
                      "(empty: none). int8 calibrates on --num_calibration training images.")
    flags.DEFINE_integer("num_calibration", 32, "Representative images for int8 calibration "
                         "and parity checks.")
    flags.DEFINE_float("min_parity_psnr", None, "Refuse a TFLite model whose PSNR against the "
                       "SavedModel falls below this (dB); default per variant (fp32 60, fp16 40, "
                       "int8 20).")
    flags.DEFINE_boolean("overwrite", False, "Replace existing exports.")
    flags.register_validator("tflite", lambda v: set(v) <= {"fp32", "fp16", "int8"},
                             "--tflite takes a comma-separated subset of fp32,fp16,int8.")


def export(argv=()):
    """Export per the parsed flags, all or nothing; returns {name: path}.

    Every input (the generator, the calibration/parity images, existing
    targets) is checked before anything is written (`export_generator`)."""
    del argv
    source = pathlib.Path(FLAGS.generator)
    generator = load_generator(source, "generator")
    out = pathlib.Path(FLAGS.export_dir or (source if source.is_dir() else source.parent) /
                       "export")
    images, input_size = None, None
    if FLAGS.tflite:
        config = data_flags.config_from_flags()
        input_size = (config.crop_size, config.crop_size)
        images = next(iter(build_dataset(config, "train", training=False).unbatch()
                           .batch(FLAGS.num_calibration)))["A"].numpy()
    paths, results = export_generator(generator, out, input_nc=FLAGS.input_nc,
                                      output_nc=FLAGS.output_nc, tflite=FLAGS.tflite,
                                      images=images, input_size=input_size,
                                      min_parity_psnr=FLAGS.min_parity_psnr,
                                      overwrite=FLAGS.overwrite)
    for quantization, result in results.items():
        print(f"TFLite {quantization}: {result.path} ({result.size_bytes} bytes, parity "
              f"{result.parity_psnr:.1f} dB)")
    return paths


def main(argv):
    for name, path in export(argv).items():
        print(f"{name}: {path}")


def run():
    runner.run_app(define_flags, main, required=("generator",))


if __name__ == "__main__":
    run()
