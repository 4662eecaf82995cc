import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import SIZE, compile_default, student_iteration, toy_distiller, toy_pairs
from itgc_tf.vem.config import VEMConfig
from itgc_tf.vem import langevin_sample, mi_loss

RECIPES = ["kd", "gan_compression"]
# kd reads only the generators' outputs: small U-Nets (half the tracing of the ResNets)
# do. gan_compression keeps the default ResNets, whose block taps it distils.
UNETS = dict(teacher_net="unet_16", teacher_width=4, student_netG="unet_16", student_ngf=2)
NETS = {"kd": UNETS, "gan_compression": {}}


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def _dataset(batch=4):
    return tf.data.Dataset.from_tensor_slices(toy_pairs(8)).batch(batch, drop_remainder=True)


@pytest.mark.parametrize("recipe", RECIPES)
@pytest.mark.parametrize("vem_weight", [0.0, 0.1])
def test_recipe_trains_with_finite_trackers(recipe, vem_weight):
    distiller = compile_default(toy_distiller(recipe, vem_weight, **NETS[recipe]))
    history = distiller.fit(_dataset(), epochs=1, verbose=0).history
    assert ("loss_mi" in history) == (vem_weight > 0)
    assert (distiller.critic is not None) == (vem_weight > 0)
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name


def _xla_must_compile_calls(fn, *args):
    graph = tf.function(fn).get_concrete_function(*args).graph
    return [op for op in graph.get_operations() if op.type.endswith("PartitionedCall")
            and op.node_def.attr["_XlaMustCompile"].b]


def test_langevin_jit_compile_runs_the_chain_as_one_xla_cluster_and_trains():
    """--langevin_jit_compile: the chain (what the train step samples with) is one XLA
    cluster; without noise it gives the uncompiled chain's samples (with noise they
    differ: XLA's stateless generator draws another stream from the same seed); the
    train step runs with it."""
    keras.utils.set_random_seed(0)
    distiller = compile_default(toy_distiller("kd", 0.1, langevin_jit_compile=True,
                                              langevin_noise=0.0, **UNETS))
    s = tf.random.stateless_uniform((2, SIZE, SIZE, 3), (1, 2), -1, 1)
    sample = lambda s: distiller.langevin_sample(s, seed=tf.constant([3, 4]))  # noqa: E731
    assert len(_xla_must_compile_calls(sample, s)) == 1
    plain = langevin_sample(distiller.critic, s, steps=10, step_size=100.0, noise_std=0.0)
    np.testing.assert_allclose(tf.function(sample)(s), plain, atol=1e-5)
    assert float(tf.reduce_mean(tf.abs(plain - s))) > 1e-3  # the chain moved

    history = distiller.fit(_dataset().take(1), epochs=1, verbose=0).history
    assert np.isfinite(history["loss_mi"][-1]) and np.isfinite(history["e_pos"][-1])


@pytest.mark.slow  # traces the replicated step: ~1 min on 2 idle cores
def test_trains_under_two_replicas(two_replica_strategy):
    """gan_compression holds every kd term too; VEM on."""
    with two_replica_strategy.scope():
        distiller = compile_default(toy_distiller("gan_compression", 0.1))
    history = distiller.fit(_dataset(4), epochs=1, verbose=0).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name


def test_each_network_changes_only_in_its_own_step():
    distiller = compile_default(toy_distiller("gan_compression", 0.1))
    batch = next(iter(_dataset()))
    x, y = batch["A"], batch["B"]
    t_out, t_feats = distiller._teacher_forward(x)
    nets = {"student": distiller.student.trainable_variables,
            "adapters": distiller.recipe.trainable_variables,
            "critic": distiller.critic.trainable_variables,
            "disc": distiller.discriminator.trainable_variables,
            "teacher": distiller.teachers[0].weights}

    def run(step, *args):
        before = {k: _snapshot(v) for k, v in nets.items()}
        result = step(*args)
        return {k for k, v in nets.items() if _changed(before[k], v)}, result

    # A student iteration holds the critic step (SPEC §4: critic first, then student).
    changed, s_out = run(student_iteration, distiller, x, y, t_out, t_feats)
    assert changed == {"student", "adapters", "critic"}
    # ... but the student part alone never touches the critic: mi_loss gives it no gradient.
    with tf.GradientTape() as tape:
        s = distiller.student(x)
        loss = mi_loss(distiller.critic, t_out[0], s, tf.zeros_like(s))
    assert all(g is None for g in tape.gradient(loss, distiller.critic.trainable_variables))
    changed, _ = run(distiller._critic_step, t_out[0], s_out)
    assert changed == {"critic"}
    changed, _ = run(distiller._discriminator_step, x, y, s_out)
    assert changed == {"disc"}


def test_vem_adds_exactly_weight_times_mi_gradient_to_the_student_update():
    """One SGD step with VEM on = the VEM-off step - lr * weight * grad(mi_loss)."""
    lr, weight = 0.5, 0.3
    keras.utils.set_random_seed(3)
    on = toy_distiller("kd", weight, **UNETS)
    off = toy_distiller("kd", 0.0, **UNETS)
    off.student.set_weights(on.student.get_weights())
    off.teachers[0].set_weights(on.teachers[0].get_weights())
    off.discriminator.set_weights(on.discriminator.get_weights())
    for d in (on, off):
        d.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    critic_before = on.critic.get_weights()
    student_before = on.student.get_weights()
    batch = next(iter(_dataset()))
    x, y = batch["A"], batch["B"]
    t_out, t_feats = on._teacher_forward(x)
    student_iteration(on, x, y, t_out, t_feats)
    student_iteration(off, x, y, t_out, t_feats)

    # Independent computation of grad(mi_loss): t~ comes from the critic before its
    # update (same seed: [vem seed, step 0]); mi_loss uses the critic after it.
    critic_after = on.critic.get_weights()
    on.critic.set_weights(critic_before)
    on.student.set_weights(student_before)
    s0 = on.student(x, training=True)
    t_neg = langevin_sample(on.critic, s0, steps=on.vem.langevin_steps,
                            step_size=on.vem.langevin_step_size,
                            noise_std=on.vem.langevin_noise, seed=tf.constant([on.seed, 0]))
    on.critic.set_weights(critic_after)
    with tf.GradientTape() as tape:
        loss = mi_loss(on.critic, t_out[0], on.student(x, training=True), t_neg)
    grads = tape.gradient(loss, on.student.trainable_variables)
    # The on-model's student weights are restored: redo its step to compare.
    on.student.set_weights(student_before)
    on.critic.set_weights(critic_before)
    on.compile(keras.optimizers.SGD(lr), keras.optimizers.SGD(lr))
    student_iteration(on, x, y, t_out, t_feats)
    max_diff = 0.0
    for v_on, v_off, g in zip(on.student.trainable_variables, off.student.trainable_variables,
                              grads):
        expected = v_off.numpy() - lr * weight * g.numpy()
        np.testing.assert_allclose(v_on.numpy(), expected, atol=2e-5)
        max_diff = max(max_diff, float(np.abs(v_on.numpy() - v_off.numpy()).max()))
    assert max_diff > 1e-5  # VEM really changed the update


def test_contrastive_gap_becomes_positive():
    """The critic learns to separate teacher pairs (t, s) from Langevin samples (t~, s)."""
    distiller = toy_distiller("kd", 0.1, langevin_step_size=1.0, langevin_noise=0.005)
    distiller.compile(keras.optimizers.Adam(2e-4, beta_1=0.5),
                      keras.optimizers.Adam(2e-4, beta_1=0.5),
                      critic_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.0))
    history = distiller.fit(_dataset().repeat(10), epochs=1, verbose=0).history
    assert history["contrastive_gap"][-1] > 0


def test_bad_configurations_are_rejected_with_the_fix():
    with pytest.raises(ValueError, match="vem_weight must be >= 0"):
        VEMConfig(vem_weight=-0.1)
    with pytest.raises(ValueError, match="vem_target"):
        VEMConfig(vem_target="student")
    with pytest.raises(ValueError, match="Langevin noise"):
        VEMConfig(langevin_noise="loud")
    with pytest.raises(ValueError, match="needs paired data"):
        toy_distiller("kd", 0.1, paired=False, vem_target="ground_truth")
    with pytest.raises(ValueError, match="at least 31x31|n_blocks <="):
        toy_distiller("kd", 0.1, critic_blocks=5)
    with pytest.raises(ValueError, match="Unknown feature tap"):
        toy_distiller("gan_compression", recipe_options={"distill_pairs": (("nope", "block_2"),)})


@pytest.mark.slow  # two distillers traced and trained
def test_vem_on_a_feature_map_pair_and_on_ground_truth():
    distiller = compile_default(toy_distiller("kd", 0.1, vem_tap=("down_2", "down_2"),
                                              critic_blocks=2, **UNETS))
    teacher_channels = distiller.teachers[0].get_layer("down_2").output.shape[-1]
    assert distiller.critic.t_channels == distiller.critic.s_channels == teacher_channels
    assert distiller.vem_adapter is not None  # student tap has fewer channels
    assert set(map(id, distiller.vem_adapter.trainable_variables)) <= set(
        map(id, distiller._student_variables()))
    history = distiller.fit(_dataset(), epochs=1, verbose=0).history
    assert np.isfinite(history["loss_mi"][-1])
    gt = compile_default(toy_distiller("kd", 0.1, vem_target="ground_truth", **UNETS))
    assert np.isfinite(gt.fit(_dataset(), epochs=1, verbose=0).history["e_pos"][-1])


def test_student_is_a_plain_generator():
    distiller = toy_distiller("kd", **UNETS)
    x = tf.zeros([2, SIZE, SIZE, 3])
    np.testing.assert_allclose(distiller(x), distiller.student(x))


@pytest.mark.parametrize("vem_weight", [0.0, 0.1])
def test_omgd_trains_teachers_online_and_student_from_them(vem_weight):
    from distill_helpers import toy_omgd_distiller
    distiller = toy_omgd_distiller(vem_weight, n_teachers=2)
    distiller.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
    teacher_before = _snapshot(distiller.teachers[1].trainable_variables)
    history = distiller.fit(_dataset(), epochs=1, verbose=0).history
    assert {"loss_ssim", "loss_style", "loss_feature", "loss_tv", "loss_cd",
            "teacher0_g_l1", "teacher1_g_l1"} <= set(history)
    assert "d_loss" not in history  # the OMGD student never sees a discriminator
    assert _changed(teacher_before, distiller.teachers[1].trainable_variables)
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name


@pytest.mark.slow  # traces the replicated OMGD step
def test_omgd_under_two_replicas(two_replica_strategy):
    from distill_helpers import toy_omgd_distiller
    with two_replica_strategy.scope():
        distiller = toy_omgd_distiller(0.1)
        distiller.compile(keras.optimizers.Adam(2e-4, beta_1=0.5))
    history = distiller.fit(_dataset(4), epochs=1, verbose=0).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
