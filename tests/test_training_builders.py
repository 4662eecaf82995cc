"""Configuration -> model builders: discriminator initialisation from a teacher run."""
import numpy as np
import pytest

from itgc_tf.training.builders import init_from_teacher_discriminator
from itgc_tf.models.registry import build_discriminator


def test_student_discriminator_starts_from_the_teachers(tmp_path):
    teacher_d = build_discriminator("n_layers", 6, ndf=4, n_layers=2, name_prefix="teacher_")
    teacher_d.save(tmp_path / "discriminator.keras")
    student_d = build_discriminator("n_layers", 6, ndf=4, n_layers=2, name_prefix="student_")
    assert any(not np.array_equal(a, b)
               for a, b in zip(student_d.get_weights(), teacher_d.get_weights()))
    init_from_teacher_discriminator(student_d, tmp_path)
    for a, b in zip(student_d.get_weights(), teacher_d.get_weights()):
        np.testing.assert_array_equal(a, b)
    other = build_discriminator("n_layers", 6, ndf=8, n_layers=2)
    with pytest.raises(ValueError, match="another architecture"):
        init_from_teacher_discriminator(other, tmp_path)
    with pytest.raises(FileNotFoundError, match="discriminator.keras"):
        init_from_teacher_discriminator(other, tmp_path / "missing")
