"""FusedAdam (Keras' Adam as one ResourceApplyAdam per variable) and TorchAdam
(PyTorch's epsilon placement): values against Keras' Adam and a NumPy PyTorch update,
graphs, replicas, configs."""
import collections

import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.training.adam import FusedAdam, TorchAdam


def _torch_adam(w, grads, lr, b1, b2, eps):
    """torch.optim.Adam's update, written from its documentation, in float64."""
    m = np.zeros_like(w)
    v = np.zeros_like(w)
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        w = w - lr / (1 - b1 ** t) * m / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return w


@pytest.mark.parametrize("grad_scale", [1.0, 1e-7])
def test_torch_adam_matches_pytorch_semantics(grad_scale):
    """At gradients near eps the epsilon placement decides the step size."""
    rng = np.random.default_rng(0)
    w0 = rng.normal(size=(3, 4))
    grads = [grad_scale * rng.normal(size=(3, 4)) for _ in range(5)]
    var = tf.Variable(w0, dtype=tf.float32)
    optimizer = TorchAdam(1e-3, beta_1=0.0, beta_2=0.999, epsilon=1e-8)
    for g in grads:
        optimizer.apply([tf.constant(g, tf.float32)], [var])
    expected = _torch_adam(w0, grads, 1e-3, 0.0, 0.999, 1e-8)
    np.testing.assert_allclose(var.numpy(), expected, rtol=0, atol=1e-6)
    if grad_scale < 1e-6:  # Keras' own Adam with the same eps takes other steps here
        keras_var = tf.Variable(w0, dtype=tf.float32)
        keras_adam = tf.keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.999, epsilon=1e-8)
        for g in grads:
            keras_adam.apply([tf.constant(g, tf.float32)], [keras_var])
        assert np.abs(keras_var.numpy() - expected).max() > 1e-4


def test_torch_adam_round_trips_its_config():
    optimizer = TorchAdam(2e-4, beta_1=0.0)
    clone = TorchAdam.from_config(optimizer.get_config())
    assert (clone.beta_1, clone.epsilon) == (0.0, 1e-8)
    with pytest.raises(ValueError, match="amsgrad"):
        TorchAdam(amsgrad=True)


def _train(optimizer, steps=6, strategy=None):
    """Variables and slots after ``steps`` updates of three variables by ``optimizer`` in
    one tf.function (under ``strategy``: each replica's half of the batch gradient)."""
    rng = np.random.default_rng(1)
    shapes = [(3, 4), (5,), (2, 2, 3, 4)]
    w0 = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[rng.normal(size=s).astype("float32") for s in shapes] for _ in range(steps)]
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        variables = [keras.Variable(w) for w in w0]
        optimizer = optimizer()
        optimizer.build(variables)

    def replica_step(g):  # each replica's share g / replicas, summed by the optimiser
        optimizer.apply([x / strategy.num_replicas_in_sync for x in g], variables)

    step = tf.function(lambda g: strategy.run(replica_step, args=(g,)))

    for g in grads:
        step([tf.constant(x) for x in g])
    return [v.numpy() for v in variables + optimizer._momentums + optimizer._velocities]


def _schedule():
    return keras.optimizers.schedules.ExponentialDecay(1e-2, 2, 0.5)


@pytest.mark.parametrize("amsgrad", [False, True])
def test_fused_adam_equals_keras_adam(amsgrad):
    """Same variables and slots as Keras' Adam (float32 rounding: the fused kernel may
    use fused multiply-adds), with a learning-rate schedule; amsgrad takes Keras' own
    update."""
    options = dict(learning_rate=_schedule(), beta_1=0.5, beta_2=0.99, amsgrad=amsgrad)
    got = _train(lambda: FusedAdam(**options))
    want = _train(lambda: keras.optimizers.Adam(**options))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    assert not np.allclose(got[0], _train(lambda: FusedAdam(1e-3))[0])  # the values matter


def test_fused_adam_is_one_kernel_per_variable():
    variables = [keras.Variable(tf.ones(s)) for s in [(3, 4), (5,), (2, 3)]]

    def update_ops(optimizer):
        optimizer.build(variables)
        grads = [tf.TensorSpec(v.shape, tf.float32) for v in variables]
        graph = tf.function(lambda g: optimizer.apply(g, variables)).get_concrete_function(
            grads).graph
        return collections.Counter(op.type for op in graph.get_operations())

    fused, plain = update_ops(FusedAdam()), update_ops(keras.optimizers.Adam())
    assert fused["ResourceApplyAdam"] == len(variables) and plain["ResourceApplyAdam"] == 0
    assert fused["AssignSubVariableOp"] == 0 and plain["AssignSubVariableOp"] == len(variables)
    assert sum(fused.values()) < 0.6 * sum(plain.values())


def test_fused_adam_builds_its_scalars_once_per_update():
    """The kernel's scalars (beta powers, learning rate, ...) are built once per update,
    not per variable; a second update in the same graph (a Distiller step with n_dis = 2,
    here inside a tf.cond as when skipping non-finite steps) reads the next step count."""
    rng = np.random.default_rng(2)
    shapes = [(3, 4), (5,), (2, 3), (4,)]
    w0 = [rng.normal(size=s).astype("float32") for s in shapes]
    grads = [[tf.constant(rng.normal(size=s).astype("float32")) for s in shapes]
             for _ in range(2)]

    def two_updates(make):
        variables = [keras.Variable(w) for w in w0]
        optimizer = make()
        optimizer.build(variables)

        @tf.function
        def step(first, second):
            optimizer.apply(first, variables)
            tf.cond(tf.reduce_all(tf.math.is_finite(second[0])),
                    lambda: optimizer.apply(second, variables), lambda: None)

        step(*grads)
        ops = collections.Counter(op.type for op in step.get_concrete_function(
            *grads).graph.get_operations())
        return [v.numpy() for v in variables], ops

    options = dict(learning_rate=_schedule(), beta_1=0.5, beta_2=0.99)
    got, fused_ops = two_updates(lambda: FusedAdam(**options))
    want, keras_ops = two_updates(lambda: keras.optimizers.Adam(**options))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)
    # Beta powers in the step's graph (the schedule adds its own Pow to both; the cond's
    # update is in a branch function): Keras two per variable, FusedAdam two in all.
    assert keras_ops["Pow"] - fused_ops["Pow"] == 2 * len(shapes) - 2
    one_update = w0[0] - 1e-2 * np.sign(grads[0][0].numpy())  # Adam's first step
    assert not np.allclose(got[0], one_update, atol=1e-4)  # the second update happened


@pytest.mark.parametrize("make", [lambda: FusedAdam(_schedule(), beta_1=0.5),
                                  lambda: TorchAdam(_schedule(), beta_1=0.0)],
                         ids=["fused", "torch"])
def test_fused_updates_on_two_replicas_equal_one(make, two_replica_strategy):
    for g, w in zip(_train(make, strategy=two_replica_strategy), _train(make)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-7)


def test_fused_adam_round_trips_its_config_and_loss_scaling_wraps_it():
    optimizer = FusedAdam(2e-4, beta_1=0.5, beta_2=0.9)
    clone = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(clone) is FusedAdam and (clone.beta_1, clone.beta_2) == (0.5, 0.9)
    scaled = keras.optimizers.LossScaleOptimizer(FusedAdam(1e-2), initial_scale=2.0 ** 4)
    variable = keras.Variable(tf.ones(3))
    scaled.apply([tf.constant([16.0, -16.0, 0.0])], [variable])  # scaled by 2**4
    plain = keras.Variable(tf.ones(3))
    FusedAdam(1e-2).apply([tf.constant([1.0, -1.0, 0.0])], [plain])
    np.testing.assert_allclose(variable.numpy(), plain.numpy(), rtol=1e-6)
    np.testing.assert_allclose(plain.numpy(), [0.99, 1.01, 1.0], rtol=1e-6)
