"""Does VEM help? Student PSNR against the teacher before and after distillation,
kd vs kd + VEM, over several seeds, on a distillation flagfile's data.

    python scripts/compare_vem.py --flagfile=flags/demo_student.cfg \
        --teacher=runs/demo/teacher --seeds=0,1,2 --vem_weights=0,0.1 --out=runs/compare

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
from itgc_tf.data import build_dataset
from itgc_tf.eval.image_metrics import PairedImageMetrics
from itgc_tf.training import runner
from itgc_tf.training.builders import build_distiller
from itgc_tf.training.config import DistillConfig

FLAGS = flags.FLAGS
options.define_flags(DistillConfig)
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds to repeat each setting with.")
flags.DEFINE_list("vem_weights", ["0", "0.1"], "vem_weight values to compare (0 = plain kd).")
flags.DEFINE_string("out", "runs/compare_vem", "Output folder.")


def psnr_vs_teacher(student, teacher, test_set):
    metrics = PairedImageMetrics()
    for batch in test_set:
        metrics.update(student(batch["A"], training=False), teacher(batch["A"], training=False))
    return metrics.result()["psnr"]


def one_run(config, test_set):
    """Distil per ``config`` (no run folder: nothing is saved); (PSNR before, after)."""
    runner.configure_run(config.run.distribution, config.data.seed)
    dataset_fn, info, steps = runner.training_data(config.data, config.run.schedule)
    distiller = build_distiller(config, info, steps)
    before = psnr_vs_teacher(distiller.student, distiller.teachers[0], test_set)
    distiller.fit(dataset_fn(), epochs=config.run.schedule.total_epochs, steps_per_epoch=steps,
                  verbose=0)
    after = psnr_vs_teacher(distiller.student, distiller.teachers[0], test_set)
    print(f"seed {config.data.seed} vem_weight {config.vem.vem_weight}: PSNR vs teacher "
          f"{before:.2f} -> {after:.2f} dB", flush=True)
    return before, after


def main(argv):
    del argv
    tf.get_logger().setLevel("WARNING")
    base = options.from_flags(DistillConfig)
    test_set = build_dataset(base.data, "test", training=False)
    results = {}
    for vem_weight in map(float, FLAGS.vem_weights):
        runs = [one_run(dataclasses.replace(
                    base, data=dataclasses.replace(base.data, seed=int(seed)),
                    vem=dataclasses.replace(base.vem, vem_weight=vem_weight)), test_set)
                for seed in FLAGS.seeds]
        results[str(vem_weight)] = {"before": [r[0] for r in runs], "after": [r[1] for r in runs]}
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
