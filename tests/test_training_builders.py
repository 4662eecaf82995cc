"""Configuration -> model builders: discriminator initialisation from a teacher run,
optimisers (TTUR), generator input channels of label data, the SPADE teacher."""
import dataclasses

import numpy as np
import pytest

from itgc_tf import options
from itgc_tf.data import DatasetInfo
from itgc_tf.data.config import DataConfig
from itgc_tf.models.registry import build_discriminator
from itgc_tf.training.adam import FusedAdam
from itgc_tf.training.builders import (init_from_teacher_discriminator, model_input_nc,
                                       teacher_discriminator_of, teacher_generator_of,
                                       teacher_model)
from itgc_tf.training.config import ScheduleConfig, TrainTeacherConfig
from itgc_tf.training.runner import build_optimizers
from itgc_tf.training.teachers import SPADETeacher


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


def _labels_info(paired=True):
    return DatasetInfo(paired=paired, num_examples=4, num_a=4, num_b=4, source="toy",
                       layout="labels" if paired else "unpaired")


def test_ttur_halves_the_generator_and_doubles_the_discriminator_learning_rate():
    g, d = build_optimizers(ScheduleConfig(lr=2e-4, beta1=0.0, beta2=0.9, ttur=True), 10)
    np.testing.assert_allclose([float(g.learning_rate), float(d.learning_rate)], [1e-4, 4e-4])
    assert g.beta_1 == d.beta_1 == 0.0 and g.beta_2 == d.beta_2 == 0.9
    assert type(g) is type(d) is FusedAdam  # one fused kernel per variable
    g, d = build_optimizers(ScheduleConfig(lr=2e-4), 10)
    np.testing.assert_allclose([float(g.learning_rate), float(d.learning_rate)], [2e-4, 2e-4])
    assert g.beta_2 == 0.999


@pytest.mark.parametrize("dontcare,no_instance,expected", [(False, False, 7), (True, False, 8),
                                                           (True, True, 7), (False, True, 6)])
def test_label_data_feeds_the_generators_its_semantic_channels(dontcare, no_instance,
                                                                expected):
    data = DataConfig(dataset="demo:labels2photo", label_nc=6, input_nc=3,
                      contain_dontcare_label=dontcare, no_instance=no_instance)
    assert model_input_nc(data, _labels_info()) == expected
    assert model_input_nc(DataConfig(dataset="demo:enhance", input_nc=1),
                          dataclasses.replace(_labels_info(), layout="aligned")) == 1


def test_spade_teacher_is_built_from_the_teacher_options():
    config = options.from_values(TrainTeacherConfig, dict(
        dataset="demo:labels2photo", label_nc=3, crop_size=64, load_size=64, model_dir=None,
        teacher_model="spade", netG="spade", ngf=2, netD="multi_scale", ndf=4, n_layers_D=2,
        spectral_norm_D=True, gan_mode="hinge", lambda_feat=3.0, lambda_vgg=0.0, ttur=True))
    model = teacher_model(config, "spade", 2, _labels_info(), 1)
    assert isinstance(model, SPADETeacher) and model.vgg is None and model.lambda_feat == 3.0
    assert teacher_generator_of(model).input_shape[-1] == 4  # 3 classes + instance edge
    assert teacher_discriminator_of(model).input_shape[-1] == 4 + 3
    np.testing.assert_allclose(float(model.d_optimizer.learning_rate),
                               4 * float(model.g_optimizer.learning_rate))
    with pytest.raises(ValueError, match="spade needs paired data.*Fix:"):
        teacher_model(config, "spade", 2, _labels_info(paired=False), 1)
