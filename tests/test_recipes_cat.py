"""The ``cat`` recipe: its terms equal CAT's formula, and prune -> distil trains
through the shared Distiller with and without VEM, on one and two replicas; an
inception teacher trains."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import SIZE, TOY_VEM, toy_pairs
from itgc_tf.losses import kernel_alignment
from itgc_tf.models.adversarial import generator_loss
from itgc_tf.models.discriminators import n_layer_discriminator
from itgc_tf.models.inception import cat_widths, inception_generator, inception_macs, widths_of
from itgc_tf.models.pruning import prune_to_budget
from itgc_tf.models.registry import build_discriminator
from itgc_tf.recipes import StepContext, build_recipe, recipe_from_options
from itgc_tf.recipes.cat import CAT_PAIRS, CATOptions
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.teachers import Pix2PixTeacher
from itgc_tf.vem.config import VEMConfig

PAIRS = (("down_1", "down_1"), ("block_1", "block_1"))


def pruned_pair():
    """A toy 2-block inception teacher with spread γ and its student at 40% MACs."""
    keras.utils.set_random_seed(0)
    teacher = inception_generator(3, 3, cat_widths(8, 2), name="teacher")
    rng = np.random.default_rng(0)
    for layer in teacher.layers:
        if getattr(layer, "gamma", None) is not None:
            layer.gamma.assign(rng.uniform(0.1, 1.5, layer.gamma.shape))
    budget = 0.4 * inception_macs(widths_of(teacher), 3, 3, SIZE)
    student, _ = prune_to_budget(teacher, budget, SIZE, min_channels=4, name="student")
    return teacher, student


def cat_distiller(vem_weight):
    teacher, student = pruned_pair()
    return Distiller(student, [teacher], build_recipe("cat", distill_pairs=PAIRS, lambda_recon=10.0,
                                                          gan_mode="lsgan"),
                     (SIZE, SIZE, 3), discriminator=build_discriminator("n_layers", 6, ndf=4,
                                                                        n_layers=2),
                     paired=True, vem=VEMConfig(vem_weight=vem_weight, **TOY_VEM))


def compile_adam(distiller):
    distiller.compile(FusedAdam(2e-4, beta_1=0.5), FusedAdam(2e-4, beta_1=0.5))
    return distiller


def test_terms_equal_cats_formula():
    rng = np.random.default_rng(1)
    arr = lambda *shape: tf.constant(rng.uniform(-1, 1, shape).astype("float32"))  # noqa: E731
    ctx = StepContext(x=arr(2, 8, 8, 3), y=arr(2, 8, 8, 3), teacher_outputs=[arr(2, 8, 8, 3)],
                      teacher_features={"a": arr(2, 4, 4, 6), "b": arr(2, 2, 2, 5)},
                      student_output=arr(2, 8, 8, 3),
                      student_features={"a": arr(2, 4, 4, 2), "b": arr(2, 2, 2, 3)}, paired=True)
    logits = arr(2, 3, 3, 1)
    recipe = build_recipe("cat", distill_pairs=[("a", "a"), ("b", "b")], lambda_recon=5.0,
                          lambda_distill=0.5, lambda_gan=2.0, gan_mode="lsgan")
    s, y, t = ctx.student_output.numpy(), ctx.y.numpy(), ctx.teacher_outputs[0].numpy()
    terms = recipe.student_losses(ctx, lambda x, image: logits)
    np.testing.assert_allclose(terms["recon"], 5.0 * np.abs(s - y).mean(), rtol=1e-5)
    np.testing.assert_allclose(terms["gan"], 2.0 * np.mean(generator_loss("lsgan", logits)),
                               rtol=1e-5)
    ka = sum(float(kernel_alignment(ctx.student_features[k], ctx.teacher_features[k]))
             for k in ("a", "b"))
    np.testing.assert_allclose(terms["distill"], -0.5 * ka, rtol=1e-5)
    unpaired = recipe.student_losses(StepContext(**{**ctx.__dict__, "paired": False}),
                                     lambda x, image: logits)
    np.testing.assert_allclose(unpaired["recon"], 5.0 * np.abs(s - t).mean(), rtol=1e-5)


def test_library_defaults_are_cats_and_bad_options_are_refused():
    recipe = build_recipe("cat")
    o = recipe.options
    assert (o.lambda_gan, o.lambda_recon, o.lambda_distill) == (1.0, 100.0, 1.0)
    assert (recipe.gan_mode, o.centered) == ("hinge", False)
    assert o.distill_pairs == CAT_PAIRS == (("down_1", "down_1"), ("block_2", "block_2"),
                                            ("block_5", "block_5"), ("block_8", "block_8"))
    with pytest.raises(ValueError, match="lambda_recon must be >= 0"):
        build_recipe("cat", lambda_recon=-1.0)
    with pytest.raises(ValueError, match="needs .* pairs.*Fix: CAT's layers"):
        build_recipe("cat", distill_pairs=())
    with pytest.raises(ValueError, match="gan_mode must be one of"):
        build_recipe("cat", gan_mode="wgan")
    assert build_recipe("cat").trainable_weights == []  # no adapters


def test_from_options_passes_every_option_and_the_runs_gan_mode():
    options = CATOptions(lambda_recon=5.0, lambda_distill=0.5, lambda_gan=2.0, centered=True,
                         distill_pairs=(("block_1", "block_1"),))
    recipe = recipe_from_options("cat", options, gan_mode="lsgan")
    assert (recipe.options, recipe.gan_mode, recipe.name) == (options, "lsgan", "cat")
    assert recipe.feature_pairs() == (("block_1", "block_1"),)


@pytest.mark.parametrize("vem_weight", [0.0, 0.5])
def test_prune_then_distil_trains(vem_weight):
    distiller = compile_adam(cat_distiller(vem_weight))
    before = [w.numpy().copy() for w in distiller.student.trainable_weights]
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(8)).batch(4)
    history = distiller.fit(data, epochs=3, verbose=0, shuffle=False).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert history["loss_recon"][-1] < history["loss_recon"][0]
    assert all(-2.0 <= v <= 0.0 for v in history["loss_distill"])  # -(KA_1 + KA_2)
    assert ("loss_mi" in history) == (vem_weight > 0)
    assert any(not np.array_equal(b, w.numpy())
               for b, w in zip(before, distiller.student.trainable_weights))


# With VEM: its step holds every term of the one without (KA distillation per replica,
# then the mean over replicas), so one run covers both.
@pytest.mark.slow
def test_prune_then_distil_trains_on_two_replicas(two_replica_strategy):
    with two_replica_strategy.scope():
        distiller = compile_adam(cat_distiller(0.5))
    before = [w.numpy().copy() for w in distiller.student.trainable_weights]
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(8)).batch(4)  # 2 per replica
    history = distiller.fit(data, epochs=2, verbose=0, shuffle=False).history
    assert all(np.all(np.isfinite(v)) for v in history.values())
    assert all(-2.0 <= v <= 0.0 for v in history["loss_distill"])  # mean over replicas
    assert np.all(np.asarray(history["loss_mi"]) != 0)
    assert any(not np.array_equal(b, w.numpy())
               for b, w in zip(before, distiller.student.trainable_weights))


def test_inception_teacher_learns_the_mapping():
    rng = np.random.default_rng(0)
    coarse = rng.uniform(-1, 1, (8, 4, 4, 3))
    a = np.repeat(np.repeat(coarse, 4, 1), 4, 2).astype("float32")
    b = -a[..., ::-1]
    teacher = Pix2PixTeacher(inception_generator(3, 3, cat_widths(4, 2)),
                             n_layer_discriminator(6, ndf=8, n_layers=2))
    teacher.compile()
    start = float(np.mean(np.abs(teacher(a) - b)))
    data = tf.data.Dataset.from_tensor_slices({"A": a, "B": b}).repeat().batch(4)
    history = teacher.fit(data, steps_per_epoch=60, epochs=2, shuffle=False,
                          verbose=0).history
    assert float(np.mean(np.abs(teacher(a) - b))) < 0.6 * start
    assert history["g_l1"][-1] < history["g_l1"][0]
