"""Run a study grid into a folder: teachers once per task, then every cell in order,
skipping finished ones (`cells.run_cell`). A cell that fails leaves its error in
runs/KEY/error.txt (listed by the report as failed) and the grid goes on; a rerun
tries it again."""
import pathlib
import traceback

import keras

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.study.cells import run_cell

ERROR = "error.txt"


def run_grid(root, cells, quick=False, curve_every=2):
    """Run ``cells`` (in order) under ``root``; returns the result dicts of the cells
    that finished."""
    root = pathlib.Path(root)
    results = []
    for number, cell in enumerate(cells, 1):
        done = (root / "runs" / cell.key / "result.json").is_file()
        print(f"[study] {number}/{len(cells)} {cell.key}"
              + (" (finished: skipped)" if done else ""), flush=True)
        error = root / "runs" / cell.key / ERROR
        try:
            results.append(run_cell(root, cell, quick, curve_every))
        except Exception:  # noqa: BLE001 (recorded, reported as failed, retried on a rerun)
            text = traceback.format_exc()
            print(f"[study] {cell.key} FAILED:\n{text}", flush=True)
            with atomic_output(error, overwrite=True) as tmp:
                pathlib.Path(tmp).write_text(text)
            keras.backend.clear_session()
            continue
        error.unlink(missing_ok=True)
    return results
