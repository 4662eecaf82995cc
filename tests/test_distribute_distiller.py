"""The Distiller under tf.distribute: one step on 1 replica equals one step on 2
logical-CPU replicas (global batch 4), and mixed_float16 keeps the VEM float32."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import toy_distiller, toy_pairs

NOT_REPLICA_INVARIANT = ("student_grad_norm", "critic_grad_norm", "d_grad_norm")


def _distiller():
    """kd: student, frozen teacher, student discriminator, energy critic (VEM, no
    Langevin noise: the replicas' chains get different noise seeds)."""
    return toy_distiller("kd", vem_weight=0.5, teacher_net="unet_16", teacher_width=8,
                         student_netG="unet_16", student_ngf=4, langevin_steps=3,
                         langevin_step_size=1.0, langevin_noise=0.0)


def _compile_sgd(distiller):
    # SGD: updates are linear in the gradients (Adam amplifies last-bit differences in
    # the biases before instance norm, whose true gradient is 0).
    distiller.compile(keras.optimizers.SGD(0.05), keras.optimizers.SGD(0.05),
                      critic_optimizer=keras.optimizers.SGD(0.05))


def test_one_step_on_two_replicas_equals_one_replica(two_replica_strategy):
    single = _distiller()
    _compile_sgd(single)
    with two_replica_strategy.scope():
        mirrored = _distiller()
        _compile_sgd(mirrored)
    initial = [w.numpy() for w in single.weights]
    for target, value in zip(mirrored.weights, initial):
        target.assign(value)
    nets = {"student": single.student, "critic": single.critic,
            "discriminator": single.discriminator}
    before = {k: [w.numpy() for w in net.trainable_weights] for k, net in nets.items()}
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(4)).batch(4)  # 2 per replica
    history = [model.fit(data, epochs=1, verbose=0, shuffle=False).history
               for model in (single, mirrored)]
    for name, values in history[0].items():
        if name not in NOT_REPLICA_INVARIANT:
            np.testing.assert_allclose(history[1][name], values, rtol=1e-5, atol=1e-7,
                                       err_msg=name)
    worst = 0.0
    for a, b in zip(single.weights, mirrored.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), atol=1e-5, err_msg=a.path)
        worst = max(worst, float(np.abs(b.numpy() - a.numpy()).max()))
    print(f"max |2 replicas - 1 replica| over all weights after one step: {worst:.2e}")
    moved = {k: max(float(np.abs(w.numpy() - v).max())
                    for w, v in zip(net.trainable_weights, before[k])) for k, net in nets.items()}
    assert min(moved.values()) > 1e-4, moved  # every trained network really moved


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def test_mixed_float16_step_keeps_the_critic_and_langevin_float32(mixed_float16):
    distiller = _distiller()
    scaled = lambda: keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))  # noqa: E731
    distiller.compile(scaled(), scaled())
    assert distiller.student.compute_dtype == "float16"
    assert {layer.compute_dtype for layer in distiller.critic._flatten_layers()} == {"float32"}
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(8)).batch(4)
    student_before = [w.numpy().copy() for w in distiller.student.trainable_weights]
    history = distiller.fit(data, epochs=2, verbose=0, shuffle=False).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    assert any(not np.array_equal(b, w.numpy())
               for b, w in zip(student_before, distiller.student.trainable_weights))
    x = next(iter(data))["A"]
    s = distiller.student(x)
    t_out, _ = distiller._teacher_forward(x)
    assert s.dtype == tf.float16
    assert distiller.critic((t_out[0], s)).dtype == tf.float32
    assert distiller.langevin_sample(s).dtype == tf.float32
