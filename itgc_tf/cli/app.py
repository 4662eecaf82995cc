"""The absl side of every command: flags generated from the command's configuration
dataclass (`itgc_tf.options`), parsed into it, handed to a library function.

``--help`` (``-h``, ``--helpshort``) prints the command's description and its most
used flags, ``--helpfull`` every flag of the command (and none of the libraries'
own), both exit 0 before TensorFlow is imported (a command module and its
configuration import none: tests/test_cli_help.py checks every command). TensorFlow is
imported only to run the command; its log lines go to the run folder (`itgc_tf.cli.logs`).
"""
import os
import shutil
import sys
import textwrap

from absl import app, flags

from itgc_tf import options
from itgc_tf.cli import logs

_HELP = {"--help": "short", "-h": "short", "-?": "short", "--helpshort": "short",
         "--helpfull": "full"}
# TensorFlow's C++ logs below ERROR are off unless the user set a level, and a command
# process's native output is captured for the run folder's log: this module is imported
# before TensorFlow by every command.
logs.quiet_native_logs()
logs.capture_early()
# Options whose value names the folder a command writes its outputs (and logs/) into.
# Not itgc-prune's --output: it is written all or nothing and must not exist before.
_RUN_FOLDER_OPTIONS = ("model_dir", "export_dir")


def help_text(config_class, description, common=(), full=False):
    """The ``--help`` text: ``description``, then the ``common`` flags (or, ``full``,
    every flag of ``config_class``, by group)."""
    program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "command"
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    if program.endswith(".py") and spec is not None:  # python -m package.module
        program = "python -m " + spec.name.removesuffix(".__main__")
    lines = [f"usage: {program} [--flagfile=FILE] [--name=value ...]", ""]
    lines += [textwrap.dedent(description or "").strip(), ""]
    if full or not common:
        lines += options.help_lines(config_class)
    else:
        lines += ["Most used flags:", *options.help_lines(config_class, names=common,
                                                          grouped=False)]
        lines += ["", "--helpfull lists every flag of this command; --flagfile=FILE reads "
                  "flags from a file (later flags override it)."]
    return "\n".join(lines)


def _help_requested(argv):
    for arg in argv:
        if arg == "--":
            return None
        if arg in _HELP:
            return _HELP[arg]
    return None


def run_folder(config):
    """The folder the command writes into (its first ``_RUN_FOLDER_OPTIONS`` option that
    is set), or None."""
    values = options.flat(config)
    return next((values[name] for name in _RUN_FOLDER_OPTIONS if values.get(name)), None)


def run_app(config_class, main, required=(), description=None, common=()):
    """Define ``config_class``'s flags, mark ``required`` ones, parse, and run
    ``main(config)`` with the validated configuration and clear user errors.

    ``description`` (default: the docstring of ``main``'s module) and ``common`` (the
    names of the most used flags) make the ``--help`` text; help exits 0."""
    options.define_flags(config_class)
    kind = _help_requested(sys.argv[1:])
    if kind is not None:
        if description is None:
            description = sys.modules[main.__module__].__doc__
        print(help_text(config_class, description, common, full=kind == "full"))
        sys.exit(0)
    for name in required:
        flags.mark_flag_as_required(name)

    def run(argv):
        config = options.from_flags(config_class)
        with _claimed_logs(run_folder(config)):
            return main(config)

    app.run(main_with_user_errors(run))


class _claimed_logs:
    """`logs.run_logging` for ``folder``; when the command fails, a folder this command
    created that holds nothing but its logs is removed again (no half-made run folder)."""

    def __init__(self, folder):
        self._folder = folder
        self._created = folder is not None and not os.path.exists(folder)
        self._context = logs.run_logging(folder)

    def __enter__(self):
        return self._context.__enter__()

    def __exit__(self, *error):
        self._context.__exit__(*error)
        if error[0] is not None and self._created and os.path.isdir(self._folder) and not any(
                files for root, _, files in os.walk(self._folder)
                if os.path.relpath(root, self._folder).split(os.sep)[0] != "logs"):
            shutil.rmtree(self._folder, ignore_errors=True)
        return False


def _os_error_message(error):
    """One line naming the path and the fix of a file-system failure."""
    path = error.filename or "(path not given)"
    return (f"Cannot write or read {path}: {error.strerror or error}. Fix: make the folder "
            "writable (permissions, a read-only mount) or free disk space, or choose another "
            "path, then run again.")


def _fail(message):
    print(f"FATAL: {message}", file=sys.stderr)
    sys.exit(1)


def _user_message(error):
    """The one-line message of a user failure (None: a bug, shown with its traceback).
    TensorFlow's and the training modules' error types are looked at only when those
    modules are loaded (the error cannot come from them otherwise)."""
    if isinstance(error, (ValueError, FileNotFoundError, FileExistsError,
                          flags.ValidationError)):
        return str(error)
    training = [sys.modules.get(f"itgc_tf.training.{name}") for name in ("callbacks", "run_lock")]
    known = tuple(getattr(module, name) for module, name in zip(
        training, ("TrainingDivergedError", "RunFolderLockedError")) if module is not None)
    if known and isinstance(error, known):
        return str(error)
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(error, (tf.errors.PermissionDeniedError,
                                             tf.errors.ResourceExhaustedError)):
        return (f"{error.message}. Fix: make the folder writable or free disk (or device) "
                "memory, then run again.")
    if isinstance(error, OSError):  # permission denied, read-only folder, full disk
        return _os_error_message(error)
    return None


INTERRUPTED = 130  # exit status after Ctrl-C (128 + SIGINT, as shells report it)
INTERRUPTED_MESSAGE = (
    "Interrupted. Nothing is left half-written: outputs are written all or nothing and the "
    "newest complete checkpoint stays the latest. Run the same command again (training "
    "resumes from its newest checkpoint).")


def main_with_user_errors(function):
    """Wrap an absl ``main`` so user mistakes (configuration, missing or unwritable
    files, a locked run folder) and a diverged run print one message and exit 1, and
    Ctrl-C prints one line and exits `INTERRUPTED`: no traceback and no flag-help dump."""

    def main(argv):
        try:
            return function(argv)
        except KeyboardInterrupt:
            print(INTERRUPTED_MESSAGE, file=sys.stderr)
            sys.exit(INTERRUPTED)
        except Exception as error:  # noqa: BLE001 -- re-raised unless a user failure
            message = _user_message(error)
            if message is None:
                raise
            _fail(message)
    return main
