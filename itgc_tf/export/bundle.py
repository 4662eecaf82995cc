"""A generator's whole export, all or nothing: the SavedModel and every TFLite
variant are checked, built and parity-tested in a staging folder, then moved
into the export folder together; any failure leaves the export folder as it was.
"""
import dataclasses
import os
import shutil
import tempfile

import numpy as np

from itgc_tf.export.saved_model import export_saved_model
from itgc_tf.export.tflite import QUANTIZATIONS, export_tflite

SAVED_MODEL = "saved_model"


def tflite_name(quantization):
    """File name of a TFLite variant inside the export folder."""
    return f"model_{quantization}.tflite"


def _check_inputs(export_dir, tflite, images, input_size, input_nc, overwrite):
    """Raises before anything is written: unknown variants, missing or misshapen
    images, existing targets without ``overwrite``."""
    unknown = sorted(set(tflite) - set(QUANTIZATIONS))
    if unknown:
        raise ValueError(f"Unknown TFLite variant(s) {unknown}. Fix: use any of "
                         f"{', '.join(QUANTIZATIONS)} (--tflite=fp32,int8).")
    if tflite:
        if images is None:
            raise ValueError(f"TFLite export ({', '.join(tflite)}) needs images to check parity"
                             f"{' and calibrate int8' if 'int8' in tflite else ''}, and none were "
                             "given; nothing was written. Fix: pass --dataset (training images "
                             "are used), or export without TFLite (--tflite=).")
        shape = np.shape(images)
        if input_size is None or len(shape) != 4 or shape[0] == 0 or \
                tuple(shape[1:]) != (*input_size, input_nc):
            raise ValueError(f"TFLite export needs images [N, {input_size and input_size[0]}, "
                             f"{input_size and input_size[1]}, {input_nc}] (input_size and "
                             f"input_nc); got shape {shape}; nothing was written. Fix: crop the "
                             "images to input_size (--crop_size) or pass the matching --input_nc.")
    targets = [os.path.join(export_dir, name)
               for name in (SAVED_MODEL, *(tflite_name(q) for q in tflite))]
    existing = [path for path in targets if os.path.lexists(path)]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} already exist(s); nothing was written. Fix: "
                              "pass --overwrite to replace them, or choose another --export_dir.")


def export_generator(generator, export_dir, *, input_nc, output_nc, tflite=(), images=None,
                     input_size=None, min_parity_psnr=None, label_maps=None, overwrite=False):
    """Exports ``generator`` to ``export_dir``: ``saved_model/`` and one
    ``model_<q>.tflite`` per quantization in ``tflite``, all or nothing.

    Every input is checked first (nothing is written when one is wrong); the
    SavedModel and the TFLite models are then built and parity-checked in a
    staging folder beside ``export_dir`` and moved into it at the end. Files of
    ``export_dir`` that are not targets are left alone.

    Args:
      generator: Keras model, float32 [N, H, W, input_nc] → [N, H, W, output_nc], in [-1, 1].
      export_dir: the export folder (created if needed).
      input_nc, output_nc: the generator's channel counts.
      label_maps: None, or the `DataConfig` of the label-map data a semantic-map
        generator (GauGAN) was trained on (`export_saved_model`).
      tflite: quantizations to write, any of "fp32", "fp16", "int8".
      images: float32 [N, H, W, input_nc] in [-1, 1] (semantic maps: in {0, 1}): parity inputs of every
        TFLite variant and int8 calibration data; required when ``tflite``.
      input_size: (H, W), the fixed TFLite input size (that of ``images``).
      min_parity_psnr: see `export_tflite`.
      overwrite: replace existing targets; otherwise any existing one refuses.

    Returns:
      (paths, results): {"saved_model" | "tflite_<q>": absolute path} and
      {q: `TFLiteExport`}.

    Raises:
      ValueError, FileExistsError: a bad input (before anything is written).
      ParityError, ...: a failed build; ``export_dir`` is left as it was.
    """
    tflite = list(tflite)
    export_dir = os.path.abspath(export_dir)
    _check_inputs(export_dir, tflite, images, input_size, input_nc, overwrite)
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(export_dir)}.tmp-")
    try:
        export_saved_model(generator, os.path.join(staging, SAVED_MODEL), input_nc=input_nc,
                           output_nc=output_nc, label_maps=label_maps)
        results = {q: export_tflite(os.path.join(staging, SAVED_MODEL),
                                    os.path.join(staging, tflite_name(q)), input_size=input_size,
                                    quantization=q, representative_images=images,
                                    parity_images=images, min_parity_psnr=min_parity_psnr)
                   for q in tflite}
        names = {"saved_model": SAVED_MODEL, **{f"tflite_{q}": tflite_name(q) for q in tflite}}
        os.makedirs(export_dir, exist_ok=True)
        old = os.path.join(staging, ".replaced")
        os.mkdir(old)
        for name in names.values():  # renames only: nothing can fail half-way but the OS
            target = os.path.join(export_dir, name)
            if os.path.lexists(target):
                os.replace(target, os.path.join(old, name))
            os.replace(os.path.join(staging, name), target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    paths = {key: os.path.join(export_dir, name) for key, name in names.items()}
    results = {q: dataclasses.replace(result, path=paths[f"tflite_{q}"])
               for q, result in results.items()}
    return paths, results
