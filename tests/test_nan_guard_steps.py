"""--skip_nonfinite_steps inside the train steps (itgc_tf.training.distributed):
a non-finite update is not applied (no Adam moment or iteration moves), is
counted, and stays out of the trackers; one replica's NaN skips every replica."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import toy_distiller, toy_pairs
from itgc_tf.models.discriminators import n_layer_discriminator
from itgc_tf.models.unet import unet_generator
from itgc_tf.training.teachers import Pix2PixTeacher


def _pix2pix():
    teacher = Pix2PixTeacher(unet_generator(3, 3, 4, num_downs=4),
                             n_layer_discriminator(6, ndf=4, n_layers=2), skip_nonfinite_steps=True)
    teacher.compile()  # Adam: a zero-gradient update would still move it
    return teacher


def _batches(nan_example=None, n=4, size=16):
    """Two batches of n; the first holds a NaN target in example ``nan_example``."""
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2 * n, size, size, 3)).astype("float32")
    b = -a
    if nan_example is not None:
        b[nan_example, 0, 0, 0] = np.nan
    return tf.data.Dataset.from_tensor_slices({"A": a, "B": b}).batch(n)


def inject_nan_student_loss(distiller, at_step):
    """Fault injection: the student loss (total only) of training step ``at_step`` of
    the run (from 1) is multiplied by NaN. Wraps the instance's ``_student_loss``
    before its first (traced) step."""
    student_loss = distiller._student_loss

    def nan_at_step(ctx, pair, t_neg):
        loss, terms = student_loss(ctx, pair, t_neg)
        return loss * tf.where(distiller.train_steps + 1 == at_step, float("nan"), 1.0), terms

    distiller._student_loss = nan_at_step
    return distiller


def _distiller(vem_weight=0.1, nan_at_step=None, **values):
    """kd (+ VEM) toy Distiller of U-Net 16 generators built by the factory, with
    flag-named ``values`` (e.g. skip_nonfinite_steps), its student loss NaN at step
    ``nan_at_step``."""
    distiller = toy_distiller("kd", vem_weight=vem_weight, teacher_net="unet_16",
                              teacher_width=4, student_netG="unet_16", student_ngf=2,
                              langevin_steps=2, **values)
    return distiller if nan_at_step is None else inject_nan_student_loss(distiller, nan_at_step)


def _state(model):
    return [v.numpy().copy() for v in model.trainable_variables + model.g_optimizer.variables
            + model.d_optimizer.variables]


def _fit_first_batch(teacher, data):
    before = _state(teacher)
    history = teacher.fit(data.take(1), epochs=1, verbose=0, shuffle=False).history
    return before, history


def test_teacher_trains_then_skips_a_nan_batch_then_trains_again():
    """One teacher (one traced step): a finite batch, a batch with a NaN target, a
    finite batch again."""
    teacher = _pix2pix()
    before, history = _fit_first_batch(teacher, _batches())
    trained = _state(teacher)
    assert not all(np.array_equal(x, y) for x, y in zip(before, trained))
    assert history["skipped_steps"] == [0.0]
    assert all(np.isfinite(v).all() for v in history.values())
    assert int(teacher.g_optimizer.iterations.numpy()) == 1
    assert int(teacher.skipped_steps.numpy()) == 0

    before, history = _fit_first_batch(teacher, _batches(nan_example=0))
    after = _state(teacher)
    assert all(np.array_equal(x, y) for x, y in zip(before, after))  # no moment, no iteration
    assert history["skipped_steps"] == [1.0]
    # A skipped step leaves the trackers empty (0), never NaN.
    assert all(np.isfinite(v).all() for v in history.values())
    assert int(teacher.g_optimizer.iterations.numpy()) == 1

    teacher.fit(_batches().skip(1), epochs=1, verbose=0, shuffle=False)  # a finite batch trains
    assert not all(np.array_equal(x, y) for x, y in zip(after, _state(teacher)))
    assert int(teacher.g_optimizer.iterations.numpy()) == 2
    assert int(teacher.skipped_steps.numpy()) == 1


def test_one_replicas_nan_skips_the_update_on_every_replica(two_replica_strategy):
    """Example 3 of the global batch of 4 is on replica 1 only: replica 0's own
    loss is finite, yet no replica applies the (NaN) summed gradients."""
    with two_replica_strategy.scope():
        teacher = _pix2pix()
    before, history = _fit_first_batch(teacher, _batches(nan_example=3))
    assert all(np.array_equal(x, y) for x, y in zip(before, _state(teacher)))
    assert history["skipped_steps"] == [1.0]
    for variable in teacher.trainable_variables[:3]:
        replicas = two_replica_strategy.experimental_local_results(variable.value)
        assert all(np.array_equal(r.numpy(), replicas[0].numpy()) for r in replicas)


def test_distiller_skips_only_the_nan_update_under_two_replicas(two_replica_strategy):
    """Injected NaN student loss at step 1: the critic and the discriminator still
    update (their losses are finite), the student does not; the count is 1."""
    with two_replica_strategy.scope():
        distiller = _distiller(skip_nonfinite_steps=True, nan_at_step=1)
        distiller.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    nets = {"student": distiller.student, "critic": distiller.critic,
            "discriminator": distiller.discriminator}
    before = {k: [v.numpy().copy() for v in n.trainable_variables] for k, n in nets.items()}
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(4)).batch(4)
    history = distiller.fit(data, epochs=1, verbose=0, shuffle=False).history
    changed = {k for k, n in nets.items()
               if any(not np.array_equal(b, v.numpy())
                      for b, v in zip(before[k], n.trainable_variables))}
    assert changed == {"critic", "discriminator"}
    assert history["skipped_steps"] == [1.0]
    assert int(distiller.student_optimizer.iterations.numpy()) == 0
    assert int(distiller.train_steps.numpy()) == 1
    assert all(np.isfinite(v).all() for v in history.values())


def test_without_skipping_the_nan_reaches_the_logs():
    distiller = _distiller(0.0, nan_at_step=2)
    distiller.compile(keras.optimizers.SGD(0.1), keras.optimizers.SGD(0.1))
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(4)).batch(2)
    batch_logs = []
    log = keras.callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch_logs.append(logs["student_loss"]))
    history = distiller.fit(data, epochs=1, verbose=0, callbacks=[log]).history
    assert np.isfinite(batch_logs[0]) and np.isnan(batch_logs[1])  # step 2, as injected
    assert "skipped_steps" not in history
    assert np.isfinite(history["loss_recon"]).all()  # the injected fault is in the total only
