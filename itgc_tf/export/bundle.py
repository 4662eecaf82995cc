"""A generator's whole export in TensorFlow Serving's layout, all or nothing:

    <export_dir>/<model_name>/<version>/   saved_model.pb, variables/, fingerprint.pb
                                           (the SavedModel TF Serving loads),
                                           model_<q>.tflite (each TFLite variant),
                                           export.json (parity figures)

``<export_dir>/<model_name>`` is TF Serving's ``--model_base_path``; ``<version>`` is a
positive integer, by default the next free one, and an existing version is never
replaced. The version folder is built in a staging folder beside it (a name TF Serving
ignores) and renamed into place once the SavedModel and every TFLite variant are
written and parity-checked, so a server watching the folder never sees half a version.
A staging folder names its process (PID, start time, host); the next export on that host
removes those whose process was killed (`remove_stale_staging`).
"""
import dataclasses
import json
import logging
import os
import re
import shutil
import socket
import tempfile

import numpy as np
import tensorflow as tf

from itgc_tf.artifacts.processes import alive, this_process
from itgc_tf.export.config import check_version
from itgc_tf.export.padding import size_rule
from itgc_tf.export.saved_model import export_saved_model
from itgc_tf.export.tflite import QUANTIZATIONS, export_tflite

_MODEL_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


def tflite_name(quantization):
    """File name of a TFLite variant inside the version folder."""
    return f"model_{quantization}.tflite"


@dataclasses.dataclass(frozen=True)
class ServingExport:
    """Result of `export_generator`.

    Attributes:
      model_base_path: absolute ``<export_dir>/<model_name>`` (TF Serving's
        ``--model_base_path``).
      version: the version written.
      saved_model: absolute version folder (the SavedModel).
      tflite: {quantization: `TFLiteExport`} with paths inside the version folder.
    """
    model_base_path: str
    version: int
    saved_model: str
    tflite: dict


def versions(model_base_path):
    """The integer versions under ``model_base_path`` (folders named by an integer)."""
    if not os.path.isdir(model_base_path):
        return []
    return sorted(int(name) for name in os.listdir(model_base_path)
                  if name.isdigit() and os.path.isdir(os.path.join(model_base_path, name)))


def next_version(model_base_path):
    """1 + the highest version under ``model_base_path``; 1 when there is none."""
    return max(versions(model_base_path), default=0) + 1


def version_dir(export_dir, model_name, version=None):
    """(model_base_path, version, absolute version folder) of an export that does not
    exist yet; ``version`` None: `next_version`.

    Raises:
      ValueError: a model name TF Serving cannot use as a folder, or a version < 1.
      FileExistsError: the version exists (it is never replaced).
    """
    if not _MODEL_NAME.fullmatch(model_name or ""):
        raise ValueError(f"Model name {model_name!r} is not a plain folder name. Fix: pass "
                         "--model_name with letters, digits, '_', '-', '.' (e.g. student).")
    base = os.path.join(os.path.abspath(export_dir), model_name)
    check_version(version)
    if version is None:
        version = next_version(base)
    target = os.path.join(base, str(version))
    if os.path.lexists(target):
        raise FileExistsError(
            f"Version {version} of {model_name} already exists at {target}; nothing was "
            f"written (a served version is never replaced). Fix: leave out --version to write "
            f"the next free one ({next_version(base)}), pass another --version, or delete "
            f"{target} first.")
    return base, version, target


_IMAGES_ROLE = {"parity_images": "held-out images to check parity",
                "calibration_images": "training images to calibrate int8"}


def _needed_images(tflite):
    """Which of parity_images, calibration_images the TFLite variants ``tflite`` use."""
    return (["parity_images"] if tflite else []) + (["calibration_images"]
                                                    if "int8" in tflite else [])


def _check_inputs(tflite, images, input_size, input_nc):
    """Raises before anything is written: unknown variants, missing or misshapen images."""
    unknown = sorted(set(tflite) - set(QUANTIZATIONS))
    if unknown:
        raise ValueError(f"Unknown TFLite variant(s) {unknown}. Fix: use any of "
                         f"{', '.join(QUANTIZATIONS)} (--tflite=fp32,int8).")
    for name in _needed_images(tflite):
        if images[name] is None:
            raise ValueError(f"TFLite export ({', '.join(tflite)}) needs {name} "
                             f"({_IMAGES_ROLE[name]}), and none were given; nothing was "
                             "written. Fix: pass --dataset (training images calibrate, "
                             "held-out ones check parity), or export without TFLite (--tflite=).")
        shape = np.shape(images[name])
        if input_size is None or len(shape) != 4 or shape[0] == 0 or \
                tuple(shape[1:]) != (*input_size, input_nc):
            raise ValueError(f"TFLite export needs {name} [N, {input_size and input_size[0]}, "
                             f"{input_size and input_size[1]}, {input_nc}] (input_size and "
                             f"input_nc); got shape {shape}; nothing was written. Fix: crop the "
                             "images to input_size (--crop_size) or pass the matching --input_nc.")


def _report(model_name, version, generator, tflite_results, images):
    """export.json: the size rule of the signatures' padding and each TFLite variant's
    parity (dB PSNR against the SavedModel) on held-out and (int8) calibration images."""
    multiple, minimum = size_rule(generator)
    return {"model_name": model_name, "version": version,
            "size_rule": {"multiple": multiple, "minimum": minimum},
            **{f"num_{name}": len(images[name]) if name in _needed_images(tflite_results) else 0
               for name in images},
            "tflite": {q: {"file": os.path.basename(r.path), "size_bytes": r.size_bytes,
                           "input_shape": list(r.input_shape),
                           "parity_psnr_db_heldout": r.parity_psnr,
                           "parity_psnr_db_heldout_min": r.parity_psnr_min,
                           "parity_psnr_db_calibration": r.calibration_psnr}
                       for q, r in tflite_results.items()}}


_STAGING = re.compile(r"^\.\d+\.tmp-(?:(?P<pid>\d+)\.(?P<start>\d+|x)@(?P<host>.+)-)?[a-z0-9_]+$")


def remove_stale_staging(base):
    """Removes the staging folders under a served model's folder ``base`` that exports
    killed on this host left behind (their process no longer runs), with a warning each;
    warns of those whose process cannot be checked (another host, or named before
    staging folders named their process). Returns the removed paths."""
    here, removed = socket.gethostname(), []
    for name in sorted(os.listdir(base)):
        match = _STAGING.match(name)
        if not match or not os.path.isdir(path := os.path.join(base, name)):
            continue
        if match["pid"] and match["host"] == here:
            start = None if match["start"] == "x" else int(match["start"])
            if not alive(int(match["pid"]), start):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
                logging.warning("Removed %s: the staging folder of an export that was killed "
                                "(it never became a version).", path)
            continue
        logging.warning("%s is the staging folder of an export that may still run (%s): remove "
                        "it once no export to this model runs (it never became a version).", path,
                        f"on host {match['host']}" if match["pid"] else "an older export")
    return removed


def export_generator(generator, export_dir, *, model_name, version=None, input_nc, output_nc,
                     tflite=(), calibration_images=None, parity_images=None, input_size=None,
                     min_parity_psnr=None, label_maps=None):
    """Exports ``generator`` as version ``version`` of ``model_name`` under ``export_dir``
    (layout in the module docstring), all or nothing.

    Every input is checked first (nothing is written when one is wrong); the version
    folder is then built in a staging folder and renamed into place at the end.

    Args:
      generator: Keras model, float32 [N, H, W, input_nc] → [N, H, W, output_nc], in [-1, 1].
      export_dir: the folder of all served models (created if needed).
      model_name: the served model's name (its folder).
      version: positive integer; None: the next free one. An existing one refuses.
      input_nc, output_nc: the generator's channel counts.
      label_maps: None, or the `DataConfig` of the label-map data a semantic-map
        generator (GauGAN) was trained on (`export_saved_model`).
      tflite: quantizations to write, any of "fp32", "fp16", "int8".
      calibration_images: float32 [M, H, W, input_nc] in [-1, 1] (semantic maps: in
        {0, 1}), training images that
        calibrate int8 (required when "int8" in ``tflite``).
      parity_images: float32 [N, H, W, input_nc] in [-1, 1], held-out images on which
        every TFLite variant's parity is checked (required when ``tflite``).
      input_size: (H, W), the fixed TFLite input size (that of the images).
      min_parity_psnr: see `export_tflite` (checked on ``parity_images``).

    Returns:
      A `ServingExport`.

    Raises:
      ValueError, FileExistsError: a bad input or an existing version (before anything
        is written).
      ParityError, ...: a failed build; nothing is left behind.
    """
    tflite = list(tflite)
    images = {"calibration_images": calibration_images, "parity_images": parity_images}
    _check_inputs(tflite, images, input_size, input_nc)
    base, version, target = version_dir(export_dir, model_name, version)
    os.makedirs(base, exist_ok=True)
    remove_stale_staging(base)
    host, pid, start = this_process()
    # Not an integer, so never served; it names its process for `remove_stale_staging`.
    staging = tempfile.mkdtemp(dir=base, prefix=f".{version}.tmp-{pid}.{start or 'x'}@{host}-")
    try:
        saved_model = os.path.join(staging, "saved_model")
        export_saved_model(generator, saved_model, input_nc=input_nc, output_nc=output_nc,
                           label_maps=label_maps)
        loaded = tf.saved_model.load(saved_model) if tflite else None  # one load for all
        results = {q: export_tflite(saved_model, os.path.join(saved_model, tflite_name(q)),
                                    input_size=input_size, quantization=q,
                                    representative_images=calibration_images,
                                    parity_images=parity_images, min_parity_psnr=min_parity_psnr,
                                    loaded=loaded)
                   for q in tflite}
        results = {q: dataclasses.replace(r, path=os.path.join(target, tflite_name(q)))
                   for q, r in results.items()}
        with open(os.path.join(saved_model, "export.json"), "w") as f:
            json.dump(_report(model_name, version, generator, results, images), f, indent=2)
        os.rename(saved_model, target)  # one rename: the version appears whole
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ServingExport(model_base_path=base, version=version, saved_model=target,
                         tflite=results)
