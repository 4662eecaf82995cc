"""Where a command's log lines go: the console shows the command's own output
(stage headers, Keras progress, summaries) and warnings; TensorFlow's and absl's
informational chatter goes to ``<run folder>/logs/tf.log``.

- Python logging (absl, ``tensorflow``, Keras): WARNING and above on the console,
  everything from INFO up in the log file.
- TensorFlow's C++ logs and other native prints (``I0000 ... cpu_feature_guard``,
  ``E0000 ... failed call to cuInit``, the TFLite converter's tensor lists, the
  XNNPACK delegate notice) are written by native code to the process's stdout and
  stderr file descriptors: `native_output_to` points those at the log file while
  Python's ``sys.stdout`` / ``sys.stderr`` (prints, progress bars, warnings,
  tracebacks) stay on the console. Python warnings (DeprecationWarning included)
  are never filtered here.

A command process captures native output from the import of `itgc_tf.cli.app` on
(`capture_early`: TensorFlow's import-time lines ignore ``TF_CPP_MIN_LOG_LEVEL``)
and moves it into the log once the run folder is known. Without a run folder only
C++ errors reach the console, and C++ logs below ERROR are silenced with
``TF_CPP_MIN_LOG_LEVEL=2`` (set before TensorFlow is imported; a user's value is kept).
"""
import atexit
import contextlib
import logging
import os
import pathlib
import re
import sys
import tempfile

LOG_NAME = "tf.log"


def quiet_native_logs():
    """Set ``TF_CPP_MIN_LOG_LEVEL=2`` (errors only) unless the user chose a level; has an
    effect only before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def route_python_logs(log_path=None):
    """Console (the current ``sys.stderr``): WARNING and above; ``log_path`` (if given):
    INFO and above, appended. Returns a function that undoes this."""
    from absl import logging as absl_logging

    absl_handler = absl_logging.get_absl_handler()
    python_handler = absl_handler.python_handler
    before = (absl_handler.level, python_handler.stream, absl_logging.get_verbosity(),
              logging.getLogger("tensorflow").level)
    absl_handler.setLevel(logging.WARNING)
    python_handler.stream = sys.stderr
    logging.getLogger("tensorflow").setLevel(logging.INFO if log_path else logging.WARNING)
    absl_logging.set_verbosity(absl_logging.INFO if log_path else absl_logging.WARNING)
    handler = None
    if log_path is not None:
        handler = logging.FileHandler(log_path)
        handler.setLevel(logging.INFO)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s "
                                              "%(filename)s:%(lineno)d] %(message)s"))
        logging.getLogger().addHandler(handler)

    def undo():
        absl_handler.setLevel(before[0])
        python_handler.stream = before[1]
        absl_logging.set_verbosity(before[2])
        logging.getLogger("tensorflow").setLevel(before[3])
        if handler is not None:
            logging.getLogger().removeHandler(handler)
            handler.close()
    return undo


class NativeCapture:
    """Native writes to file descriptors 1 and 2 go to a file while Python's sys.stdout
    and sys.stderr keep writing to the console (`start`, `switch_to`, `stop`)."""

    def __init__(self):
        self.path = None
        self._saved, self._originals, self._fd = {}, {}, None

    def start(self, path):
        streams = (("stdout", 1), ("stderr", 2))
        for name, fd in streams:
            getattr(sys, name).flush()
            self._saved[fd] = os.dup(fd)
            self._originals[name] = getattr(sys, name)
            setattr(sys, name, open(self._saved[fd], "w", buffering=1, closefd=False,
                                    encoding=getattr(self._originals[name], "encoding", None)
                                    or "utf-8", errors="backslashreplace"))
        self.switch_to(path)

    def switch_to(self, path):
        """Append from now on to ``path`` (the lines so far stay where they are)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        for target in (1, 2):
            os.dup2(fd, target)
        if self._fd is not None:
            os.close(self._fd)
        self.path, self._fd = str(path), fd

    def stop(self):
        for (name, original), fd in zip(self._originals.items(), (1, 2)):
            getattr(sys, name).flush()
            setattr(sys, name, original)
            os.dup2(self._saved[fd], fd)
            os.close(self._saved[fd])
        os.close(self._fd)
        self._saved, self._originals, self._fd = {}, {}, None


@contextlib.contextmanager
def native_output_to(log_path):
    """Within the block, native writes to file descriptors 1 and 2 go to ``log_path``
    (appended); Python's sys.stdout and sys.stderr keep writing to the console."""
    capture = NativeCapture()
    capture.start(log_path)
    try:
        yield
    finally:
        capture.stop()


# The capture a command process starts before TensorFlow is imported (`capture_early`),
# into a temporary file until the run folder is known.
_early = None
_SHOWN_WITHOUT_RUN_FOLDER = re.compile(r"^[EF]\d{4} ")  # C++ errors and fatals


def is_command_process():
    """Whether this process runs an itgc_tf command (python -m itgc_tf.<command> or an
    itgc-* console script), not a library user or a test."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    script = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return (spec is not None and spec.name.startswith("itgc_tf.")) or script.startswith("itgc-")


def capture_early():
    """In a command process, send native output to a temporary file from now on (call it
    before TensorFlow is imported: its import-time C++ lines ignore TF_CPP_MIN_LOG_LEVEL);
    `run_logging` moves it into the run folder's log."""
    global _early
    if _early is not None or not is_command_process():
        return
    fd, path = tempfile.mkstemp(prefix="itgc_tf_native_", suffix=".log")
    os.close(fd)
    _early = NativeCapture()
    _early.start(path)
    atexit.register(_end_early_capture, None)


def _end_early_capture(log_path):
    """Stop the early capture: its lines are appended to ``log_path``, or (None) only its
    C++ errors are shown on the console; the temporary file is removed."""
    global _early
    if _early is None:
        return
    capture, _early = _early, None
    capture.stop()
    with open(capture.path, errors="replace") as f:
        lines = f.readlines()
    os.remove(capture.path)
    if log_path is not None:
        with open(log_path, "a") as log:
            log.writelines(lines)
    else:
        sys.stderr.writelines(line for line in lines if _SHOWN_WITHOUT_RUN_FOLDER.match(line))


@contextlib.contextmanager
def run_logging(run_folder):
    """The routing above for one command whose outputs live in ``run_folder`` (None:
    console only), undone on exit. Yields the log file's path (or None)."""
    if run_folder is None:
        quiet_native_logs()
        _end_early_capture(None)
        undo = route_python_logs(None)
        try:
            yield None
        finally:
            undo()
        return
    log_dir = pathlib.Path(run_folder) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / LOG_NAME
    _end_early_capture(log_path)
    with native_output_to(log_path):
        undo = route_python_logs(log_path)
        try:
            yield log_path
        finally:
            undo()
