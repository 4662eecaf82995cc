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
