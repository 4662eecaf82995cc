"""The demo: its settings equal the flagfiles users read, and it runs end to end."""
import json
import pathlib
import shutil
import subprocess

import numpy as np
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
    report = demo.run_demo(tmp_path, epochs=1, steps_per_epoch=4, speed_sizes=(64,),
                           speed_batches=(1, 2), speed_budget_s=0.1)
    saved = json.loads((tmp_path / "report.json").read_text(), parse_constant=pytest.fail)
    for key in ("student.psnr_db_vs_target", "student.psnr_db_vs_teacher",
                "teacher.psnr_db_vs_target", "student.macs", "teacher.macs", "student.params",
                "teacher.params", "student.latency_ms", "teacher.latency_ms", "speedup_x",
                "exports", "input.psnr_db_vs_target"):
        assert saved[key] is not None, key
    assert report["student.macs"] < report["teacher.macs"]
    assert pathlib.Path(saved["exports"]["student_tflite_int8"]).is_file()
    assert saved["exports"]["student"] == str(tmp_path / "export" / "student" / "1")
    # int8 calibrated on training crops, its parity measured on held-out ones too.
    assert saved["int8_psnr_db_heldout"] > 20 and saved["int8_psnr_db_calibration"] > 20
    assert saved["comparison_png"] == str(tmp_path / "comparison.png")
    assert (tmp_path / "comparison.png").is_file()
    assert saved["image_size"] == [64, 64] and saved["dataset"] == "demo:enhance"
    assert len(saved["comparison.psnr_db"]) == 3  # three held-out photos
    rows = {(r["runtime"], r["batch"]): r for r in saved["speed.table"]}
    assert set(rows) == {(runtime, batch) for runtime in demo.RUNTIMES for batch in (1, 2)}
    assert rows["litert_int8", 2]["reason"] and rows["litert_int8", 2]["speedup_x"] is None
    head = rows["saved_model_fp32", 1]
    assert saved["speedup_x"] == head["speedup_x"] == pytest.approx(
        head["teacher_latency_ms"] / head["student_latency_ms"])
    assert saved["speed.headline"] == {"runtime": "saved_model_fp32", "size": 64, "batch": 1}
    assert {k for k, v in saved.items() if v is None} == set(saved["null_reasons"])


def _report(teacher=30.0, student=29.5, speedups=(3.25, 5.0), latency=(10.0, 32.5)):
    rows = [dict(runtime="saved_model_fp32", size=512, batch=batch, speedup_x=x, reason=None,
                 student_latency_ms=latency[0], teacher_latency_ms=latency[1], runs=3)
            for batch, x in zip((1, 8), speedups)]
    return {"input.psnr_db_vs_target": 28.0, "teacher.psnr_db_vs_target": teacher,
            "student.psnr_db_vs_target": student, "macs_ratio": 12.4,
            "student.macs": 0.4e9, "teacher.macs": 4.96e9, "latency.device": "CPU",
            "speed.table": rows, "null_reasons": {}}


@pytest.mark.parametrize("teacher,student,expected", [
    (30.0, 29.5, "student keeps 75% of the teacher's PSNR gain over the input at 1/12"),
    (27.0, 26.0, "The teacher does not beat the degraded input (-1.00 dB)"),
])
def test_summary_line_states_the_share_of_the_gain_and_the_cost(teacher, student, expected):
    report = demo.add_speed(_report(teacher, student), _report()["speed.table"])
    line = demo.summary_line(report)
    assert expected in line
    assert "runs 3.2x faster (saved_model_fp32 at 512x512, batch 1; 3.2x to 5.0x" in line


def test_a_student_that_is_not_clearly_faster_is_told_why():
    report = _report()
    demo.add_speed(report, _report(speedups=(1.1, 1.3), latency=(40.0, 44.0))["speed.table"])
    line = demo.summary_line(report)
    # 0.4 GMAC in 40 ms = 10 GMAC/s; 4.96 GMAC in 44 ms = 112.7 GMAC/s
    assert "is NOT clearly faster: 1.10x" in line
    assert "runs at 10.0 GMAC/s against the teacher's 112.7" in line and "overhead" in line


def test_the_headline_is_the_saved_model_at_batch_1_and_the_largest_size():
    rows = [dict(runtime=r, size=s, batch=b, reason=None, speedup_x=1.0)
            for r in demo.RUNTIMES for s in (256, 512) for b in (1, 8)]
    rows.append(dict(runtime="saved_model_fp32", size=1024, batch=1, reason="not run",
                     speedup_x=None))
    assert {k: demo.headline(rows)[k] for k in ("runtime", "size", "batch")} == {
        "runtime": "saved_model_fp32", "size": 512, "batch": 1}


def test_timing_images_are_the_photos_resized_and_mirrored():
    photos = [np.full((20, 30, 3), v, np.uint8) for v in (0, 255)]
    images = demo.timing_images(photos, 16, count=5)
    assert images.shape == (5, 16, 16, 3) and images.dtype == np.float32
    np.testing.assert_allclose(images[[0, 2, 4]], -1.0, atol=1e-6)
    np.testing.assert_allclose(images[[1, 3]], 1.0, atol=1e-6)


def test_output_paths_are_printed_from_the_callers_folder():
    lines = demo.where_lines("runs/x")
    assert "Report: runs/x/report.json" in lines
    assert "TensorBoard: tensorboard --logdir runs/x" in lines


def test_demo_sh_runs_the_demo_in_the_callers_folder(tmp_path):
    """scripts/demo.sh sets up the venv in the repository, then runs the demo where the
    caller stands, its arguments unchanged (a fake venv stands in for the real one)."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "scripts", repo / "scripts",
                    ignore=lambda d, names: [n for n in names if not n.endswith(".sh")])
    bin_dir = repo / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "python"
    fake.write_text('#!/bin/sh\nif [ "$2" = pip ]; then exit 0; fi\n'
                    'echo "cwd=$PWD"; echo "args=$*"\n')
    fake.chmod(0o755)
    (bin_dir / "activate").write_text(f'PATH="{bin_dir}:$PATH"\n')
    caller = tmp_path / "caller"
    caller.mkdir()
    result = subprocess.run(["bash", str(repo / "scripts" / "demo.sh"), "--model_dir=runs/x"],
                            cwd=caller, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert f"cwd={caller}" in result.stdout
    assert "args=-m itgc_tf.demo --model_dir=runs/x" in result.stdout
    assert result.stderr == ""  # pip's output goes to .venv/install.log
