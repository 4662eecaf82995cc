"""Teachers under a 2-replica MirroredStrategy (two logical CPUs)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.discriminators import n_layer_discriminator
from itgc_tf.models.resnet import resnet_generator
from itgc_tf.models.unet import unet_generator
from itgc_tf.training.teachers import CycleGANTeacher, Pix2PixTeacher


def _data(n=8, size=16, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1, 1, (n, size, size, 3)).astype("float32")
    return tf.data.Dataset.from_tensor_slices({"A": a, "B": -a})


def _pix2pix():
    # Instance norm and no dropout: per-example, deterministic.
    return Pix2PixTeacher(unet_generator(3, 3, 4, num_downs=4),
                          n_layer_discriminator(6, ndf=4, n_layers=2))


def _compile(teacher):
    # SGD: updates are linear in the gradients, so a loss averaged over the
    # local instead of the global batch would show as a 2x larger step
    # (Adam would normalise it away).
    teacher.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))


def test_pix2pix_two_replicas_equal_one(two_replica_strategy):
    single = _pix2pix()
    _compile(single)
    with two_replica_strategy.scope():
        mirrored = _pix2pix()
        _compile(mirrored)
    initial = [w.numpy() for w in single.weights]
    for target, value in zip(mirrored.weights, initial):
        target.assign(value)
    data = _data().batch(4)  # global batch 4: 2 examples per replica
    history = [model.fit(data, epochs=2, verbose=0, shuffle=False).history
               for model in (single, mirrored)]
    for name in history[0]:
        np.testing.assert_allclose(history[1][name], history[0][name],
                                   rtol=1e-5, err_msg=name)
    for a, b in zip(single.weights, mirrored.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5,
                                   err_msg=a.path)
    moved = max(np.abs(w.numpy() - v).max()
                for w, v in zip(single.weights, initial))
    assert moved > 1e-3  # the comparison above is not between idle models


@pytest.mark.slow  # traces the replicated CycleGAN step
def test_cyclegan_trains_under_a_strategy(two_replica_strategy):
    with two_replica_strategy.scope():
        teacher = CycleGANTeacher(
            resnet_generator(3, 3, 4, 1), resnet_generator(3, 3, 4, 1),
            n_layer_discriminator(3, ndf=4, n_layers=1),
            n_layer_discriminator(3, ndf=4, n_layers=1), pool_size=3, seed=0)
        teacher.compile()
    history = teacher.fit(_data().batch(4), epochs=2, verbose=0,
                          shuffle=False).history
    assert all(np.isfinite(v).all() for v in history.values())
    # Each replica keeps its own history; the first one filled up.
    assert teacher.pool_b.num_images.numpy() == 3
