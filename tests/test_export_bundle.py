"""A generator's whole export in TF Serving's layout, all or nothing
(itgc_tf.export.bundle): EXPORT_DIR/MODEL_NAME/VERSION holds the SavedModel and the
TFLite models; versions count up and an existing one is refused; inputs are checked
before anything is written and a failed build leaves nothing behind."""
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from export_helpers import smooth_images, tiny_generator
from itgc_tf.artifacts.runners import SavedModelRunner, TFLiteRunner
from itgc_tf.export import ParityError, export_generator, next_version


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


def test_next_version_follows_the_highest_integer_folder(tmp_path):
    assert next_version(tmp_path / "absent") == 1
    for name in ("1", "7", "3"):
        (tmp_path / name).mkdir()
    (tmp_path / "12.txt").write_text("not a version")
    (tmp_path / ".8.tmp-x").mkdir()  # a staging folder is not a version
    (tmp_path / "9").write_text("a file is not a version")
    assert next_version(tmp_path) == 8


def test_int8_without_calibration_images_writes_nothing(generator, tmp_path):
    images = smooth_images(2, 16)
    with pytest.raises(ValueError, match="needs calibration_images \\(training images to "
                                         "calibrate int8\\).*nothing was written.*Fix:"):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3,
                         tflite=["int8"], parity_images=images, input_size=(16, 16))
    with pytest.raises(ValueError, match="needs parity_images \\(held-out"):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3,
                         tflite=["fp32"], input_size=(16, 16))
    with pytest.raises(ValueError, match=r"needs parity_images \[N, 16, 16, 3\].*got shape "
                                         r"\(2, 8, 8, 3\)"):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3,
                         tflite=["fp32"], parity_images=smooth_images(2, 8), input_size=(16, 16))
    with pytest.raises(ValueError, match="Unknown TFLite variant"):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3,
                         tflite=["int4"])
    with pytest.raises(ValueError, match="not a plain folder name.*Fix: pass --model_name"):
        export_generator(generator, tmp_path, model_name="../up", input_nc=3, output_nc=3)
    with pytest.raises(ValueError, match="--version must be a positive integer"):
        export_generator(generator, tmp_path, model_name="student", version=0, input_nc=3,
                         output_nc=3)
    assert os.listdir(tmp_path) == []


def test_a_failed_parity_check_leaves_nothing_behind(generator, tmp_path):
    (tmp_path / "student" / "1").mkdir(parents=True)
    before = _listing(tmp_path)
    with pytest.raises(ParityError):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3,
                         tflite=["fp32", "int8"], calibration_images=smooth_images(4, 16),
                         parity_images=smooth_images(2, 16, seed=1), input_size=(16, 16),
                         min_parity_psnr=1e9)
    assert _listing(tmp_path) == before  # no version 2, no staging folder left


def test_versions_count_up_in_the_model_folder_and_an_existing_one_is_refused(generator,
                                                                             tmp_path,
                                                                             monkeypatch):
    calibration, heldout = smooth_images(4, 16), smooth_images(2, 16, seed=1)
    loads, load = [], tf.saved_model.load
    monkeypatch.setattr(tf.saved_model, "load", lambda *a, **k: loads.append(a) or load(*a, **k))
    first = export_generator(generator, tmp_path, model_name="student", input_nc=3,
                             output_nc=3, tflite=["fp32", "int8"],
                             calibration_images=calibration, parity_images=heldout,
                             input_size=(16, 16))
    assert len(loads) == 1  # the staged SavedModel, loaded once for both TFLite variants
    monkeypatch.undo()
    base = tmp_path / "student"
    assert (first.model_base_path, first.version, first.saved_model) == (
        str(base), 1, str(base / "1"))
    assert os.listdir(base) == ["1"]  # the staging folder is gone
    assert {"saved_model.pb", "variables", "model_fp32.tflite", "model_int8.tflite",
            "export.json"} <= set(os.listdir(base / "1"))
    report = json.loads((base / "1" / "export.json").read_text())
    assert report["size_rule"] == {"multiple": 1, "minimum": 1}
    assert (report["num_calibration_images"], report["num_parity_images"]) == (4, 2)
    int8 = report["tflite"]["int8"]
    assert int8["parity_psnr_db_heldout"] == first.tflite["int8"].parity_psnr > 20
    assert int8["parity_psnr_db_calibration"] == first.tflite["int8"].calibration_psnr > 20
    assert report["tflite"]["fp32"]["parity_psnr_db_calibration"] is None
    expected = generator(heldout, training=False).numpy()
    np.testing.assert_allclose(SavedModelRunner(first.saved_model)(heldout), expected, atol=1e-5)
    np.testing.assert_allclose(TFLiteRunner(first.tflite["fp32"].path)(heldout), expected,
                               atol=1e-4)

    second = export_generator(generator, tmp_path, model_name="student", input_nc=3,
                              output_nc=3)
    assert second.version == 2 and sorted(os.listdir(base)) == ["1", "2"]
    assert second.tflite == {} and os.path.isfile(base / "2" / "saved_model.pb")
    before = _listing(tmp_path)
    with pytest.raises(FileExistsError, match="Version 1 of student already exists.*nothing "
                                              "was written.*Fix: leave out --version to write "
                                              "the next free one \\(3\\)"):
        export_generator(generator, tmp_path, model_name="student", version=1, input_nc=3,
                         output_nc=3)
    assert _listing(tmp_path) == before
    assert export_generator(generator, tmp_path, model_name="teacher", version=5, input_nc=3,
                            output_nc=3).saved_model == str(tmp_path / "teacher" / "5")


def test_the_next_export_removes_the_staging_folders_of_killed_exports(generator, tmp_path,
                                                                       monkeypatch, caplog):
    import socket
    import subprocess
    import sys

    from itgc_tf.artifacts.processes import this_process
    from itgc_tf.export import bundle
    host, pid, start = this_process()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()  # its PID no longer runs
    base = tmp_path / "student"
    leftovers = {  # name -> kept by the next export
        f".2.tmp-{finished.pid}.x@{host}-abcd1234": False,  # killed here: removed
        f".3.tmp-{pid}.{start}@{host}-live1234": True,  # a running export (this process)
        ".4.tmp-123.456@elsewhere-zzzz1234": True,  # another host: cannot be checked
        ".5.tmp-k3x_9q2a": True,  # named before staging folders named their process
        ".hidden": True,  # not a staging folder at all
    }
    for name in leftovers:
        (base / name).mkdir(parents=True)
        (base / name / "saved_model.pb").write_bytes(b"half")
    staged = []

    def killed_midway(generator, path, **kwargs):  # the export's own staging folder
        staged.append(sorted(os.listdir(base)))
        raise RuntimeError("stopped here")
    monkeypatch.setattr(bundle, "export_saved_model", killed_midway)
    with caplog.at_level("WARNING"), pytest.raises(RuntimeError, match="stopped here"):
        export_generator(generator, tmp_path, model_name="student", input_nc=3, output_nc=3)
    kept = sorted(name for name, keep in leftovers.items() if keep)
    assert sorted(os.listdir(base)) == kept  # and this export's own staging folder is gone
    [own] = set(staged[0]) - set(kept)
    assert own.startswith(f".1.tmp-{pid}.{start}@{socket.gethostname()}-")
    assert f"Removed {base / f'.2.tmp-{finished.pid}.x@{host}-abcd1234'}" in caplog.text
    assert "may still run (on host elsewhere)" in caplog.text
    assert "may still run (an older export)" in caplog.text
    assert ".3.tmp-" not in caplog.text and ".hidden" not in caplog.text
