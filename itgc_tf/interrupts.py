"""Ctrl-C at safe points.

Python raises KeyboardInterrupt wherever SIGINT lands, also while TensorFlow's C++ code
calls back into Python; a training command stopped that way crashed with SIGSEGV in 3 of
65 tries (tests/test_resume_cli.py's run; docs/RELIABILITY.md, C1). Within
`deferred_interrupt` a Ctrl-C only sets a flag, which the code checks where stopping is
safe (after a training step: `itgc_tf.training.callbacks.StopOnInterrupt`; after a
study cell's process ended: `itgc_tf.study.runner`). A second Ctrl-C raises at once.
"""
import contextlib
import dataclasses
import signal
import sys
import threading


@dataclasses.dataclass
class Interrupt:
    """Whether Ctrl-C was pressed within `deferred_interrupt`."""
    requested: bool = False


@contextlib.contextmanager
def deferred_interrupt(note=None):
    """Yields an `Interrupt` whose ``requested`` a Ctrl-C (SIGINT) sets instead of raising
    KeyboardInterrupt; the first one also prints ``note`` (if any) to stderr and puts
    the previous handler back, so that a second one raises at once. The previous handler
    is back on exit. Only in the main thread and where Python's own handler is installed
    (an ignored SIGINT stays ignored, a custom handler stays); elsewhere the flag stays
    False and Ctrl-C behaves as before."""
    interrupt = Interrupt()
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield interrupt
        return

    def request(signum, frame):
        interrupt.requested = True
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if note:
            try:  # Python's stderr: a command points file descriptor 2 at its log
                print(f"\n{note}", file=sys.stderr, flush=True)
            except RuntimeError:  # the signal came during a write to stderr
                pass

    signal.signal(signal.SIGINT, request)
    try:
        yield interrupt
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
