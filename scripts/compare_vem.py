"""Does VEM help? Student PSNR against the teacher (and, on paired data, against the
ground truth) before and after distillation, kd vs kd + VEM, over several seeds, on a
distillation flagfile's data.

    python scripts/compare_vem.py --flagfile=flags/demo_student.cfg \
        --critic_blocks=4 --langevin_step_size=50 --epochs=12 --epochs_decay=6 \
        --teacher=runs/demo/teacher --seeds=0,1,2 --vem_weights=0,0.1 --out=runs/compare

(the critic options the demo would use at 64x64 with VEM on, and the 18 epochs the
demo's kd-vs-VEM measurement used).

Recipes too: ``--settings=kd:0,cat:0,cat:0.1`` (recipe:vem_weight) compares kd, cat and
cat + VEM instead of the flagfile's recipe with each of ``--vem_weights``, e.g. from a pruned
inception student (``--student=PRUNE_DIR``, which every recipe then starts from).

Prints a table (mean ± std over seeds; and each setting's per-seed difference from the
first setting, paired by seed: same data order and student initialisation) and writes
OUT/compare_vem.json. The flagfile's settings are read into a `DistillConfig`; each run
replaces its seed, recipe and vem_weight.
"""
import dataclasses
import json
import pathlib

import numpy as np
import tensorflow as tf
from absl import app, flags

from itgc_tf import options
from itgc_tf.data import build_dataset, dataset_info
from itgc_tf.eval.image_metrics import PairedImageMetrics
from itgc_tf.training import runner
from itgc_tf.training.builders import build_distiller
from itgc_tf.training.config import DistillConfig

FLAGS = flags.FLAGS
options.define_flags(DistillConfig)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to repeat each setting with.")
flags.DEFINE_list("vem_weights", ["0", "0.1"], "vem_weight values to compare (0 = plain kd).")
flags.DEFINE_list("settings", [], "recipe:vem_weight pairs to compare (e.g. kd:0,cat:0,cat:0.1); "
                  "default: the flagfile's recipe with each of --vem_weights.")
flags.DEFINE_string("out", "runs/compare_vem", "Output folder.")


def student_psnr(student, teacher, test_set, paired):
    """(PSNR vs teacher, PSNR vs ground truth or None) of ``student`` on ``test_set``."""
    vs_teacher, vs_target = PairedImageMetrics(), PairedImageMetrics()
    for batch in test_set:
        output = student(batch["A"], training=False)
        vs_teacher.update(output, teacher(batch["A"], training=False))
        if paired:
            vs_target.update(output, batch["B"])
    return vs_teacher.result()["psnr"], vs_target.result()["psnr"] if paired else None


def one_run(config, test_set, paired):
    """Distil per ``config`` (no run folder: nothing is saved); PSNR (vs teacher before,
    vs teacher after, vs ground truth after or None)."""
    runner.configure_run(config.run.distribution, config.data.seed)
    dataset_fn, info, steps = runner.training_data(config.data, config.run.schedule)
    distiller = build_distiller(config, info, steps)
    before, _ = student_psnr(distiller.student, distiller.teachers[0], test_set, paired)
    distiller.fit(dataset_fn(), epochs=config.run.schedule.total_epochs, steps_per_epoch=steps,
                  verbose=0)
    after, target = student_psnr(distiller.student, distiller.teachers[0], test_set, paired)
    print(f"seed {config.data.seed} vem_weight {config.vem.vem_weight}: PSNR vs teacher "
          f"{before:.2f} -> {after:.2f} dB"
          + ("" if target is None else f", vs ground truth {target:.2f} dB"), flush=True)
    return before, after, target


def settings(base):
    """[(recipe, vem_weight)] from --settings, or the flagfile's recipe x --vem_weights."""
    if not FLAGS.settings:
        return [(base.student.recipe, float(w)) for w in FLAGS.vem_weights]
    pairs = [s.split(":") for s in FLAGS.settings]
    if any(len(p) != 2 for p in pairs):
        raise app.UsageError(f"--settings takes recipe:vem_weight pairs, got {FLAGS.settings}. "
                             "Fix: e.g. --settings=kd:0,cat:0,cat:0.1")
    return [(recipe, float(weight)) for recipe, weight in pairs]


def _mean_sd(values):
    return f"{np.mean(values):6.2f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.2f}"


def main(argv):
    del argv
    tf.get_logger().setLevel("WARNING")
    base = options.from_flags(DistillConfig)
    test_set = build_dataset(base.data, "test", training=False)
    paired = dataset_info(base.data, "test").paired
    results = {}
    for recipe, vem_weight in settings(base):
        runs = [one_run(dataclasses.replace(
                    base, data=dataclasses.replace(base.data, seed=int(seed)),
                    student=dataclasses.replace(base.student, recipe=recipe),
                    vem=dataclasses.replace(base.vem, vem_weight=vem_weight)), test_set, paired)
                for seed in FLAGS.seeds]
        results[f"{recipe}:{vem_weight}"] = {
            "before": [r[0] for r in runs], "after": [r[1] for r in runs],
            "after_vs_target": [r[2] for r in runs]}
    first = next(iter(results.values()))
    print(f"\nPSNR in dB, mean ± sd over seeds {','.join(FLAGS.seeds)}; diff = paired per-seed "
          f"difference from {next(iter(results))}")
    print(f"{'recipe:vem':>10} {'vs teacher':>15} {'diff':>15}"
          + (f" {'vs ground truth':>15} {'diff':>15}" if paired else ""))
    for name, r in results.items():
        line = (f"{name:>10} {_mean_sd(r['after']):>15} "
                f"{_mean_sd(np.subtract(r['after'], first['after'])):>15}")
        if paired:
            line += (f" {_mean_sd(r['after_vs_target']):>15} "
                     f"{_mean_sd(np.subtract(r['after_vs_target'], first['after_vs_target'])):>15}")
        print(line)
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare_vem.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
