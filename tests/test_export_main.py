"""``itgc-export``'s options and defaults (itgc_tf.export.__main__, .config): the
served model's name defaults to the generator's role; bad versions and counts are
refused when the flags are read."""
import pytest

from itgc_tf import options
from itgc_tf.export.__main__ import generator_role
from itgc_tf.export.config import ExportConfig


def test_model_name_defaults_to_the_role_recorded_in_the_run_folder(tmp_path):
    student, teacher, bare = tmp_path / "student", tmp_path / "teacher", tmp_path / "bare"
    for folder in (student, teacher, bare):
        folder.mkdir()
    (student / "flags.cfg").write_text("--dataset=demo:enhance\n--teacher=runs/t\n")
    (teacher / "flags.cfg").write_text("--dataset=demo:enhance\n--teacher_model=pix2pix\n")
    assert generator_role(student) == "student"
    assert generator_role(student / "generator.keras") == "student"  # the file's folder
    assert generator_role(teacher) == "teacher"
    assert generator_role(bare / "generator.keras") == "generator"


@pytest.mark.parametrize("values,message", [
    ({"version": 0}, "--version must be a positive integer.*Fix:"),
    ({"num_heldout": 0}, "--num_heldout must be >= 1"),
    ({"tflite": ("int4",)}, "--tflite takes a comma-separated subset"),
])
def test_bad_export_options_are_refused_with_a_fix(values, message):
    with pytest.raises(ValueError, match=message):
        options.from_values(ExportConfig, {"generator": "runs/x", "dataset": "demo:enhance",
                                           **values})


def test_default_options_export_the_next_version_with_held_out_parity():
    config = options.from_values(ExportConfig, {"generator": "runs/x",
                                                "dataset": "demo:enhance"}).export
    assert (config.model_name, config.version, config.heldout_split) == (None, None, "test")
