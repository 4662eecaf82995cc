"""Ctrl-C at safe points: `deferred_interrupt` turns the first SIGINT into a flag (the
second raises), and `StopOnInterrupt` ends training after the step it came in."""
import os
import signal
import time

import keras
import numpy as np
import pytest

from itgc_tf.interrupts import Interrupt, deferred_interrupt
from itgc_tf.training.callbacks import StopOnInterrupt


@pytest.fixture
def python_sigint_handler():
    """Python's own SIGINT handler for the test (a test worker may ignore SIGINT)."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


def _sigint():
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(0.05)  # the handler runs in this thread at the next bytecode


def test_the_first_ctrl_c_sets_the_flag_and_the_second_raises(python_sigint_handler, capfd):
    with deferred_interrupt("stopping after this step") as interrupt:
        assert not interrupt.requested
        _sigint()
        assert interrupt.requested  # no KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            _sigint()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert capfd.readouterr().err == "\nstopping after this step\n"
    with pytest.raises(KeyboardInterrupt):  # outside it, Ctrl-C raises as usual
        _sigint()


def test_an_ignored_ctrl_c_stays_ignored(python_sigint_handler):
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with deferred_interrupt() as interrupt:
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        _sigint()
    assert not interrupt.requested and signal.getsignal(signal.SIGINT) is signal.SIG_IGN


def test_training_stops_after_the_step_ctrl_c_came_in():
    interrupt, ends = Interrupt(), []

    def step_end(batch, logs):
        ends.append(batch)
        if batch == 2:  # Ctrl-C during the third step
            interrupt.requested = True

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((16, 2), "float32")
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, x[:, :1], batch_size=2, epochs=3, verbose=0,
                  callbacks=[keras.callbacks.LambdaCallback(on_train_batch_end=step_end),
                             StopOnInterrupt(interrupt)])
    assert ends == [0, 1, 2]  # the callbacks before it saw the step end; no step after it
