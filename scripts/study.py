"""When does VEM beat its base recipe? Runs the study grid (itgc_tf/study/grid.py:
tasks × recipes × VEM arms × seeds, each cell a normal run folder trained in a Python
process of its own), then writes results.json / results.csv / tables.md and the plots
into --output_dir. This process imports TensorFlow only for that report (its log lines go
to --output_dir/logs/tf.log, each cell's to its run folder's logs/tf.log).

    python scripts/study.py --output_dir=/work/study_runs          # the full grid
    python scripts/study.py --output_dir=/tmp/s --quick            # 2 seeds, tiny: a smoke run
    python scripts/study.py --output_dir=/work/study_runs --report_only

Rerunning the same command resumes: finished cells (result.json) are skipped, an
interrupted one continues from its checkpoints. Ctrl-C stops the study (the running cell
after its current training step; a second Ctrl-C at once) with exit status 130.
"""
import sys

from absl import app, flags

flags.DEFINE_string("output_dir", None, "Study folder: teachers/, runs/, results and plots.")
flags.DEFINE_bool("quick", False, "The quick grid (demo:enhance, kd, off vs authors, 2 seeds) on "
                  "a few steps: a smoke run.")
flags.DEFINE_list("tasks", None, "Only these tasks of the grid (default: all).")
flags.DEFINE_list("recipes", None, "Only these recipes of the grid (default: all).")
flags.DEFINE_list("arms", None, "Only these VEM arms (the base arm 'off' always runs).")
flags.DEFINE_list("seeds", None, "Only these seeds of the grid (default: all).")
flags.DEFINE_integer("curve_every", 2, "Epochs between held-out PSNR points of the learning "
                     "curves.")
flags.DEFINE_string("plots_dir", None, "Where the plots and a copy of tables.md go (default: "
                    "--output_dir), e.g. docs/study.")
flags.DEFINE_bool("report_only", False, "Only (re)write the results and plots of the finished "
                  "cells.")
flags.mark_flag_as_required("output_dir")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from itgc_tf.cli import logs
    from itgc_tf.study import grid
    from itgc_tf.study.runner import INTERRUPTED, run_grid

    cells = grid.grid_cells("quick" if FLAGS.quick else "full", FLAGS.tasks, FLAGS.recipes,
                            FLAGS.arms, None if FLAGS.seeds is None else
                            [int(s) for s in FLAGS.seeds])
    if not FLAGS.report_only:
        try:
            run_grid(FLAGS.output_dir, cells, FLAGS.quick, FLAGS.curve_every)
        except KeyboardInterrupt:  # run_grid said where it stopped and how to go on
            sys.exit(INTERRUPTED)
    # The report reads the cells' TensorBoard files with TensorFlow. Importing it only now
    # keeps this process small while the cells run, each in a process of its own; its
    # log lines go to OUTPUT_DIR/logs/tf.log, as each cell's go to its run folder's.
    with logs.run_logging(FLAGS.output_dir):
        from itgc_tf.study import report

        text = report.write_report(FLAGS.output_dir, cells, FLAGS.plots_dir)
    print(text)


if __name__ == "__main__":
    app.run(main)
