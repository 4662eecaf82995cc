"""Does VEM help? Student PSNR against the teacher (and, on paired data, against the
ground truth) before and after distillation, kd vs kd + VEM, over several seeds, on a
distillation flagfile's data.

    python scripts/compare_vem.py --flagfile=flags/demo_student.cfg \
        --critic_blocks=4 --langevin_step_size=50 --epochs=12 --epochs_decay=6 \
        --teacher=runs/demo/teacher --seeds=0,1,2 --vem_weights=0,0.1 --out=runs/compare

(the critic options the demo would use at 64x64 with VEM on, and the 18 epochs the
demo's kd-vs-VEM measurement used).

Prints a table (mean ± std over seeds) and writes OUT/compare_vem.json.
"""
import json
import pathlib

import keras
import numpy as np
import tensorflow as tf
from absl import app, flags

from itgc_tf import distill
from itgc_tf.cli import tasks
from itgc_tf.data import build_dataset
from itgc_tf.data.flags import config_from_flags
from itgc_tf.eval.image_metrics import PairedImageMetrics

FLAGS = flags.FLAGS
distill.define_flags()
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


def one_run(seed, vem_weight, test_set):
    FLAGS.seed, FLAGS.vem_weight = seed, vem_weight
    keras.utils.set_random_seed(seed)
    config, dataset, info, steps = tasks.training_data()
    distiller = tasks.distiller(info, steps, config.crop_size)
    before, _ = student_psnr(distiller.student, distiller.teachers[0], test_set, info.paired)
    distiller.fit(dataset(), epochs=FLAGS.epochs + FLAGS.epochs_decay, steps_per_epoch=steps,
                  verbose=0)
    after, target = student_psnr(distiller.student, distiller.teachers[0], test_set, info.paired)
    print(f"seed {seed} vem_weight {vem_weight}: PSNR vs teacher {before:.2f} -> {after:.2f} dB"
          + ("" if target is None else f", vs ground truth {target:.2f} dB"), flush=True)
    return before, after, target


def main(argv):
    del argv
    tf.get_logger().setLevel("WARNING")
    test_set = build_dataset(config_from_flags(), "test", training=False)
    results = {}
    for vem_weight in map(float, FLAGS.vem_weights):
        runs = [one_run(int(seed), vem_weight, test_set) for seed in FLAGS.seeds]
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
