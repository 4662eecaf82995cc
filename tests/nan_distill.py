"""``PYTHONPATH=tests python -m nan_distill NAN_AT_STEP ITGC_DISTILL_FLAGS...``: `itgc_tf.distill`
whose training batch number NAN_AT_STEP of the run (from 1) holds NaN inputs (fault
injection for tests/test_nan_guard_cli.py; resumed runs see the same batch)."""
import sys

import tensorflow as tf

from itgc_tf import distill
from itgc_tf.training import runner


def _with_nan_batch(training_data, nan_at_step):
    def patched(data, schedule):
        dataset_fn, info, steps = training_data(data, schedule)

        def poison(index, batch):
            nan = tf.where(index == nan_at_step - 1, float("nan"), 0.0)
            return dict(batch, A=batch["A"] + nan)
        return lambda: dataset_fn().enumerate().map(poison), info, steps
    return patched


if __name__ == "__main__":
    runner.training_data = _with_nan_batch(runner.training_data, int(sys.argv.pop(1)))
    distill.run()
