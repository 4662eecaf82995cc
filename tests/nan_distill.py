"""Fault injection for the NaN-guard tests: `with_nan_batch` makes training batch
number NAN_AT_STEP of a run (from 1) hold NaN inputs (resumed runs see the same batch).
Patch it over ``itgc_tf.training.runner.training_data`` (pytest's monkeypatch)."""
import tensorflow as tf


def with_nan_batch(training_data, nan_at_step):
    """``runner.training_data`` whose dataset has NaN ``A`` images at ``nan_at_step``."""
    def patched(data, schedule):
        dataset_fn, info, steps = training_data(data, schedule)

        def poison(index, batch):
            nan = tf.where(index == nan_at_step - 1, float("nan"), 0.0)
            return dict(batch, A=batch["A"] + nan)
        return lambda: dataset_fn().enumerate().map(poison), info, steps
    return patched
