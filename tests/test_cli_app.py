"""main_with_user_errors: user failures end in one message and exit status 1."""
import errno

import pytest
import tensorflow as tf

from itgc_tf.cli.app import main_with_user_errors
from itgc_tf.training.callbacks import LossExplosionError


def _exit(error, capsys):
    def fail(argv):
        raise error
    with pytest.raises(SystemExit) as stop:
        main_with_user_errors(fail)([])
    return stop.value.code, capsys.readouterr().err


@pytest.mark.parametrize("error", [
    PermissionError(errno.EACCES, "Permission denied", "/runs/x/flags.cfg"),
    OSError(errno.EROFS, "Read-only file system", "/runs/x/flags.cfg"),
    OSError(errno.ENOSPC, "No space left on device", "/runs/x/flags.cfg"),
])
def test_file_system_failures_name_the_path_and_the_fix(error, capsys):
    code, err = _exit(error, capsys)
    assert code == 1
    assert "/runs/x/flags.cfg" in err and error.strerror in err and "Fix:" in err


def test_a_full_disk_from_tensorflow_is_one_message(capsys):
    code, err = _exit(tf.errors.ResourceExhaustedError(None, None, "write failed: disk full"),
                      capsys)
    assert code == 1 and "disk full" in err and "Fix:" in err


def test_a_diverged_run_and_a_config_error_exit_1_with_their_message(capsys):
    assert _exit(LossExplosionError("loss exploded at step 7"), capsys) == (
        1, "FATAL: loss exploded at step 7\n")
    assert _exit(ValueError("--lr must be > 0. Fix: pass one."), capsys) == (
        1, "FATAL: --lr must be > 0. Fix: pass one.\n")


def test_native_writes_go_to_the_log_and_python_output_stays_on_the_console(tmp_path, capfd):
    import os
    import sys

    from itgc_tf.cli.logs import native_output_to
    log = tmp_path / "tf.log"
    with native_output_to(log):
        os.write(2, b"E0000 failed call to cuInit\n")
        os.write(1, b"fully_quantize: 0\n")
        print("[1/5] a stage header")
        print("a warning line", file=sys.stderr)
    print("after")
    console = capfd.readouterr()
    assert console.out == "[1/5] a stage header\nafter\n"
    assert console.err == "a warning line\n"
    assert "cuInit" not in console.err + console.out
    assert log.read_text() == "E0000 failed call to cuInit\nfully_quantize: 0\n"
