"""A generator's whole export is all or nothing (itgc_tf.export.bundle): inputs
are checked before anything is written, a failed build leaves the export folder
as it was, and the finished export holds every requested file."""
import os

import keras
import numpy as np
import pytest

from export_helpers import smooth_images, tiny_generator
from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
from itgc_tf.export import ParityError, export_generator


@pytest.fixture(scope="module")
def generator():
    keras.utils.set_random_seed(0)
    return tiny_generator(ngf=4)


def _listing(root):
    """Every path under ``root`` (relative) with the bytes of the files."""
    found = {}
    for folder, _, names in os.walk(root):
        found[os.path.relpath(folder, root)] = None
        for name in names:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = open(path, "rb").read()
    return found


def test_int8_without_calibration_images_writes_nothing(generator, tmp_path):
    with pytest.raises(ValueError, match="needs images to check parity and calibrate int8.*"
                                         "nothing was written.*Fix:"):
        export_generator(generator, tmp_path / "export", input_nc=3, output_nc=3, tflite=["int8"])
    with pytest.raises(ValueError, match=r"needs images \[N, 16, 16, 3\].*got shape \(2, 8, 8, 3\)"):
        export_generator(generator, tmp_path / "export", input_nc=3, output_nc=3, tflite=["fp32"],
                         images=smooth_images(2, 8), input_size=(16, 16))
    with pytest.raises(ValueError, match="Unknown TFLite variant"):
        export_generator(generator, tmp_path / "export", input_nc=3, output_nc=3, tflite=["int4"])
    assert os.listdir(tmp_path) == []


def test_a_failed_parity_check_leaves_the_export_folder_as_it_was(generator, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    before = _listing(tmp_path)
    with pytest.raises(ParityError):
        export_generator(generator, out, input_nc=3, output_nc=3, tflite=["fp32", "int8"],
                         images=smooth_images(4, 16), input_size=(16, 16), min_parity_psnr=1e9)
    assert _listing(tmp_path) == before  # no SavedModel, no staging folder left


def test_the_whole_export_appears_together_and_replaces_only_with_overwrite(generator, tmp_path):
    out = tmp_path / "export"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    images = smooth_images(4, 16)
    paths, results = export_generator(generator, out, input_nc=3, output_nc=3, tflite=["fp32"],
                                      images=images, input_size=(16, 16))
    assert sorted(os.listdir(tmp_path)) == ["export"]  # the staging folder is gone
    assert sorted(os.listdir(out)) == ["model_fp32.tflite", "notes.txt", "saved_model"]
    assert paths == {"saved_model": str(out / "saved_model"),
                     "tflite_fp32": str(out / "model_fp32.tflite")}
    assert results["fp32"].path == paths["tflite_fp32"] and results["fp32"].parity_psnr > 60
    expected = generator(images, training=False).numpy()
    np.testing.assert_allclose(SavedModelRunner(paths["saved_model"])(images), expected, atol=1e-5)
    np.testing.assert_allclose(TFLiteRunner(paths["tflite_fp32"])(images), expected, atol=1e-4)

    before = _listing(tmp_path)
    with pytest.raises(FileExistsError, match="saved_model.*model_fp32.tflite.*nothing was "
                                              "written.*--overwrite"):
        export_generator(generator, out, input_nc=3, output_nc=3, tflite=["fp32"], images=images,
                         input_size=(16, 16))
    assert _listing(tmp_path) == before
    export_generator(generator, out, input_nc=3, output_nc=3, images=images, overwrite=True)
    assert sorted(os.listdir(out)) == ["model_fp32.tflite", "notes.txt", "saved_model"]
    assert sorted(os.listdir(tmp_path)) == ["export"]
