"""The authors' CycleGAN round schedule (V ``trainer.py`` ``Trainer.start``,
``cycleganbest_mi_distiller.py`` ``optimize_student_parameters``): the teacher trains
alone; after every ``every_epochs`` teacher epochs (and after the last one) the student
trains ``student_epochs`` epochs against a frozen copy of the teacher's A->B generator
(its latest weights, or those with the best FID so far), then the teacher goes on.

An orchestrator over existing pieces: ``Teacher.fit`` for the teacher epochs,
``Distiller.fit`` (with the frozen copy as its teacher) for the student epochs.
"""
import dataclasses
import math

TEACHER_CHECKPOINTS = ("latest", "best_fid")


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
        """[(teacher epoch the round follows, from 1), ...]: every ``every_epochs``-th
        epoch and the last."""
        ends = list(range(self.every_epochs, teacher_epochs + 1, self.every_epochs))
        if teacher_epochs and (not ends or ends[-1] != teacher_epochs):
            ends.append(teacher_epochs)
        return ends


def train_in_rounds(schedule, teacher, teacher_generator, round_teacher, distiller, dataset,
                    teacher_epochs, steps_per_epoch, teacher_score=None,
                    student_learning_rate=None, teacher_fit_options=None,
                    student_fit_options=None):
    """Run the round schedule; returns {"teacher_scores": [(epoch, score)], "rounds":
    [(teacher epoch, student epochs done, score of the teacher used or None)]}.

    Args:
      schedule: a ``RoundSchedule``.
      teacher: a compiled teacher model (``fit`` trains it alone).
      teacher_generator: its A->B generator (read after each teacher period).
      round_teacher: a generator of the same architecture that ``distiller`` holds
        as its frozen teacher; it gets the chosen teacher weights before each round.
      distiller: a compiled ``Distiller`` built with ``teachers=[round_teacher]``.
      dataset: a repeated training ``tf.data.Dataset`` (both fits draw from it).
      teacher_epochs: teacher epochs in all; steps_per_epoch: batches per epoch.
      teacher_score: callable(generator) -> float, lower is better (the FID of the
        teacher on the test split); needed for ``best_fid``.
      student_learning_rate: None, or callable(teacher epoch) -> float: the student
        optimizer's learning rate (a variable, not a schedule) is set to it before
        each round (the authors' student follows the teacher's epoch schedule).
      teacher_fit_options, student_fit_options: more ``fit`` keyword arguments
        (callbacks, verbose).
    """
    if schedule.teacher_checkpoint == "best_fid" and teacher_score is None:
        raise ValueError("student_teacher_checkpoint=best_fid scores the teacher by FID after "
                         "every teacher period, but no scorer was given. Fix: pass "
                         "teacher_score (the CLI builds it from the Inception weights and the "
                         "test split), or use student_teacher_checkpoint=latest.")
    best_score, best_weights = math.inf, None
    history = {"teacher_scores": [], "rounds": []}
    start = 0
    for done, end in enumerate(schedule.rounds(teacher_epochs)):
        teacher.fit(dataset, epochs=end, initial_epoch=start, steps_per_epoch=steps_per_epoch,
                    **(teacher_fit_options or {}))
        start = end
        weights, score = teacher_generator.get_weights(), None
        if schedule.teacher_checkpoint == "best_fid":
            score = float(teacher_score(teacher_generator))
            history["teacher_scores"].append((end, score))
            if score < best_score:
                best_score, best_weights = score, weights
            weights, score = best_weights, best_score
        round_teacher.set_weights(weights)
        if student_learning_rate is not None:
            distiller.student_optimizer.learning_rate.assign(student_learning_rate(end))
        distiller.fit(dataset, epochs=(done + 1) * schedule.student_epochs,
                      initial_epoch=done * schedule.student_epochs,
                      steps_per_epoch=steps_per_epoch, **(student_fit_options or {}))
        history["rounds"].append((end, (done + 1) * schedule.student_epochs, score))
    return history
