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

Without a run folder, C++ logs below ERROR are silenced with ``TF_CPP_MIN_LOG_LEVEL=2``
(set before TensorFlow is imported; a value the user set is kept).
"""
import contextlib
import logging
import os
import pathlib
import sys

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


@contextlib.contextmanager
def native_output_to(log_path):
    """Within the block, native writes to file descriptors 1 and 2 go to ``log_path``
    (appended); Python's sys.stdout and sys.stderr keep writing to the console."""
    streams = (("stdout", 1), ("stderr", 2))
    for name, _ in streams:
        getattr(sys, name).flush()
    saved = {fd: os.dup(fd) for _, fd in streams}
    originals = {name: getattr(sys, name) for name, _ in streams}
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for name, fd in streams:
            setattr(sys, name, open(saved[fd], "w", buffering=1, closefd=False,
                                    encoding=originals[name].encoding, errors="backslashreplace"))
            os.dup2(log_fd, fd)
        yield
    finally:
        for name, fd in streams:
            getattr(sys, name).flush()
            setattr(sys, name, originals[name])
            os.dup2(saved[fd], fd)
            os.close(saved[fd])
        os.close(log_fd)


@contextlib.contextmanager
def run_logging(run_folder):
    """The routing above for one command whose outputs live in ``run_folder`` (None:
    console only), undone on exit. Yields the log file's path (or None)."""
    if run_folder is None:
        quiet_native_logs()
        undo = route_python_logs(None)
        try:
            yield None
        finally:
            undo()
        return
    log_dir = pathlib.Path(run_folder) / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    log_path = log_dir / LOG_NAME
    with native_output_to(log_path):
        undo = route_python_logs(log_path)
        try:
            yield log_path
        finally:
            undo()
