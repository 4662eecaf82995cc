"""``itgc-distill`` in student rounds (``--student_rounds_every_epochs``): the authors'
CycleGAN schedule (`itgc_tf.training.rounds`) with the runner's run folder, exact
resume and TensorBoard for each of its two models.

model_dir/ as every run (`itgc_tf.training.runner`), with
  checkpoints/teacher/   the online teacher (its `RunCheckpoint`: epochs, steps, optimisers)
  checkpoints/student/   the Distiller: student, critic, the frozen round teacher and which
                         teacher it is (`RoundTeacherState`: round, source epoch, FID)
  tensorboard/teacher/, tensorboard/student/  each model's scalars and image grids
  tensorboard/rounds/    teacher_fid (best_fid: the teacher's FID after each period) and
                         round_teacher_fid (the FID of the teacher the round learns from),
                         at the teacher epoch
  generator.keras        the student; teacher.keras: the teacher's A->B generator (latest)

A killed run re-run with the same command resumes both models from their newest
checkpoints and continues the schedule where it stopped (`train_in_rounds`): a teacher
period or a student round interrupted mid-way finishes from its last saved step, a
round whose frozen teacher was already chosen keeps it.
"""
import pathlib

import tensorflow as tf
from absl import logging

from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.training import runner
from itgc_tf.training.builders import build_round_models
from itgc_tf.training.rounds import RoundSchedule, choose_round_teacher, train_in_rounds

FID_SPLIT = "test"


def teacher_fid_scorer(data, inception, split=FID_SPLIT):
    """callable(generator) -> FID of generator(A) against the B images of ``split`` (each
    domain's images once: the first ``num_a`` A and ``num_b`` B of the evaluation stream).

    ``data``: a `DataConfig`; ``inception``: an `InceptionFeatures` (or an object with
    ``features(batches, max_images)`` -> [N, D]). The real statistics are computed now."""
    from itgc_tf.eval.fid import feature_statistics, frechet_distance
    from itgc_tf.eval.report import inference_function

    info = dataset_info(data, split)
    batches = lambda: build_dataset(data, split, training=False)  # noqa: E731
    real_mu, real_sigma = feature_statistics(
        inception.features((b["B"] for b in batches()), max_images=info.num_b))

    def score(generator):
        generate = inference_function(generator)
        fakes = (generate(b["A"]) for b in batches())
        mu, sigma = feature_statistics(inception.features(fakes, max_images=info.num_a))
        return frechet_distance(real_mu, real_sigma, mu, sigma)
    return score


def inception_for_best_fid(weights_path):
    """The Inception network that scores teachers for ``best_fid``; FileNotFoundError
    naming the flags when there are no weights (before any training)."""
    from itgc_tf.eval.inception import InceptionFeatures
    try:
        return InceptionFeatures(weights_path)
    except FileNotFoundError as error:
        raise FileNotFoundError(
            f"--student_teacher_checkpoint=best_fid scores the teacher by FID after every "
            f"teacher period, which needs Inception-v3 weights: {error}\nFix: pass "
            "--inception_weights=PATH or put the weights in the Keras cache as above, or use "
            "--student_teacher_checkpoint=latest.") from None


def schedule_of(online):
    """The `RoundSchedule` of an `OnlineTeachersConfig`."""
    return RoundSchedule(online.student_rounds_every_epochs, online.student_epochs_per_round,
                         online.student_teacher_checkpoint)


def _teacher_grid(generator, sample):
    return {"input": sample["A"], "teacher": generator(sample["A"])}


class _RoundScalars:
    """TensorBoard scalars of the rounds, at the teacher epoch."""

    def __init__(self, log_dir):
        self._writer = tf.summary.create_file_writer(str(log_dir))

    def write(self, end, score, state):
        with self._writer.as_default():
            tf.summary.scalar("teacher_fid", score, step=end)
            tf.summary.scalar("round_teacher_fid", float(state.score), step=end)
            tf.summary.scalar("round_teacher_source_epoch", int(state.source_epoch), step=end)
        self._writer.flush()


class _Rounds:
    """The schedule's three actions on the built models of a prepared run: each model's
    fit (the runner's, with its own checkpoint and TensorBoard folder) and a round's
    start (choose the frozen teacher, log its FID)."""

    def __init__(self, config, prepared, models, checkpoints, image_grid, teacher_score):
        self.config, self.prepared, self.checkpoints = config, prepared, checkpoints
        self.teacher, self.teacher_generator, self.distiller = models
        self.schedule = schedule_of(config.online_teachers)
        self.teacher_score = teacher_score
        sample = next(iter(prepared.dataset_fn().take(1)))
        self.images = {"teacher": lambda: _teacher_grid(self.teacher_generator, sample),
                       "student": lambda: image_grid(self.distiller, sample)}
        self.hparams = {name: runner.run_hparams(config) for name in ("teacher", "student")}
        tensorboard = pathlib.Path(prepared.dirs["tensorboard"])
        self.scalars = (_RoundScalars(tensorboard / "rounds")
                        if self.schedule.teacher_checkpoint == "best_fid" else None)

    def run(self):
        state = self.distiller.round_state
        train_in_rounds(
            self.schedule, self.config.run.schedule.total_epochs,
            fit_teacher=lambda start, end: self.fit("teacher", self.teacher, end),
            fit_student=lambda start, end: self.fit("student", self.distiller, end),
            start_round=self.start_round, teacher_done=self.checkpoints["teacher"].epoch,
            student_done=self.checkpoints["student"].epoch,
            round_started=int(state.round_epoch.numpy()))

    def fit(self, name, model, end):
        """Train ``model`` until ``end`` epochs are done (from its checkpoint's state)."""
        prepared, checkpoint = self.prepared, self.checkpoints[name]
        dirs = dict(prepared.dirs, tensorboard=pathlib.Path(prepared.dirs["tensorboard"]) / name)
        runner.fit(model, self.config.run, prepared.dataset_fn, dirs, prepared.strategy,
                   steps_per_epoch=prepared.steps_per_epoch, epochs=end, checkpoint=checkpoint,
                   images_fn=self.images[name],
                   hparams=self.hparams.pop(name, None))  # once per model and process
        if checkpoint.epoch != end:  # the explosion guard held the period's last save
            raise RuntimeError(
                f"The {name}'s checkpoint at the end of its epoch {end} was not saved (the "
                "explosion guard held it), so the round schedule cannot go on from a saved "
                "state. Fix: re-run the same command to resume from the last saved checkpoint, "
                "or raise --explosion_factor / --explosion_patience.")

    def start_round(self, end):
        state = self.distiller.round_state
        score = choose_round_teacher(self.schedule, end, self.teacher_generator,
                                     self.distiller.teachers[0], state, self.teacher_score)
        logging.info("Student round after teacher epoch %d: frozen teacher of epoch %d%s.", end,
                     int(state.source_epoch), "" if score is None else
                     f" (FID {float(state.score):.3f}; this epoch's {score:.3f})")
        if self.scalars is not None:
            self.scalars.write(end, score, state)


def train(config, image_grid, teacher_score=None, **resources):
    """Distil per a `DistillConfig` with ``online_teachers.student_rounds_every_epochs``;
    returns the path of the saved student generator.keras.

    image_grid(distiller, sample) -> {column: images} for the student's TensorBoard.
    teacher_score: callable(generator) -> FID-like score, lower is better (default for
      ``best_fid``: `teacher_fid_scorer` with the Inception weights of
      ``--inception_weights``, loaded before anything trains).
    resources: handed to the recipe (`build_distiller`).
    """
    online = config.online_teachers
    with runner.prepared_run(config) as prepared:
        if online.student_teacher_checkpoint == "best_fid" and teacher_score is None:
            teacher_score = teacher_fid_scorer(config.data,
                                               inception_for_best_fid(online.inception_weights))
        with prepared.strategy.scope():
            models = build_round_models(config, prepared.info, prepared.steps_per_epoch,
                                        **resources)
        checkpoints = {}
        try:
            for name, model in (("teacher", models[0]), ("student", models[2])):
                checkpoints[name] = runner.restored_checkpoint(
                    model, config.run, prepared.dirs["checkpoints"] / name, prepared.strategy)
            prepared.validated()
            _Rounds(config, prepared, models, checkpoints, image_grid, teacher_score).run()
        finally:
            for checkpoint in checkpoints.values():
                checkpoint.cleanup()
        return runner.save_outputs({"teacher.keras": models[1],
                                    "generator.keras": models[2].student}, prepared.dirs["root"])
