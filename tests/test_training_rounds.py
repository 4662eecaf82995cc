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
from itgc_tf.training.rounds import (RoundLinearDecay, RoundSchedule, choose_round_teacher,
                                     train_in_rounds)
from itgc_tf.training.schedules import LinearDecay
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
    schedule = RoundSchedule(2, 3, checkpoint)
    scores, snapshots = iter([3.0, 1.0, 2.0]), []

    def score(generator):
        snapshots.append(generator.get_weights()[0].copy())
        return next(scores)

    latest = []
    record = RecordRoundTeacher(frozen)
    mark_end = keras.callbacks.LambdaCallback(
        on_train_end=lambda logs: latest.append(g.get_weights()[0].copy()))
    ran = train_in_rounds(
        schedule, 5,
        fit_teacher=lambda start, end: teacher.fit(
            data, epochs=end, initial_epoch=start, steps_per_epoch=1, verbose=0,
            callbacks=[mark_end]),
        fit_student=lambda start, end: distiller.fit(
            data, epochs=end, initial_epoch=start, steps_per_epoch=1, verbose=0,
            callbacks=[record]),
        start_round=lambda end: choose_round_teacher(
            schedule, end, g, frozen, distiller.round_state,
            score if checkpoint == "best_fid" else None))
    assert int(teacher.g_optimizer.iterations) == 5
    assert int(distiller.student_optimizer.iterations) == 9
    assert ran == [(2, 3), (4, 6), (5, 9)]
    chosen = ([snapshots[0], snapshots[1], snapshots[1]] if checkpoint == "best_fid"
              else latest)
    assert len(record.seen) == 3
    for seen, want in zip(record.seen, chosen):
        np.testing.assert_array_equal(seen, want)
    assert not np.array_equal(latest[0], latest[1])  # the teacher did move between rounds
    state = distiller.round_state
    assert int(state.round_epoch) == 5
    if checkpoint == "best_fid":
        assert (int(state.source_epoch), float(state.score)) == (4, 1.0)
    else:
        assert (int(state.source_epoch), float(state.score)) == (5, np.inf)


def test_a_resumed_schedule_continues_where_it_stopped():
    calls = []
    run = dict(fit_teacher=lambda s, e: calls.append(("teacher", s, e)),
               fit_student=lambda s, e: calls.append(("student", s, e)),
               start_round=lambda end: calls.append(("round", end)))
    # Interrupted inside the second round (its teacher chosen), 4 of 6 student epochs done.
    ran = train_in_rounds(RoundSchedule(2, 3), 5, teacher_done=4, student_done=4,
                          round_started=4, **run)
    assert calls == [("student", 4, 6), ("teacher", 4, 5), ("round", 5), ("student", 6, 9)]
    assert ran == [(4, 6), (5, 9)]
    calls.clear()  # interrupted after the teacher period, before the round began
    train_in_rounds(RoundSchedule(2, 3), 5, teacher_done=4, student_done=3, round_started=2,
                    **run)
    assert calls[:2] == [("round", 4), ("student", 3, 6)]
    calls.clear()  # finished: nothing to do
    assert train_in_rounds(RoundSchedule(2, 3), 5, teacher_done=5, student_done=9,
                           round_started=5, **run) == []
    assert calls == []
    with pytest.raises(ValueError, match="teacher has completed 5 epochs but the student only "
                                         "3.*Fix:"):
        train_in_rounds(RoundSchedule(2, 3), 5, teacher_done=5, student_done=3, **run)


def test_the_student_learning_rate_is_the_teachers_at_the_round_epoch_held_for_the_round():
    # teacher: 2 constant + 3 decay epochs; rounds after teacher epochs 2, 4, 5; 3 student
    # epochs of 2 steps per round
    lr = RoundLinearDecay(1.0, 2, 3, steps_per_epoch=2, every_epochs=2, student_epochs=3)
    teacher = LinearDecay(1.0, 2, 3, steps_per_epoch=2)
    got = [float(lr(step)) for step in range(18)]
    for step, value in enumerate(got):
        end = min((step // 6 + 1) * 2, 5)  # teacher epoch (from 1) of the round
        assert value == pytest.approx(1.0 - max(0, end - 2) / 4)
        assert value == pytest.approx(float(teacher((end - 1) * 2)))  # teacher's rate then
    assert got[0] == 1.0 and got[6] == 0.5 and got[17] == 0.25
    assert RoundLinearDecay.from_config(lr.get_config()).get_config() == lr.get_config()


def test_best_fid_without_a_scorer_and_bad_schedules_are_rejected_with_the_fix():
    teacher, g, frozen, distiller, data = _setup()
    with pytest.raises(ValueError, match="no scorer.*Fix:"):
        choose_round_teacher(RoundSchedule(2, 3, "best_fid"), 2, g, frozen,
                             distiller.round_state)
    with pytest.raises(ValueError, match="Fix:"):
        RoundSchedule(0, 3)
    with pytest.raises(ValueError, match="Fix:"):
        RoundSchedule(2, 3, "best")
