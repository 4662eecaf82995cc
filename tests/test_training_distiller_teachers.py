"""The Distiller's online-teacher options (the authors' Pix2Pix schedule): which teacher
outputs the student learns from (batch-norm mode, before/after the teacher step) and
teachers stepping every N-th iteration only."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import SIZE, toy_pairs
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.recipes.base import Recipe
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.teachers import Pix2PixTeacher


class RecordingRecipe(Recipe):
    """L1 to the first teacher output; remembers that output (eager steps only)."""

    online_teachers = True
    term_names = ("l1",)

    def student_losses(self, ctx, discriminate):
        self.seen = ctx.teacher_outputs[0]
        return {"l1": global_average(per_example_mean(
            tf.abs(ctx.student_output - ctx.teacher_outputs[0])))}


def _distiller(teacher_skips_nonfinite=False, **options):
    g = build_generator("unet_16", 3, 3, ngf=4, norm="batch", name_prefix="teacher_")
    teacher = Pix2PixTeacher(g, build_discriminator("n_layers", 6, ndf=4, n_layers=2),
                             gan_mode="hinge", skip_nonfinite_steps=teacher_skips_nonfinite)
    teacher.compile(keras.optimizers.Adam(1e-2, beta_1=0.5), keras.optimizers.Adam(1e-2))
    student = build_generator("unet_16", 3, 3, ngf=2, norm="batch", name_prefix="student_")
    distiller = Distiller(student, [g], RecordingRecipe(name="recording"), (SIZE, SIZE, 3),
                          online_teachers=[teacher], **options)
    distiller.compile(keras.optimizers.Adam(1e-3))
    return distiller, teacher


def _batch(n=4):
    return {k: tf.constant(v[:n]) for k, v in toy_pairs(n).items()}


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return any(not np.array_equal(b, v.numpy()) for b, v in zip(before, variables))


def test_student_learns_from_batch_statistics_outputs_computed_before_the_teacher_step():
    distiller, teacher = _distiller(teacher_batchnorm="train",
                                    teacher_outputs_before_teacher_step=True)
    data = _batch()
    weights = _snapshot(teacher.generator.weights)
    expected = teacher.generator(data["A"], training=True).numpy()
    inference = teacher.generator(data["A"], training=False).numpy()
    distiller.train_step(data)
    np.testing.assert_allclose(distiller.recipe.seen, expected, rtol=1e-5, atol=1e-6)
    assert np.abs(expected - inference).max() > 1e-3  # the two modes differ here
    assert _changed(weights, teacher.generator.weights)  # the teacher did step
    after = teacher.generator(data["A"], training=True).numpy()
    assert np.abs(after - expected).max() > 1e-4


def test_by_default_the_student_learns_from_inference_outputs_after_the_teacher_step():
    distiller, teacher = _distiller()
    data = _batch()
    distiller.train_step(data)
    np.testing.assert_allclose(distiller.recipe.seen,
                               teacher.generator(data["A"], training=False),
                               rtol=1e-5, atol=1e-6)


def test_teachers_step_every_nth_iteration_and_the_student_every_iteration():
    distiller, teacher = _distiller(teacher_every_n_steps=3)
    data = _batch(2)
    teacher_changed, student_changed = [], []
    for _ in range(6):
        t_before = _snapshot(teacher.trainable_variables)
        s_before = _snapshot(distiller.student.trainable_variables)
        distiller.train_step(data)
        teacher_changed.append(_changed(t_before, teacher.trainable_variables))
        student_changed.append(_changed(s_before, distiller.student.trainable_variables))
    assert teacher_changed == [False, False, True, False, False, True]
    assert all(student_changed)
    assert int(teacher.g_optimizer.iterations) == 2 == int(teacher.d_optimizer.iterations)
    assert int(distiller.student_optimizer.iterations) == 6


def test_a_gated_off_teacher_step_is_not_counted_as_a_skipped_nonfinite_step():
    distiller, teacher = _distiller(teacher_skips_nonfinite=True, teacher_every_n_steps=2)
    data = _batch(2)
    logs = [dict(distiller.train_step(data)) for _ in range(2)]
    assert int(teacher.g_optimizer.iterations) == 1
    assert int(teacher.skipped_steps.numpy()) == 0
    assert float(logs[0]["teacher0_g_l1"]) == 0.0  # nothing tracked before the first step
    assert float(logs[1]["teacher0_g_l1"]) > 0.0


def test_gated_teacher_steps_compile_into_the_fit_graph():
    distiller, teacher = _distiller(teacher_every_n_steps=2, teacher_batchnorm="train",
                                    teacher_outputs_before_teacher_step=True)
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(4)).batch(1)
    history = distiller.fit(data, epochs=1, verbose=0).history
    assert int(teacher.g_optimizer.iterations) == 2
    assert all(np.all(np.isfinite(v)) for v in history.values())


@pytest.mark.parametrize("options,match", [
    (dict(teacher_batchnorm="train"), "teacher_batchnorm=train only apply.*Fix:"),
    (dict(teacher_outputs_before_teacher_step=True), "before_teacher_step only apply.*Fix:"),
    (dict(teacher_every_n_steps=2), "every_n_steps > 1 only apply.*Fix:"),
    (dict(teacher_every_n_steps=0), "must be >= 1.*Fix:"),
    (dict(teacher_batchnorm="eval"), "teacher_batchnorm must be one of.*Fix:"),
])
def test_online_teacher_options_are_rejected_for_frozen_teachers(options, match):
    from itgc_tf.recipes import build_recipe
    teacher = build_generator("unet_32", 3, 3, ngf=2, name_prefix="teacher_")
    student = build_generator("unet_32", 3, 3, ngf=2, name_prefix="student_")
    with pytest.raises(ValueError, match=match):
        Distiller(student, [teacher], build_recipe("kd"), (SIZE, SIZE, 3),
                  discriminator=build_discriminator("n_layers", 6, ndf=2, n_layers=1),
                  **options)


@pytest.mark.slow  # traces the replicated step
def test_gated_teacher_steps_under_two_replicas(two_replica_strategy):
    with two_replica_strategy.scope():
        distiller, teacher = _distiller(teacher_every_n_steps=2)
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(4)).batch(2)
    distiller.fit(data, epochs=1, verbose=0)
    assert int(teacher.g_optimizer.iterations.numpy()) == 1
    assert int(distiller.student_optimizer.iterations.numpy()) == 2
