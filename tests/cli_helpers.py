"""Running an itgc_tf command inside the test process: the same ``run()`` (absl flag
parsing, `itgc_tf.cli.app.run_app`, the run folder's logs) that ``python -m MODULE``
runs, without paying a TensorFlow import per command (~5 CPU-s on this machine).

`run_command` returns what a subprocess run would: the exit status (``sys.exit`` code,
or 1 with the traceback on stderr for an uncaught exception) and everything written
to the process's stdout and stderr (file descriptors 1 and 2, Python and native).
Between commands the global state a command sets is put back: its absl flags are
removed (the next command defines its own, with its defaults), the Keras dtype policy
and TensorFlow's op determinism are restored, and the Keras session is cleared
(without a forced garbage collection).

Tests of what only a separate process shows (import-time logs, ``--help`` without
TensorFlow, exit codes of the entry points, signals, several workers) keep using
`subprocess`."""
import contextlib
import importlib
import os
import pathlib
import subprocess
import sys
import tempfile
import traceback

from absl import flags

from itgc_tf import options

ROOT = pathlib.Path(__file__).resolve().parents[1]
# ``python -m NAME`` runs this module's ``run()``.
_ENTRY_MODULES = {"itgc_tf.export": "itgc_tf.export.__main__"}


def _remove_command_flags():
    """Forget the itgc_tf option flags a command defined on the global FLAGS and every
    parsed value."""
    for name in list(flags.FLAGS):
        module = flags.FLAGS.find_module_defining_flag(name) or ""
        if name in flags.FLAGS and module.startswith(options._PREFIX):
            delattr(flags.FLAGS, name)
    flags.FLAGS.unparse_flags()


@contextlib.contextmanager
def _process_output():
    """Within the block, file descriptors 1 and 2 (and sys.stdout / sys.stderr on them)
    write to two temporary files; yields a function returning their text so far."""
    files = [tempfile.TemporaryFile() for _ in range(2)]
    streams = (sys.stdout, sys.stderr)
    for stream in streams:
        stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        for fd, file in zip((1, 2), files):
            os.dup2(file.fileno(), fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)

        def text():
            sys.stdout.flush()
            sys.stderr.flush()
            result = []
            for file in files:
                file.seek(0)
                result.append(file.read().decode(errors="replace"))
            return result
        yield text
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = streams
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)
        for file in files:
            file.close()


@contextlib.contextmanager
def _restored_global_state():
    import keras
    from tensorflow.python.framework import config as tf_config  # op determinism's switch
    policy = keras.mixed_precision.global_policy()
    determinism = tf_config.is_op_determinism_enabled()
    cwd = os.getcwd()
    argv = sys.argv
    _remove_command_flags()
    try:
        yield
    finally:
        sys.argv = argv
        os.chdir(cwd)
        _remove_command_flags()
        keras.mixed_precision.set_global_policy(policy)
        if not determinism:  # no public counterpart of enable_op_determinism
            tf_config.disable_op_determinism()
        # Without Keras' full garbage collection: a worker holds 1-3 M objects late in
        # the suite (TensorFlow's registry of graph-mode custom gradients keeps every traced
        # graph alive), so each collection took ~0.5-1 s; Python's own collector still runs.
        keras.backend.clear_session(free_memory=False)


def run_command(module, *args, expect_ok=True):
    """``python -m MODULE ARGS`` run in this process (from the repository root) ->
    `subprocess.CompletedProcess` with returncode, stdout and stderr (text).
    ``expect_ok``: raise AssertionError with the output unless it exits 0."""
    run = importlib.import_module(_ENTRY_MODULES.get(module, module)).run
    argv = [module, *map(str, args)]
    with _restored_global_state(), _process_output() as output:
        sys.argv = list(argv)
        os.chdir(ROOT)
        try:
            run()
            code = 0
        except SystemExit as exit:
            code = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
            if not isinstance(exit.code, (int, type(None))):
                print(exit.code, file=sys.stderr)
        except Exception:  # noqa: BLE001 -- an uncaught error: a process would print and exit 1
            traceback.print_exc()
            code = 1
        stdout, stderr = output()
    result = subprocess.CompletedProcess(argv, code, stdout, stderr)
    if expect_ok and code != 0:
        raise AssertionError(f"{module} failed ({code}):\n{stdout[-3000:]}\n{stderr[-5000:]}")
    return result
