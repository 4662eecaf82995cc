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
