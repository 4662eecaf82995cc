"""One study cell = one normal distillation run folder (checkpoints, TensorBoard with
HParams, flags.cfg) plus ``result.json``, written atomically when the cell is done:
its presence marks the cell finished (a rerun skips it); an unfinished cell resumes
from its checkpoints."""
import dataclasses
import json
import logging
import pathlib
import time

import keras
import tensorflow as tf

from itgc_tf import demo, distill, options, prune, train_teacher
from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.eval.image_metrics import PairedImageMetrics
from itgc_tf.eval.report import inference_function
from itgc_tf.models.saving import load_keras_model
from itgc_tf.study.grid import ARMS, QUICK_SCHEDULE, RECIPES, STUDENT, TASKS, VEM_COMMON
from itgc_tf.study.runner import RESULT
from itgc_tf.training.callbacks import EVAL_PREFIX, PeriodicEvaluation
from itgc_tf.training.config import DistillConfig, TrainTeacherConfig

CURVE_TAG = EVAL_PREFIX + "psnr_vs_teacher"
GAP_TAG = "epoch_contrastive_gap"


def _data(task):
    return demo.DATA | demo.SHARED | TASKS[task].data | dict(dataset=TASKS[task].dataset,
                                                              verbose=0, image_summary_every=0)


def teacher_dir(root, task, recipe):
    """ROOT/teachers/TASK, or ROOT/teachers/TASK-RECIPE for a recipe with a teacher of its
    own (`StudyRecipe.teacher`)."""
    own = RECIPES[recipe].teacher
    return pathlib.Path(root) / "teachers" / (f"{task}-{recipe}" if own else task)


def teacher_config(root, task, recipe="kd", quick=False):
    """The `TrainTeacherConfig` of the teacher ``recipe`` distils on ``task``, trained
    once into `teacher_dir` and shared by every cell of the task and recipe."""
    return options.from_values(TrainTeacherConfig, _data(task) | TASKS[task].teacher
                               | RECIPES[recipe].teacher | (QUICK_SCHEDULE if quick else {})
                               | dict(model_dir=str(teacher_dir(root, task, recipe))))


def student_values(root, task, recipe):
    """{"student": the pruned student's folder} for a recipe that prunes its teacher
    (`StudyRecipe.prune_macs`), else {}."""
    if RECIPES[recipe].prune_macs is None:
        return {}
    return dict(student=str(teacher_dir(root, task, recipe) / "pruned"))


def cell_config(root, cell, quick=False):
    """The `DistillConfig` of ``cell`` (run folder ROOT/runs/<cell.key>)."""
    vem = ARMS[cell.arm]
    return options.from_values(DistillConfig, _data(cell.task) | STUDENT
                               | RECIPES[cell.recipe].options
                               | student_values(root, cell.task, cell.recipe)
                               | (VEM_COMMON if vem["vem_weight"] > 0 else {}) | vem
                               | (QUICK_SCHEDULE if quick else {})
                               | dict(seed=cell.seed,
                                      teacher=str(teacher_dir(root, cell.task, cell.recipe)),
                                      model_dir=str(pathlib.Path(root) / "runs" / cell.key)))


def ensure_teacher(root, task, recipe="kd", quick=False):
    """The teacher's generator.keras (`teacher_dir`), trained first when missing
    (resumable), and for a pruning recipe its pruned student beside it (itgc-prune at
    the crop size)."""
    config = teacher_config(root, task, recipe, quick)
    folder = pathlib.Path(config.run.model_dir)
    if not (folder / "generator.keras").is_file():
        print(f"[study] training the {task} teacher into {folder}", flush=True)
        train_teacher.train(config)
        keras.backend.clear_session()
    spec = RECIPES[recipe]
    if spec.prune_macs is not None and not (folder / "pruned" / "generator.keras").is_file():
        result = prune.prune(options.from_values(prune.PruneConfig, dict(
            teacher=str(folder), macs_budget=f"{spec.prune_macs / 1e6:g}M",
            input_size=config.data.crop_size, min_channels=spec.prune_min_channels,
            output=str(folder / "pruned"), overwrite=True)))
        print(f"[study] pruned the {task} teacher to {result.macs / 1e6:.3g} M MACs "
              f"(of {result.teacher_macs / 1e6:.3g} M) into {folder / 'pruned'}", flush=True)
        keras.backend.clear_session()
    return folder / "generator.keras"


def test_set(config):
    """The held-out split of a config's data (finite, unshuffled)."""
    return build_dataset(config.data, "test", training=False)


def held_out_references(teacher, dataset):
    """[(inputs, teacher outputs, targets)] per batch of ``dataset``, the teacher run
    once (compiled) for every evaluation of a cell."""
    teacher = inference_function(teacher)
    return [(batch["A"], teacher(batch["A"]), batch["B"]) for batch in dataset]


def image_metrics(student, references, paired):
    """{"psnr_vs_teacher", "ssim_vs_teacher", and with ``paired`` "psnr_vs_target",
    "ssim_vs_target"} (means over images) of ``student`` (a callable, e.g.
    `inference_function`) on `held_out_references`."""
    vs_teacher, vs_target = PairedImageMetrics(), PairedImageMetrics()
    for inputs, teacher_outputs, targets in references:
        outputs = student(inputs)
        vs_teacher.update(outputs, teacher_outputs)
        if paired:
            vs_target.update(outputs, targets)
    result = {"psnr_vs_teacher": vs_teacher.result()["psnr"],
              "ssim_vs_teacher": vs_teacher.result()["ssim"]}
    if paired:
        result.update(psnr_vs_target=vs_target.result()["psnr"],
                      ssim_vs_target=vs_target.result()["ssim"])
    return result


def read_scalars(log_dir, tag):
    """[(step, value)] of scalar ``tag`` in the TensorBoard event files under
    ``log_dir`` (sorted by step; a step written twice, e.g. after a resume, keeps its
    last value). A file cut short or damaged (its process was killed mid-write) is read
    up to the damage, with a warning, as TensorBoard reads it."""
    values = {}
    for path in sorted(pathlib.Path(log_dir).rglob("events.out.tfevents.*")):
        for event in _events(path):
            for value in event.summary.value:
                if value.tag == tag:
                    values[int(event.step)] = float(tf.make_ndarray(value.tensor)
                                                    if value.HasField("tensor")
                                                    else value.simple_value)
    return sorted(values.items())


def _events(path):
    """The events of one event file, up to a truncated or corrupt record."""
    records = iter(tf.data.TFRecordDataset(str(path)))
    count = 0
    while True:
        try:
            record = next(records)
        except StopIteration:
            return
        except tf.errors.DataLossError:
            logging.warning("%s is cut short or damaged after %d records (the process writing "
                            "it was killed mid-write): read up to there.", path, count)
            return
        count += 1
        yield tf.compat.v1.Event.FromString(record.numpy())


def fid_kid_status():
    """(None, reason) unless the Inception weights FID/KID need are on this machine
    (nothing is downloaded); the study does not compute FID/KID (48 held-out 64 px
    crops are too few for FID), so with weights the reason says that."""
    from itgc_tf.eval.inception import keras_cache_path
    if not pathlib.Path(keras_cache_path()).is_file():
        return None, f"no Inception weights at {keras_cache_path()} (nothing is downloaded)"
    return None, "not computed: 48 held-out 64 px crops are too few for FID/KID"


def run_cell(root, cell, quick=False, curve_every=2):
    """Train ``cell`` (resuming its run folder), evaluate it and write its
    ``result.json``; returns the result dict. A finished cell is read, not rerun."""
    config = cell_config(root, cell, quick)
    folder = pathlib.Path(config.run.model_dir)
    if (folder / RESULT).is_file():
        return json.loads((folder / RESULT).read_text())
    teacher = load_keras_model(ensure_teacher(root, cell.task, cell.recipe, quick))
    held_out = held_out_references(teacher, test_set(config))
    paired = dataset_info(config.data, "test").paired
    every = 1 if quick else curve_every

    def curve(model, dirs):
        student = inference_function(model.student)
        return [PeriodicEvaluation(every, lambda: image_metrics(student, held_out, False),
                                   str(dirs["tensorboard"] / "eval"))]

    resumed = (folder / "checkpoints").is_dir()
    started, cpu_started = time.time(), time.process_time()
    distill.train(config, callbacks=curve)
    seconds, cpu_seconds = time.time() - started, time.process_time() - cpu_started
    student = load_keras_model(folder / "generator.keras")
    steps_per_epoch = config.run.schedule.steps_per_epoch or max(
        dataset_info(config.data, "train").num_examples // config.data.batch_size, 1)
    fid, reason = fid_kid_status()
    gap = read_scalars(folder / "tensorboard", GAP_TAG)
    result = dict(dataclasses.asdict(cell), key=cell.key, **image_metrics(
        inference_function(student), held_out, paired),
        fid=fid, kid=fid, fid_kid_reason=reason,
        contrastive_gap=gap[-1][1] if gap else None,
        wall_seconds=seconds, cpu_seconds=cpu_seconds, resumed=resumed,
        steps=steps_per_epoch * config.run.schedule.total_epochs,
        curve=[((epoch + 1) * steps_per_epoch, value) for epoch, value in
               read_scalars(folder / "tensorboard" / "eval", CURVE_TAG)],
        vem=options.flat(config.vem))
    with atomic_output(folder / RESULT) as tmp:
        pathlib.Path(tmp).write_text(json.dumps(result, indent=1))
    keras.backend.clear_session()
    return result
