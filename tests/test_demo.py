"""The demo: its settings equal the flagfiles users read, and it runs end to end."""
import json
import pathlib

import pytest
from absl import flags

from itgc_tf import demo, options
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _flagfile_values(name):
    values = {}
    for line in (ROOT / "flags" / name).read_text().splitlines():
        if line.startswith("--"):
            key, value = line[2:].split("=", 1)
            values[key] = value
    return values


@pytest.mark.parametrize("flagfile,settings", [
    ("demo_teacher.cfg", demo.DATA | demo.TEACHER | demo.SHARED),
    ("demo_student.cfg", demo.DATA | demo.STUDENT | demo.SHARED),
])
def test_demo_settings_match_the_flagfiles(flagfile, settings):
    values = _flagfile_values(flagfile)
    settings = {k: v for k, v in settings.items() if k != "verbose"}
    assert set(values) <= set(settings) | {"teacher"}
    for key, value in values.items():
        assert str(settings[key]) == value or float(settings[key]) == float(value), key


@pytest.mark.parametrize("flagfile,command", [("demo_teacher.cfg", TrainTeacherConfig),
                                               ("demo_student.cfg", DistillConfig)])
def test_demo_stages_equal_the_flagfiles_parsed_by_their_commands(tmp_path, flagfile, command):
    """Each flagfile, read by its command's own flags, gives the demo stage's config."""
    teacher_config, student_config = demo.stage_configs(tmp_path)
    stage = teacher_config if command is TrainTeacherConfig else student_config
    flag_values = flags.FlagValues()
    options.define_flags(command, flag_values)
    args = ["prog", f"--flagfile={ROOT / 'flags' / flagfile}",
            f"--model_dir={stage.run.model_dir}", "--verbose=2"]
    if command is DistillConfig:
        args.append(f"--teacher={tmp_path / 'teacher'}")
    flag_values(args)
    assert options.from_flags(command, flag_values) == stage


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    report = demo.run_demo(tmp_path, epochs=1, steps_per_epoch=4)
    saved = json.loads((tmp_path / "report.json").read_text())
    for key in ("student.psnr_vs_target", "student.psnr_vs_teacher", "teacher.psnr_vs_target",
                "student.macs", "teacher.macs", "student.params", "teacher.params",
                "student.latency_ms", "teacher.latency_ms", "speedup", "exports",
                "input.psnr_vs_target"):
        assert saved[key] is not None, key
    assert report["student.macs"] < report["teacher.macs"]
    assert pathlib.Path(saved["exports"]["student_tflite_int8"]).is_file()
    assert saved["exports"]["student"] == str(tmp_path / "export" / "student" / "1")
    # int8 calibrated on training crops, its parity measured on held-out ones too.
    assert saved["int8_psnr_db_heldout"] > 20 and saved["int8_psnr_db_calibration"] > 20
    assert saved["comparison_png"] == str(tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").is_file()
    assert saved["image_size"] == [demo.SPEED_SIZE] * 2
    assert len(saved["comparison.psnr"]) == 3  # three held-out photos


@pytest.mark.parametrize("teacher,student,expected", [
    (30.0, 29.5, "student keeps 75% of the teacher's PSNR gain over the input at 1/12"),
    (27.0, 26.0, "The teacher does not beat the degraded input (-1.00 dB)"),
])
def test_summary_line_states_the_share_of_the_gain_and_the_cost(teacher, student, expected):
    report = {"input.psnr_vs_target": 28.0, "teacher.psnr_vs_target": teacher,
              "student.psnr_vs_target": student, "macs_ratio": 12.4, "speedup": 3.25,
              "image_size": [256, 256]}
    line = demo.summary_line(report)
    assert expected in line and "3.2x faster at 256x256" in line
