"""The absl side of every command: flags generated from the command's configuration
dataclass (`itgc_tf.options`), parsed into it, handed to a library function."""
import sys

import tensorflow as tf
from absl import app, flags

from itgc_tf import options
from itgc_tf.training.callbacks import TrainingDivergedError
from itgc_tf.training.run_lock import RunFolderLockedError


def run_app(config_class, main, required=()):
    """Define ``config_class``'s flags, mark ``required`` ones, parse, and run
    ``main(config)`` with the validated configuration and clear user errors."""
    options.define_flags(config_class)
    for name in required:
        flags.mark_flag_as_required(name)
    app.run(main_with_user_errors(lambda argv: main(options.from_flags(config_class))))


def _os_error_message(error):
    """One line naming the path and the fix of a file-system failure."""
    path = error.filename or "(path not given)"
    return (f"Cannot write or read {path}: {error.strerror or error}. Fix: make the folder "
            "writable (permissions, a read-only mount) or free disk space, or choose another "
            "path, then run again.")


def _fail(message):
    print(f"FATAL: {message}", file=sys.stderr)
    sys.exit(1)


def main_with_user_errors(function):
    """Wrap an absl ``main`` so user mistakes (configuration, missing or unwritable
    files, a locked run folder) and a diverged run print one message and exit 1: no
    traceback and no flag-help dump."""

    def main(argv):
        tf.get_logger().setLevel("WARNING")  # TF's own INFO chatter hides the progress
        try:
            return function(argv)
        except (ValueError, FileNotFoundError, FileExistsError, flags.ValidationError,
                RunFolderLockedError, TrainingDivergedError) as error:
            _fail(error)
        except OSError as error:  # permission denied, read-only folder, full disk
            _fail(_os_error_message(error))
        except (tf.errors.PermissionDeniedError, tf.errors.ResourceExhaustedError) as error:
            _fail(f"{error.message}. Fix: make the folder writable or free disk (or device) "
                  "memory, then run again.")
    return main
