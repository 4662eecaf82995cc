"""TFLite export of a SavedModel generator (fp32, fp16 or int8) with a parity check.

The converted graph is the SavedModel's `tflite` signature (instance norms in the form
TFLite runs in XNNPACK; `itgc_tf.export.saved_model`), or `serving_default` in exports
that predate it; parity is checked against `serving_default`, what TF Serving serves.

The TFLite model has a fixed input [1, H, W, C] (H, W from `input_size`) and
float32 input and output in [-1, 1] for every quantisation; int8 is full-integer
post-training quantisation (all weights and activations int8, with quantise /
dequantise ops at the float I/O), calibrated on representative training images.
"""
import dataclasses
import os

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
from itgc_tf.eval.image_metrics import psnr
from itgc_tf.export.config import QUANTIZATIONS
from itgc_tf.export.saved_model import TFLITE_SIGNATURE

# Default minimum parity PSNR (dB, TFLite vs SavedModel outputs) per quantisation.
DEFAULT_MIN_PARITY_PSNR = {"fp32": 60.0, "fp16": 40.0, "int8": 20.0}


# An int8 activation whose calibrated range (255 * scale) is below this was (almost)
# zero on every calibration image.
DEGENERATE_INT8_RANGE = 1e-5


class ParityError(ValueError):
    """TFLite outputs differ from the SavedModel's by more than the threshold allows."""


class QuantizationError(ValueError):
    """The converted TFLite model cannot be prepared for inference (e.g. an int8
    activation with a degenerate calibrated range)."""


@dataclasses.dataclass(frozen=True)
class TFLiteExport:
    """Result of `export_tflite`.

    Attributes:
      path: absolute path of the .tflite file.
      size_bytes: its size.
      quantization: "fp32", "fp16" or "int8".
      input_shape: the fixed input shape (1, H, W, C).
      parity_psnr: mean per-image PSNR (dB) of TFLite vs SavedModel outputs on the
        parity (held-out) images.
      parity_psnr_min: the worst parity image's PSNR (what the threshold is checked on).
      calibration_psnr: int8: the same mean on the calibration images (in-sample, for
        comparison with the held-out figure); None for fp32/fp16.
    """
    path: str
    size_bytes: int
    quantization: str
    input_shape: tuple
    parity_psnr: float
    parity_psnr_min: float
    calibration_psnr: float | None = None


def _check_images(images, name, input_size, channels):
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or images.shape[1:] != (*input_size, channels) or images.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty float32 array [N, {input_size[0]}, {input_size[1]}, "
                         f"{channels}] in [-1, 1] (input_size and the model's channels); got shape "
                         f"{images.shape}. Crop or resize them to input_size.")
    return images


def _conversion_source(saved_model, saved_model_dir):
    """A runner of the signature to convert: `TFLITE_SIGNATURE`, else serving_default."""
    if TFLITE_SIGNATURE not in saved_model.loaded.signatures:
        return saved_model
    return SavedModelRunner(saved_model_dir, TFLITE_SIGNATURE, loaded=saved_model.loaded)


def _convert(saved_model, input_shape, quantization, representative_images):
    @tf.function(input_signature=[tf.TensorSpec(input_shape, tf.float32, name="images")])
    def fixed_size(images):
        return {"outputs": saved_model.call_tf(images)}

    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [fixed_size.get_concrete_function()], saved_model.loaded)
    if quantization == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quantization == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.representative_dataset = lambda: ([image[np.newaxis]] for image in representative_images)
    return converter.convert()


def degenerate_int8_tensors(flatbuffer):
    """Names of the per-tensor int8 activations of a TFLite model whose calibrated range
    (255 * scale) is below `DEGENERATE_INT8_RANGE`: layers that were (almost) zero on
    every calibration image. Read without TFLite's default delegates."""
    interpreter = Interpreter(
        model_content=flatbuffer,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    return [t["name"] for t in interpreter.get_tensor_details()
            if t["dtype"] == np.int8 and len(t["quantization_parameters"]["scales"]) == 1
            and 255 * t["quantization_parameters"]["scales"][0] < DEGENERATE_INT8_RANGE]


def _runner(flatbuffer, quantization, tflite_path):
    """A `TFLiteRunner` of the converted model, or a `QuantizationError` saying why
    TFLite cannot prepare it."""
    try:
        return TFLiteRunner(flatbuffer)
    except RuntimeError as error:
        dead = degenerate_int8_tensors(flatbuffer) if quantization == "int8" else []
        cause = (f" These int8 activations were (almost) zero on every calibration image, so "
                 f"their quantisation range is degenerate: {', '.join(dead)}." if dead else "")
        raise QuantizationError(
            f"TFLite cannot prepare the {quantization} model for {tflite_path} ({error}).{cause} "
            f"{tflite_path} was not written. Fix: calibrate with representative images on which "
            "these layers are active (more, and more varied, training images), train the "
            "network longer (an untrained network has dead layers), or export fp16/fp32."
        ) from error


def export_tflite(saved_model_dir, tflite_path, *, input_size, parity_images, quantization="fp32",
                  representative_images=None, min_parity_psnr=None, overwrite=False, loaded=None):
    """Convert the `serving_default` signature of a SavedModel (from
    `export_saved_model`) to TFLite and check its parity.

    Args:
      saved_model_dir: the SavedModel directory.
      tflite_path: the .tflite file to write (must not exist unless `overwrite`).
      input_size: (H, W) of the fixed TFLite input.
      parity_images: held-out inputs [N, H, W, C] in [-1, 1] on which TFLite and
        SavedModel outputs are compared (not the calibration images: in-sample parity
        flatters int8).
      quantization: "fp32", "fp16" (fp16 weights) or "int8" (full integer).
      representative_images: int8 only: calibration inputs [M, H, W, C] in
        [-1, 1] from the training data (a few hundred is plenty).
      min_parity_psnr: refuse when any parity image's PSNR (dB) is below this;
        None: DEFAULT_MIN_PARITY_PSNR[quantization].
      overwrite: replace an existing `tflite_path`.
      loaded: the SavedModel already loaded from `saved_model_dir` (a `SavedModelRunner`'s
        ``loaded``), else it is loaded here. Several conversions of one SavedModel
        share it: each load restores every signature (seconds), and the signature the
        parity check calls stays compiled from one conversion to the next.

    Returns:
      A `TFLiteExport`.

    Raises:
      ParityError: parity below `min_parity_psnr`; nothing is written.
      QuantizationError: TFLite cannot prepare the converted model (int8: names the
        activations that were zero on every calibration image); nothing is written.
      ValueError: bad quantization, sizes or images.
      FileExistsError: `tflite_path` exists and `overwrite` is False.
    """
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"quantization must be one of {QUANTIZATIONS}; got {quantization!r}.")
    if len(input_size) != 2 or min(input_size) < 1:
        raise ValueError(f"input_size must be (H, W) with positive sizes; got {input_size!r}.")
    input_size = tuple(int(s) for s in input_size)
    if min_parity_psnr is None:
        min_parity_psnr = DEFAULT_MIN_PARITY_PSNR[quantization]
    with atomic_output(tflite_path, overwrite=overwrite) as tmp:
        saved_model = SavedModelRunner(saved_model_dir, loaded=loaded)
        channels = saved_model.input_spec.shape[-1]
        parity_images = _check_images(parity_images, "parity_images", input_size, channels)
        if quantization == "int8":
            if representative_images is None:
                raise ValueError("int8 quantisation needs representative_images (training inputs "
                                 "[M, H, W, C] in [-1, 1]) to calibrate activation ranges.")
            representative_images = _check_images(representative_images, "representative_images",
                                                  input_size, channels)
        flatbuffer = _convert(_conversion_source(saved_model, saved_model_dir),
                              (1, *input_size, channels), quantization, representative_images)
        lite = _runner(flatbuffer, quantization, tflite_path)
        per_image = psnr(lite(parity_images), saved_model(parity_images)).numpy().astype(np.float64)
        if per_image.min() < min_parity_psnr:
            raise ParityError(
                f"TFLite {quantization} parity is {per_image.min():.1f} dB PSNR (worst of "
                f"{len(per_image)} images; mean {per_image.mean():.1f} dB) against the SavedModel, below "
                f"min_parity_psnr={min_parity_psnr:g} dB; {tflite_path} was not written. Use a less "
                "aggressive quantization (fp16/fp32), more representative_images from the training "
                "data, or lower --min_parity_psnr if the loss is acceptable.")
        calibration_psnr = None
        if quantization == "int8":
            calibration_psnr = float(np.mean(psnr(lite(representative_images),
                                                  saved_model(representative_images))))
        with open(tmp, "wb") as f:
            f.write(flatbuffer)
    return TFLiteExport(path=os.path.abspath(tflite_path),
                        size_bytes=len(flatbuffer), quantization=quantization,
                        input_shape=lite.input_shape, parity_psnr=float(per_image.mean()),
                        parity_psnr_min=float(per_image.min()), calibration_psnr=calibration_psnr)
