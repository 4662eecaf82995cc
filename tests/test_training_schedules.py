"""LinearDecay: the originals' linear learning-rate policy."""
import keras
import numpy as np
import pytest

from itgc_tf.training.schedules import LinearDecay


def test_values_follow_the_original_lambda_rule():
    # n_epochs=3, n_epochs_decay=4: factors per epoch from lambda_rule
    # 1 - max(0, epoch + 1 - 3) / 5.
    factors = [1.0, 1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0, 0.0]
    schedule = LinearDecay(2e-4, n_epochs=3, n_epochs_decay=4,
                           steps_per_epoch=5)
    for step in range(45):
        assert float(schedule(step)) == pytest.approx(
            2e-4 * factors[step // 5], rel=1e-6, abs=1e-12), step


def test_config_round_trip_and_keras_serialisation():
    schedule = LinearDecay(1e-3, 100, 100, 400)
    clone = LinearDecay.from_config(schedule.get_config())
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule))
    assert isinstance(restored, LinearDecay)
    for step in (0, 39_999, 40_000, 79_999):
        assert float(clone(step)) == float(restored(step)) == float(
            schedule(step))


def test_drives_an_optimizer():
    optimizer = keras.optimizers.Adam(LinearDecay(1.0, 1, 1, 10))
    variable = keras.Variable(np.zeros(1, "float32"))
    optimizer.build([variable])
    optimizer.iterations.assign(10)  # epoch 1: factor 1 - 1/2
    assert float(optimizer.learning_rate) == pytest.approx(0.5)


@pytest.mark.parametrize("args", [(1e-3, 1, 1, 0), (1e-3, -1, 1, 1),
                                  (1e-3, 1, -2, 1)])
def test_invalid_arguments(args):
    with pytest.raises(ValueError, match="steps_per_epoch >= 1"):
        LinearDecay(*args)
