"""The authors' CycleGAN round schedule (V ``trainer.py`` ``Trainer.start``,
``cycleganbest_mi_distiller.py`` ``optimize_student_parameters``): the teacher trains
alone; after every ``every_epochs`` teacher epochs (and after the last one) the student
trains ``student_epochs`` epochs against a frozen copy of the teacher's A->B generator
(its latest weights, or those with the best FID so far), then the teacher goes on.

An orchestrator over two ``fit`` functions (the teacher's and the student's), so that
the command's runner can give each its checkpoints, exact resume and TensorBoard
(`itgc_tf.training.round_runner`). The frozen copy's provenance lives in the
Distiller (`RoundTeacherState`), so it is checkpointed with the student.
"""
import dataclasses
import math

import keras
import tensorflow as tf

from itgc_tf.training.config import TEACHER_CHECKPOINTS
from itgc_tf.training.schedules import LinearDecay


@dataclasses.dataclass(frozen=True)
class RoundSchedule:
    """every_epochs: teacher epochs between student rounds (V ``save_epoch_freq``).
    student_epochs: student epochs per round (V ``n_dis * save_epoch_freq``).
    teacher_checkpoint: the teacher a round learns from: ``latest`` or ``best_fid``
      (lowest teacher FID so far, scored after each teacher period)."""
    every_epochs: int
    student_epochs: int
    teacher_checkpoint: str = "latest"

    def __post_init__(self):
        if self.every_epochs < 1 or self.student_epochs < 1:
            raise ValueError(
                f"student_rounds_every_epochs and student_epochs_per_round must be >= 1, got "
                f"{self.every_epochs} and {self.student_epochs}. Fix: pass positive values "
                "(or leave student_rounds_every_epochs unset to train teacher and student in "
                "the same steps).")
        if self.teacher_checkpoint not in TEACHER_CHECKPOINTS:
            raise ValueError(
                f"student_teacher_checkpoint must be one of {TEACHER_CHECKPOINTS}, got "
                f"{self.teacher_checkpoint!r}. Fix: pass latest or best_fid.")

    def rounds(self, teacher_epochs):
        """[teacher epoch each round follows (from 1), ...]: every ``every_epochs``-th
        epoch and the last."""
        ends = list(range(self.every_epochs, teacher_epochs + 1, self.every_epochs))
        if teacher_epochs and (not ends or ends[-1] != teacher_epochs):
            ends.append(teacher_epochs)
        return ends


class RoundTeacherState(keras.layers.Layer):
    """Which teacher the Distiller's frozen copy is (checkpointed with the Distiller):
    ``round_epoch`` the teacher epoch whose round it serves (0: none yet),
    ``source_epoch`` the teacher epoch its weights come from, ``score`` their FID
    (inf: not scored)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        common = dict(shape=(), trainable=False, aggregation="only_first_replica")
        self.round_epoch = self.add_weight(name="round_epoch", dtype="int64",
                                           initializer="zeros", **common)
        self.source_epoch = self.add_weight(name="source_epoch", dtype="int64",
                                            initializer="zeros", **common)
        self.score = self.add_weight(name="score", dtype="float32",
                                     initializer=keras.initializers.Constant(math.inf), **common)
        self.built = True


def choose_round_teacher(schedule, end, teacher_generator, round_teacher, state,
                         teacher_score=None):
    """Set ``round_teacher`` (the Distiller's frozen copy) for the round after teacher
    epoch ``end``: the teacher's current weights (``latest``), or (``best_fid``) those if
    ``teacher_score(teacher_generator)`` (lower is better) beats ``state.score``, else
    it keeps the best so far. Updates the `RoundTeacherState` ``state``; returns the
    teacher's score at ``end`` (None for ``latest``)."""
    score = None
    if schedule.teacher_checkpoint == "best_fid":
        if teacher_score is None:
            raise ValueError("student_teacher_checkpoint=best_fid scores the teacher by FID "
                             "after every teacher period, but no scorer was given. Fix: pass "
                             "teacher_score (the command builds it from the Inception weights "
                             "and the test split), or use student_teacher_checkpoint=latest.")
        score = float(teacher_score(teacher_generator))
    if score is None or score < float(state.score.numpy()):
        round_teacher.set_weights(teacher_generator.get_weights())
        state.source_epoch.assign(end)
        if score is not None:
            state.score.assign(score)
    state.round_epoch.assign(end)
    return score


def train_in_rounds(schedule, teacher_epochs, *, fit_teacher, fit_student, start_round,
                    teacher_done=0, student_done=0, round_started=0):
    """Run the round schedule, or continue it from a resumed state.

    Args:
      schedule: a ``RoundSchedule``; teacher_epochs: teacher epochs in all.
      fit_teacher(start, end), fit_student(start, end): train that model from ``start``
        to ``end`` completed epochs (the student's epochs count over all rounds).
      start_round(end): set the frozen teacher of the round after teacher epoch ``end``
        (e.g. `choose_round_teacher`).
      teacher_done, student_done: epochs each model has completed (a resumed run).
      round_started: the teacher epoch of the round whose frozen teacher is already set
        (``RoundTeacherState.round_epoch``): a round interrupted after it started keeps it.
    Returns [(teacher epoch, student epochs at the round's end)] of the rounds run now.
    """
    ran = []
    for done, end in enumerate(schedule.rounds(teacher_epochs)):
        student_end = (done + 1) * schedule.student_epochs
        if student_done >= student_end:
            continue
        if teacher_done > end:
            raise ValueError(
                f"The teacher has completed {teacher_done} epochs but the student only "
                f"{student_done}: the round after teacher epoch {end} (up to student epoch "
                f"{student_end}) is missing, so these checkpoints are not one run of this "
                "schedule. Fix: resume with the run's own flags (--flagfile=MODEL_DIR/flags.cfg), "
                "or start over in a new --model_dir.")
        if teacher_done < end:
            fit_teacher(teacher_done, end)
            teacher_done = end
        if round_started < end:
            start_round(end)
            round_started = end
        fit_student(student_done, student_end)
        student_done = student_end
        ran.append((end, student_end))
    return ran


@keras.saving.register_keras_serializable(package="itgc_tf")
class RoundLinearDecay(LinearDecay):
    """The student's learning rate in rounds: the teacher's `LinearDecay` rate at the
    teacher epoch the round follows, constant within the round (the authors' student
    optimiser is stepped by the teacher's epoch scheduler).

    At student step ``s`` the round is ``r = s // (student_epochs · steps_per_epoch)``,
    it follows teacher epoch ``end = min((r + 1) · every_epochs, teacher_epochs)`` (from
    1), and the rate is LinearDecay's for the 0-based epoch ``end − 1``.
    """

    def __init__(self, initial_lr, n_epochs, n_epochs_decay, steps_per_epoch, every_epochs,
                 student_epochs):
        super().__init__(initial_lr, n_epochs, n_epochs_decay, steps_per_epoch)
        self.every_epochs, self.student_epochs = int(every_epochs), int(student_epochs)

    def epoch(self, step):
        rounds_done = step // (self.student_epochs * self.steps_per_epoch)
        last = tf.constant(self.n_epochs + self.n_epochs_decay, tf.int64)
        return tf.minimum((rounds_done + 1) * self.every_epochs, last) - 1

    def get_config(self):
        return super().get_config() | {"every_epochs": self.every_epochs,
                                       "student_epochs": self.student_epochs}
