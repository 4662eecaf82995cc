"""Does VEM help? Student PSNR against the teacher (and, on paired data, against the
ground truth) before and after distillation, kd vs kd + VEM, over several seeds, on a
distillation flagfile's data.

    python scripts/compare_vem.py --flagfile=flags/demo_student.cfg \
        --critic_blocks=4 --langevin_step_size=50 --epochs=12 --epochs_decay=6 \
        --teacher=runs/demo/teacher --seeds=0,1,2 --vem_weights=0,0.1 --out=runs/compare

(the critic options the demo would use at 64x64 with VEM on, and the 18 epochs the
demo's kd-vs-VEM measurement used).

Prints a table (mean ± std over seeds) and writes OUT/compare_vem.json. The flagfile's
settings are read into a `DistillConfig`; each run replaces its seed and vem_weight.
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


def main(argv):
    del argv
    tf.get_logger().setLevel("WARNING")
    base = options.from_flags(DistillConfig)
    test_set = build_dataset(base.data, "test", training=False)
    paired = dataset_info(base.data, "test").paired
    results = {}
    for vem_weight in map(float, FLAGS.vem_weights):
        runs = [one_run(dataclasses.replace(
                    base, data=dataclasses.replace(base.data, seed=int(seed)),
                    vem=dataclasses.replace(base.vem, vem_weight=vem_weight)), test_set, paired)
                for seed in FLAGS.seeds]
        results[str(vem_weight)] = {"before": [r[0] for r in runs], "after": [r[1] for r in runs],
                                    "after_vs_target": [r[2] for r in runs]}
    print(f"\n{'vem_weight':>10} {'PSNR before':>16} {'PSNR after':>16}  (vs teacher, dB, "
          f"mean ± std over seeds {','.join(FLAGS.seeds)})")
    for weight, r in results.items():
        print(f"{weight:>10} {np.mean(r['before']):10.2f} ± {np.std(r['before']):.2f} "
              f"{np.mean(r['after']):10.2f} ± {np.std(r['after']):.2f}")
    out = pathlib.Path(FLAGS.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "compare_vem.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    app.run(main)
