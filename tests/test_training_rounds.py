"""The authors' CycleGAN round schedule: teacher epochs alone, then student rounds
against a frozen copy of the latest or best-scoring teacher."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distill_helpers import SIZE, toy_pairs
from itgc_tf.models.registry import build_discriminator, build_generator
from itgc_tf.losses.reduce import global_average, per_example_mean
from itgc_tf.recipes.base import Recipe
from itgc_tf.training.distiller import Distiller
from itgc_tf.training.rounds import RoundSchedule, train_in_rounds
from itgc_tf.training.teachers import Pix2PixTeacher


class L1ToTeacher(Recipe):
    online_teachers = True
    term_names = ("l1",)

    def student_losses(self, ctx, discriminate):
        return {"l1": global_average(per_example_mean(
            tf.abs(ctx.student_output - ctx.teacher_outputs[0])))}


class RecordRoundTeacher(keras.callbacks.Callback):
    def __init__(self, generator):
        super().__init__()
        self.generator, self.seen = generator, []

    def on_train_begin(self, logs=None):
        self.seen.append(self.generator.get_weights()[0].copy())


def _setup():
    g = build_generator("unet_32", 3, 3, ngf=2, name_prefix="teacher_")
    teacher = Pix2PixTeacher(g, build_discriminator("n_layers", 6, ndf=2, n_layers=1),
                             gan_mode="lsgan")
    teacher.compile(keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2))
    frozen = build_generator("unet_32", 3, 3, ngf=2, name_prefix="round_teacher_")
    student = build_generator("unet_32", 3, 3, ngf=2, name_prefix="student_")
    distiller = Distiller(student, [frozen], L1ToTeacher(name="l1"), (SIZE, SIZE, 3),
                          teachers_trained_in_rounds=True)
    distiller.compile(keras.optimizers.Adam(1e-3))
    data = tf.data.Dataset.from_tensor_slices(toy_pairs(2)).batch(2).repeat()
    return teacher, g, frozen, distiller, data


def test_rounds_follow_every_nth_teacher_epoch_and_the_last():
    assert RoundSchedule(2, 3).rounds(5) == [2, 4, 5]
    assert RoundSchedule(10, 40).rounds(200) == list(range(10, 201, 10))
    assert RoundSchedule(10, 40).rounds(7) == [7]


@pytest.mark.parametrize("checkpoint", ["latest", "best_fid"])
def test_students_learn_from_the_chosen_frozen_teacher_each_round(checkpoint):
    teacher, g, frozen, distiller, data = _setup()
    scores, snapshots = iter([3.0, 1.0, 2.0]), []

    def score(generator):
        snapshots.append(generator.get_weights()[0].copy())
        return next(scores)

    latest = []
    record = RecordRoundTeacher(frozen)
    history = train_in_rounds(
        RoundSchedule(2, 3, checkpoint), teacher, g, frozen, distiller, data,
        teacher_epochs=5, steps_per_epoch=1,
        teacher_score=score if checkpoint == "best_fid" else None,
        student_learning_rate=lambda epoch: 1e-3 / epoch,
        teacher_fit_options=dict(verbose=0, callbacks=[keras.callbacks.LambdaCallback(
            on_train_end=lambda logs: latest.append(g.get_weights()[0].copy()))]),
        student_fit_options=dict(verbose=0, callbacks=[record]))
    assert int(teacher.g_optimizer.iterations) == 5
    assert int(distiller.student_optimizer.iterations) == 9
    assert [r[:2] for r in history["rounds"]] == [(2, 3), (4, 6), (5, 9)]
    chosen = latest if checkpoint == "latest" else [snapshots[0], snapshots[1], snapshots[1]]
    assert len(record.seen) == 3
    for seen, want in zip(record.seen, chosen):
        np.testing.assert_array_equal(seen, want)
    assert not np.array_equal(latest[0], latest[1])  # the teacher did move between rounds
    if checkpoint == "best_fid":
        assert [s for _, _, s in history["rounds"]] == [3.0, 1.0, 1.0]
    np.testing.assert_allclose(float(distiller.student_optimizer.learning_rate), 1e-3 / 5,
                               rtol=1e-6)


def test_best_fid_without_a_scorer_and_bad_schedules_are_rejected_with_the_fix():
    teacher, g, frozen, distiller, data = _setup()
    with pytest.raises(ValueError, match="no scorer.*Fix:"):
        train_in_rounds(RoundSchedule(2, 3, "best_fid"), teacher, g, frozen, distiller, data,
                        teacher_epochs=2, steps_per_epoch=1)
    with pytest.raises(ValueError, match="Fix:"):
        RoundSchedule(0, 3)
    with pytest.raises(ValueError, match="Fix:"):
        RoundSchedule(2, 3, "best")
