"""CAT from the command line at toy size: itgc-prune a toy inception teacher, then
itgc-distill --recipe=cat --student=<prune output> with VEM."""
import json

import keras
import numpy as np

from cli_helpers import run_command
from itgc_tf.models.inception import cat_widths, inception_generator, widths_of
from test_cli import DATA


def test_prune_then_distil_with_cat_and_vem(tmp_path):
    keras.utils.set_random_seed(0)
    teacher = inception_generator(3, 3, cat_widths(8, 2), name="teacher")
    rng = np.random.default_rng(0)
    for layer in teacher.layers:  # spread scales, as a trained teacher has
        if getattr(layer, "gamma", None) is not None:
            layer.gamma.assign(rng.uniform(0.1, 1.5, layer.gamma.shape))
    teacher.save(tmp_path / "teacher.keras")
    pruned = tmp_path / "pruned"
    run_command("itgc_tf.prune", f"--teacher={tmp_path / 'teacher.keras'}", "--macs_budget=3M",
                "--input_size=32", "--min_channels=4", f"--output={pruned}")
    claim = json.loads((pruned / "widths.json").read_text())
    assert claim["macs"] <= 3e6 < claim["teacher_macs"]

    student_dir = tmp_path / "student"
    common = [f"--teacher={tmp_path / 'teacher.keras'}", "--recipe=cat",
              "--distill_pairs=down_1:down_1,block_1:block_1", "--lambda_recon=10",
              "--lambda_gan=1", "--vem_weight=0.1", "--critic_width=8", "--critic_blocks=1",
              "--epochs=1", "--epochs_decay=0", "--image_summary_every=0", *DATA]
    run_command("itgc_tf.distill", f"--model_dir={student_dir}", f"--student={pruned}", *common)
    student = keras.models.load_model(student_dir / "generator.keras", compile=False)
    pruned_student = keras.models.load_model(pruned / "generator.keras", compile=False)
    assert widths_of(student) == widths_of(pruned_student) != widths_of(teacher)
    assert any(not np.array_equal(a, b) for a, b in zip(student.get_weights(),
                                                          pruned_student.get_weights()))
    flagfile = (student_dir / "flags.cfg").read_text()
    assert f"--student={pruned}" in flagfile and "--recipe=cat" in flagfile

    bad = run_command("itgc_tf.distill", f"--model_dir={tmp_path / 'bad'}",
                      f"--student={tmp_path}", *common, expect_ok=False)
    assert bad.returncode != 0 and "is not an itgc-prune output" in bad.stderr
    assert "Fix: pass the --output folder of an itgc-prune run" in bad.stderr
