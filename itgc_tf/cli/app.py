"""The absl side of every command: flags generated from the command's configuration
dataclass (`itgc_tf.options`), parsed into it, handed to a library function."""
import sys

import tensorflow as tf
from absl import app, flags

from itgc_tf import options
from itgc_tf.training.callbacks import NonFiniteLossError


def run_app(config_class, main, required=()):
    """Define ``config_class``'s flags, mark ``required`` ones, parse, and run
    ``main(config)`` with the validated configuration and clear user errors."""
    options.define_flags(config_class)
    for name in required:
        flags.mark_flag_as_required(name)
    app.run(main_with_user_errors(lambda argv: main(options.from_flags(config_class))))


def main_with_user_errors(function):
    """Wrap an absl ``main`` so configuration mistakes print their message, not a
    traceback, and a non-finite loss ends the program with its message (exit 1)."""

    def main(argv):
        tf.get_logger().setLevel("WARNING")  # TF's own INFO chatter hides the progress
        try:
            return function(argv)
        except (ValueError, FileNotFoundError, flags.ValidationError) as error:
            raise app.UsageError(str(error)) from error
        except NonFiniteLossError as error:
            sys.exit(f"FATAL: {error}")
    return main
