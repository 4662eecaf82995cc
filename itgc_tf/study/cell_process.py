"""One study cell in a process of its own (started by `runner.run_cell_process`):
``python -m itgc_tf.study.cell_process CELL_JSON`` runs `cells.run_cell` with
TensorFlow's log lines in the cell's ``logs/tf.log``, as a command's
(`itgc_tf.cli.logs`). Exit status 0 when the cell finished, `runner.ERROR_RECORDED`
when it raised (the traceback is printed and written to the cell's error.txt),
`runner.INTERRUPTED` when Ctrl-C stopped it.

CELL_JSON: {"root": study folder, "cell": {"task", "recipe", "arm", "seed"},
"quick": bool, "curve_every": int}."""
import json
import pathlib
import sys
import traceback

from itgc_tf.cli import logs
from itgc_tf.cli.app import INTERRUPTED

logs.quiet_native_logs()  # before TensorFlow is imported (by the study modules below)
logs.capture_early()

try:  # importing TensorFlow takes seconds: a Ctrl-C meanwhile stops without a traceback
    from itgc_tf.study.cells import run_cell  # noqa: E402
    from itgc_tf.study.grid import Cell  # noqa: E402
    from itgc_tf.study.runner import ERROR, ERROR_RECORDED, record_error  # noqa: E402
except KeyboardInterrupt:
    sys.exit(INTERRUPTED)


def main(argument):
    values = json.loads(argument)
    cell = Cell(**values["cell"])
    folder = pathlib.Path(values["root"]) / "runs" / cell.key
    try:
        with logs.run_logging(folder):
            run_cell(values["root"], cell, values["quick"], values["curve_every"])
    except KeyboardInterrupt:  # Ctrl-C: the study stops (`runner.run_grid` says how to go on)
        return INTERRUPTED
    except Exception:  # noqa: BLE001 (recorded, reported as failed, retried on a rerun)
        text = traceback.format_exc()
        print(f"[study] {cell.key} FAILED:\n{text}", file=sys.stderr, flush=True)
        record_error(folder / ERROR, text)
        return ERROR_RECORDED
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
