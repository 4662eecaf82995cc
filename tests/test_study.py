"""scripts/study.py --quick end to end: every cell a finished run folder written by a
process of its own, a rerun skips them, the paired statistics equal SciPy's on the
recorded per-seed numbers, plots written; a cell whose process fails or dies is recorded
as failed and the grid goes on."""
import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from itgc_tf import options
from itgc_tf.study import grid, report
from itgc_tf.study.runner import run_grid
from itgc_tf.study.stats import paired_difference, t_interval

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    root = tmp_path_factory.mktemp("study")
    cells = grid.grid_cells("quick")
    run_grid(root, cells, quick=True)
    return root, cells


# The quick grid trains four toy cells (~40 s on 2 idle cores): its tests are slow, so
# that the file starts first under pytest-xdist (tests/conftest.py).
@pytest.mark.slow
def test_quick_cells_are_finished_run_folders(quick):
    root, cells = quick
    assert [c.key for c in cells] == ["enhance/kd/off/seed0", "enhance/kd/authors/seed0",
                                      "enhance/kd/off/seed1", "enhance/kd/authors/seed1"]
    for cell in cells:
        folder = root / "runs" / cell.key
        result = json.loads((folder / "result.json").read_text())
        assert (folder / "generator.keras").is_file() and (folder / "flags.cfg").is_file()
        assert f"--seed={cell.seed}" in (folder / "flags.cfg").read_text()
        assert (result["task"], result["arm"], result["seed"]) == (cell.task, cell.arm, cell.seed)
        assert result["steps"] == 2 and [s for s, _ in result["curve"]] == [1, 2]
        assert np.isfinite(result["psnr_vs_teacher"]) and np.isfinite(result["psnr_vs_target"])
        # The last curve point is the held-out PSNR of the saved student.
        assert result["curve"][-1][1] == pytest.approx(result["psnr_vs_teacher"], abs=1e-3)
        assert result["fid"] is None and "Inception" in result["fid_kid_reason"] or \
            result["fid_kid_reason"].startswith("not computed")
        vem_on = cell.arm != "off"
        assert result["vem"]["vem_weight"] == (0.1 if vem_on else 0.0)
        assert (result["contrastive_gap"] is not None) == vem_on
        assert (folder / "logs" / "tf.log").is_file() and not (folder / "error.txt").exists()
    # Each cell trained in a process of its own (the pid in its event files' names).
    pids = [{path.name.split(".")[-3] for path in (root / "runs" / c.key).rglob("events.*")}
            for c in cells]
    assert all(len(p) == 1 for p in pids), pids
    assert len(set.union(*pids)) == len(cells) and str(os.getpid()) not in set.union(*pids)


@pytest.mark.slow
def test_rerun_skips_finished_cells_and_writes_report(quick):
    root, cells = quick
    before = {c.key: (root / "runs" / c.key / "result.json").stat().st_mtime_ns for c in cells}
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "study.py"), "--quick",
                          f"--output_dir={root}"], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT)
    assert run.stdout.count("(finished: skipped)") == 4
    # TensorFlow's import-time lines (imported for the report) go to the study's log.
    assert "oneDNN" not in run.stdout + run.stderr
    assert "oneDNN" in (root / "logs" / "tf.log").read_text()
    assert before == {c.key: (root / "runs" / c.key / "result.json").stat().st_mtime_ns
                      for c in cells}
    for name in ("diff_psnr_vs_teacher.png", "diff_psnr_vs_target.png",
                 "curves_enhance_kd.png", "students_enhance_kd_seed0.png"):
        assert (root / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| enhance | kd | authors | psnr_vs_teacher | 2 |" in (root / "tables.md").read_text()


@pytest.mark.slow
def test_paired_statistics_equal_scipy_on_recorded_numbers(quick):
    root, cells = quick
    if not (root / "results.json").is_file():  # run alone: the rerun test writes the report
        report.write_report(root, cells)
    with open(root / "results.csv") as f:
        rows = {(r["arm"], int(r["seed"])): r for r in csv.DictReader(f)}
    summary = json.loads((root / "results.json").read_text())
    for metric in ("psnr_vs_teacher", "psnr_vs_target"):
        off = np.array([float(rows["off", s][metric]) for s in (0, 1)])
        vem = np.array([float(rows["authors", s][metric]) for s in (0, 1)])
        diff = next(d for d in summary["differences"]
                    if d["metric"] == metric and d["arm"] == "authors")
        low, high = stats.t.interval(0.95, 1, loc=np.mean(vem - off),
                                     scale=stats.sem(vem - off))
        assert diff["mean"] == pytest.approx(np.mean(vem - off))
        assert (diff["low"], diff["high"]) == pytest.approx((low, high))
        cell = next(c for c in summary["cells"] if c["arm"] == "off")[metric]
        low, high = stats.t.interval(0.95, 1, loc=off.mean(), scale=stats.sem(off))
        assert (cell["mean"], cell["low"], cell["high"]) == pytest.approx((off.mean(), low, high))


def test_failed_and_killed_cell_processes_are_recorded_and_the_grid_goes_on(
        tmp_path, monkeypatch, capsys):
    # A sitecustomize on the children's path kills the processes of the seed 7 and 8
    # cells as they start (SIGABRT, as a native abort; SIGKILL, as the out-of-memory
    # killer) and makes seed 6's exit with status 5; the unknown task raises in run_cell;
    # seed 9 is finished (not rerun).
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "argument = sys.orig_argv[-1]\n"
        "if '\"seed\": 7' in argument:\n    os.abort()\n"
        "if '\"seed\": 8' in argument:\n    os.kill(os.getpid(), signal.SIGKILL)\n"
        "if '\"seed\": 6' in argument:\n    os._exit(5)\n")
    monkeypatch.setenv("PYTHONPATH", str(hooks))
    cells = [grid.Cell("enhance", "kd", "off", 7), grid.Cell("enhance", "kd", "off", 8),
             grid.Cell("no_such_task", "kd", "off", 0), grid.Cell("enhance", "kd", "off", 9),
             grid.Cell("enhance", "kd", "off", 6)]
    finished = tmp_path / "runs" / cells[3].key / "result.json"
    finished.parent.mkdir(parents=True)
    finished.write_text(json.dumps({"key": cells[3].key}))
    log = tmp_path / "runs" / cells[1].key / "logs" / "tf.log"  # of an earlier try
    log.parent.mkdir(parents=True)
    log.write_text("F0000 a native fatal error\n")
    stale = tmp_path / "runs" / cells[2].key / "error.txt"
    stale.parent.mkdir(parents=True)
    stale.write_text("an error of an earlier run\n")

    assert run_grid(tmp_path, cells, quick=True) == [{"key": cells[3].key}]
    out = capsys.readouterr().out
    for number, cell in enumerate(cells, 1):
        if cell.seed != 9:
            assert f"[study] {number}/5 {cell.key}\n" in out
            assert f"[study] {cell.key} FAILED (runs/{cell.key}/error.txt)" in out
    assert "[study] 4/5 enhance/kd/off/seed9 (finished: skipped)" in out
    _, failed, missing = report.collect(tmp_path, cells)
    assert missing == []
    assert failed[cells[0].key] == (
        "The process of study cell enhance/kd/off/seed7 was killed by signal 6, SIGABRT "
        "before recording an error: the output above says why. Rerunning the study retries "
        "the cell.")
    assert failed[cells[1].key] == (
        "The process of study cell enhance/kd/off/seed8 was killed by signal 9, SIGKILL "
        "(SIGKILL: often the kernel's out-of-memory killer) before recording an error: "
        "runs/enhance/kd/off/seed8/logs/tf.log (TensorFlow's log) and the output above say "
        "why. Rerunning the study retries the cell.")
    assert failed[cells[2].key] == "KeyError: 'no_such_task'"
    assert failed[cells[4].key] == (
        "The process of study cell enhance/kd/off/seed6 exited with status 5 before recording "
        "an error: the output above says why. Rerunning the study retries the cell.")
    assert (tmp_path / "runs" / cells[2].key / "error.txt").read_text().startswith(
        "Traceback (most recent call last):")


def _interrupting_hooks(tmp_path):
    """A sitecustomize that stops every study cell process as it starts, as Ctrl-C would:
    seed 0's exits with the status a cell process returns on KeyboardInterrupt, any other's
    is killed by SIGINT's default action."""
    hooks = tmp_path / "hooks"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "if 'itgc_tf.study.cell_process' in sys.orig_argv:\n"
        "    if '\"seed\": 0' in sys.orig_argv[-1]:\n        os._exit(130)\n"
        "    signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n")
    return hooks


def test_ctrl_c_stops_the_grid_and_says_how_to_go_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PYTHONPATH", str(_interrupting_hooks(tmp_path)))
    cells = [grid.Cell("enhance", "kd", "off", 1), grid.Cell("enhance", "kd", "off", 2)]
    with pytest.raises(KeyboardInterrupt):
        run_grid(tmp_path, cells, quick=True)
    out = capsys.readouterr().out
    assert out == ("[study] 1/2 enhance/kd/off/seed1\n[study] interrupted in "
                   "enhance/kd/off/seed1. Run the same command again to go on: finished cells "
                   "are skipped, this one continues from its checkpoints.\n")
    assert not list(tmp_path.rglob("error.txt"))  # an interrupted cell did not fail

    # scripts/study.py: exit status 130 and that line, no traceback (seed 0's process
    # exits 130 itself, as `cell_process` does on KeyboardInterrupt).
    run = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "study.py"), "--quick",
                          f"--output_dir={tmp_path / 'study'}"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=f"{tmp_path / 'hooks'}{os.pathsep}{ROOT}"),
                         cwd=ROOT)
    assert run.returncode == 130, run.stderr
    assert run.stdout.endswith("[study] interrupted in enhance/kd/off/seed0. Run the same "
                               "command again to go on: finished cells are skipped, this one "
                               "continues from its checkpoints.\n")
    assert "Traceback" not in run.stderr and not list(tmp_path.rglob("error.txt"))


def test_a_cell_process_stopped_by_ctrl_c_records_no_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")  # the module keeps a value it finds
    from itgc_tf.study import cell_process

    def interrupted(*args):
        raise KeyboardInterrupt
    monkeypatch.setattr(cell_process, "run_cell", interrupted)
    argument = json.dumps(dict(root=str(tmp_path), cell=dict(task="enhance", recipe="kd",
                                                             arm="off", seed=3),
                               quick=True, curve_every=2))
    assert cell_process.main(argument) == 130
    assert not list(tmp_path.rglob("error.txt"))


def test_the_grid_runner_imports_no_tensorflow():
    # scripts/study.py imports only these while the cells run in processes of their own,
    # so its own process stays small (TensorFlow comes with the report, after the grid).
    code = ("import sys; import itgc_tf.study.grid, itgc_tf.study.runner; "
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env=dict(os.environ, PYTHONPATH=ROOT), cwd=ROOT).stdout
    assert out.strip() == "[]"


def test_scalars_are_read_up_to_a_cut_short_event_file(tmp_path, caplog):
    # A killed attempt's event file ends in half a record; the resumed run writes a new
    # file. The cell's result and the report read both (a DataLossError failed the
    # retried cell for good before).
    import tensorflow as tf

    from itgc_tf.study.cells import read_scalars
    for name, steps in (("killed", range(0, 40)), ("resumed", range(30, 60))):
        writer = tf.summary.create_file_writer(str(tmp_path / name))
        with writer.as_default():
            for step in steps:
                tf.summary.scalar("psnr", step / 2 + (name == "resumed"), step=step)
        writer.close()
    killed = next((tmp_path / "killed").glob("events.out.tfevents.*"))
    killed.write_bytes(killed.read_bytes()[:-9])
    with caplog.at_level("WARNING"):
        values = read_scalars(tmp_path, "psnr")
    # killed: steps 0..38 (the last record cut); resumed: steps 30..59 overwrite 30..38.
    assert values == [(s, s / 2) for s in range(30)] + [(s, s / 2 + 1) for s in range(30, 60)]
    assert f"{killed} is cut short or damaged after 40 records" in caplog.text


def test_paired_difference_uses_only_common_seeds():
    result = paired_difference({0: 1.0, 1: 3.0, 2: 2.5, 5: 9.0}, {0: 0.5, 1: 1.0, 2: 2.0, 3: 7.0})
    diffs = np.array([0.5, 2.0, 0.5])
    assert result["seeds"] == [0, 1, 2] and result["diffs"] == pytest.approx(diffs)
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / np.sqrt(3)
    assert (result["low"], result["high"]) == pytest.approx((diffs.mean() - half,
                                                             diffs.mean() + half))
    assert np.isnan(t_interval([4.0])["low"])


def test_grid_selection_keeps_the_base_arm_and_rejects_unknown_names():
    cells = grid.grid_cells("full", tasks=["enhance"], recipes=["kd"], arms=["mi_1"], seeds=[0])
    assert [c.arm for c in cells] == ["off", "mi_1"]
    with pytest.raises(ValueError, match="Unknown study arm"):
        grid.grid_cells("full", arms=["mi_2"])


def test_cat_cells_distil_a_pruned_teacher_of_their_own(tmp_path):
    from itgc_tf.eval.profile import profile
    from itgc_tf.models.registry import build_generator
    from itgc_tf.models.saving import load_keras_model
    from itgc_tf.study.cells import cell_config, ensure_teacher, teacher_config

    cell = grid.Cell("enhance", "cat", "authors", 3)
    teacher = options.flat(teacher_config(tmp_path, "enhance", "cat"))
    assert (teacher["netG"], teacher["ngf"], teacher["norm"]) == (
        "inception_resnet_9blocks", 8, "batch")
    assert options.flat(teacher_config(tmp_path, "enhance"))["netG"] == "unet_64"  # kd's
    # A (random) teacher in place: ensure_teacher only prunes it, to the kd student's MACs.
    folder = tmp_path / "teachers" / "enhance-cat"
    folder.mkdir(parents=True)
    build_generator("inception_resnet_9blocks", 3, 3, ngf=8, norm="batch",
                    residual=True).save(folder / "generator.keras")
    assert ensure_teacher(tmp_path, "enhance", "cat") == folder / "generator.keras"
    student = load_keras_model(folder / "pruned" / "generator.keras")
    macs = profile(student, (64, 64, 3)).macs
    assert 0.8 * grid.RECIPES["cat"].prune_macs <= macs <= grid.RECIPES["cat"].prune_macs
    config = options.flat(cell_config(tmp_path, cell))
    assert (config["recipe"], config["student"], config["teacher"], config["seed"]) == (
        "cat", str(folder / "pruned"), str(folder), 3)
    assert config["distill_pairs"] == grid.CAT_PAIRS


def test_omgd_no_vgg_differs_from_omgd_only_in_the_vgg_terms(tmp_path):
    from itgc_tf.study.cells import cell_config
    omgd, no_vgg = (options.flat(cell_config(tmp_path, grid.Cell("enhance", r, "authors", 0)))
                    for r in ("omgd", "omgd_no_vgg"))
    assert (no_vgg["lambda_style"], no_vgg["lambda_feature"]) == (0, 0)
    assert omgd["lambda_style"] > 0 and omgd["lambda_feature"] > 0
    changed = {k for k in omgd if omgd[k] != no_vgg[k]}
    assert changed == {"lambda_style", "lambda_feature", "model_dir"}
