"""Run a study grid into a folder: every cell in order, each in a Python process of its
own (`itgc_tf.study.cell_process`), skipping finished ones. A process per cell keeps
the grid's memory from growing (a process keeps every graph TensorFlow traced in it)
and confines a crash to its cell. A cell that fails leaves its error in
runs/KEY/error.txt (listed by the report as failed) and the grid goes on; a rerun tries
it again. Imports no TensorFlow: the study's own process stays small while cells run."""
import dataclasses
import json
import os
import pathlib
import signal
import subprocess
import sys

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.cli.app import INTERRUPTED
from itgc_tf.cli.logs import LOG_NAME
from itgc_tf.interrupts import deferred_interrupt
from itgc_tf.study.grid import Cell

RESULT = "result.json"  # a finished cell's results, in its run folder
ERROR = "error.txt"
ERROR_RECORDED = 3  # the exit status of a cell process that wrote its error.txt
PACKAGE_PARENT = str(pathlib.Path(__file__).resolve().parents[2])


def run_grid(root, cells, quick=False, curve_every=2):
    """Run ``cells`` (in order) under ``root``; returns the result dicts of the cells
    that finished."""
    root = pathlib.Path(root)
    results = []
    for number, cell in enumerate(cells, 1):
        result = root / "runs" / cell.key / RESULT
        done = result.is_file()
        print(f"[study] {number}/{len(cells)} {cell.key}"
              + (" (finished: skipped)" if done else ""), flush=True)
        try:
            if not done and not run_cell_process(root, cell, quick, curve_every):
                continue
        except KeyboardInterrupt:
            this_one = "" if result.is_file() else ", this one continues from its checkpoints"
            print(f"[study] interrupted in {cell.key}. Run the same command again to go on: "
                  f"finished cells are skipped{this_one}.", flush=True)
            raise
        results.append(json.loads(result.read_text()))
    return results


def run_cell_process(root, cell, quick, curve_every):
    """Run one cell in a child process (its output goes to this one's); True when it
    finished. A child that dies without recording its error (a signal, e.g. the kernel's
    out-of-memory killer, or a native abort) gets an error.txt that says how it ended; a
    child stopped by Ctrl-C (SIGINT) raises KeyboardInterrupt here (no error.txt: the
    cell was not at fault)."""
    error = pathlib.Path(root) / "runs" / cell.key / ERROR
    argument = json.dumps(dict(root=str(root), cell=dataclasses.asdict(cell), quick=quick,
                               curve_every=curve_every))
    path = os.pathsep.join(p for p in (PACKAGE_PARENT, os.environ.get("PYTHONPATH")) if p)
    # Ctrl-C reaches the child too, which stops after its training step; this process
    # waits for that rather than raising at once (and killing the child).
    with deferred_interrupt() as interrupt:
        code = subprocess.run([sys.executable, "-m", "itgc_tf.study.cell_process", argument],
                              env=dict(os.environ, PYTHONPATH=path), check=False).returncode
    if code in (INTERRUPTED, -signal.SIGINT):  # the cell was stopped, not at fault
        raise KeyboardInterrupt
    if code == 0:
        error.unlink(missing_ok=True)
    else:
        if code != ERROR_RECORDED:
            log = f"runs/{cell.key}/logs/{LOG_NAME}"
            where = (f"{log} (TensorFlow's log) and the output above say"
                     if (pathlib.Path(root) / log).is_file() else "the output above says")
            record_error(error, f"The process of study cell {cell.key} {_ending(code)} "
                         f"before recording an error: {where} why. Rerunning the study "
                         "retries the cell.\n")
        print(f"[study] {cell.key} FAILED (runs/{cell.key}/{ERROR})", flush=True)
    if interrupt.requested:  # Ctrl-C as the cell was ending: stop after it
        raise KeyboardInterrupt
    return code == 0


def _ending(code):
    """How a child process with exit status ``code`` ended, in words."""
    if code >= 0:
        return f"exited with status {code}"
    try:
        name = signal.Signals(-code).name
    except ValueError:
        name = "an unknown signal"
    oom = " (SIGKILL: often the kernel's out-of-memory killer)" if -code == signal.SIGKILL else ""
    return f"was killed by signal {-code}, {name}{oom}"


def record_error(path, text):
    """Write ``text`` to the error file ``path`` (all or nothing)."""
    with atomic_output(path, overwrite=True) as tmp:
        pathlib.Path(tmp).write_text(text)
