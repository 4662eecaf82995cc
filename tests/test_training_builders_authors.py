"""build_distiller honours the authors' options of a `DistillConfig`: the online-teacher
schedule reaches the Distiller, a shared discriminator judges every online teacher, the
adapter kind reaches the recipe, and the student starts from the teacher's weights."""
import numpy as np
import pytest

from distill_helpers import SIZE, toy_config, toy_info
from itgc_tf.models.registry import build_generator
from itgc_tf.training.builders import build_distiller
from itgc_tf.training.teachers import SharedDiscriminatorPix2Pix


def _random_vgg():
    from itgc_tf.losses.vgg import VGGFeatures
    return VGGFeatures(layers=("block1_conv2", "block2_conv2"),
                       allow_random_weights_for_testing=True)


def test_omgd_online_teacher_options_reach_the_distiller_and_its_teachers():
    config = toy_config(recipe="omgd", teacher_netG=("resnet_6blocks", "resnet_6blocks"),
                        teacher_ngf=(4, 2), distill_pairs=(("block_5", "block_5"),),
                        cd_adapter="conv_bn_relu", teacher_discriminator="shared",
                        teacher_batchnorm="train", teacher_outputs_before_teacher_step=True,
                        teacher_every_n_steps=2)
    distiller = build_distiller(config, toy_info(), 1, vgg=_random_vgg(), ssim_filter_size=7)
    [shared] = distiller.online_teachers
    assert isinstance(shared, SharedDiscriminatorPix2Pix)
    assert distiller.teachers == [shared.generator, *shared.others]
    assert (distiller.teacher_batchnorm, distiller.teacher_outputs_before_teacher_step,
            distiller.teacher_every_n_steps) == ("train", True, 2)
    assert distiller.recipe.adapters.adapter == "conv_bn_relu"


def test_omgd_without_style_and_feature_terms_builds_no_vgg(tmp_path, monkeypatch):
    # No VGG16 weights anywhere: building the VGG would fail with "weights not found".
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    config = toy_config(recipe="omgd", teacher_netG=("resnet_6blocks",), teacher_ngf=(4,),
                        lambda_cd=0.0, lambda_style=0.0, lambda_feature=0.0,
                        vgg_weights=str(tmp_path / "absent.h5"))
    distiller = build_distiller(config, toy_info(), 1, ssim_filter_size=7)
    assert distiller.recipe.vgg is None
    with pytest.raises(Exception, match="absent.h5"):
        build_distiller(toy_config(recipe="omgd", teacher_netG=("resnet_6blocks",),
                                   teacher_ngf=(4,), lambda_cd=0.0, lambda_feature=0.0,
                                   vgg_weights=str(tmp_path / "absent.h5")),
                        toy_info(), 1, ssim_filter_size=7)


def test_shared_discriminator_on_unpaired_data_is_refused():
    config = toy_config(recipe="omgd", teacher_netG=("resnet_6blocks", "resnet_6blocks"),
                        teacher_ngf=(4, 2), lambda_cd=0.0, teacher_discriminator="shared")
    with pytest.raises(ValueError, match="needs paired data.*Fix"):
        build_distiller(config, toy_info(paired=False), 1, vgg=_random_vgg())


@pytest.mark.parametrize("values,message", [
    (dict(recipe="kd", teacher_every_n_steps=3), "only apply to teachers trained online"),
    (dict(recipe="omgd", lambda_cd=0.0, init_student_from_teacher=True),
     "trains its teachers from scratch"),
    (dict(recipe="omgd", lambda_cd=0.0, teacher_discriminator="shared"), "two or more"),
    (dict(teacher_every_n_steps=0), "must be >= 1"),
])
def test_authors_options_are_validated_by_the_configuration(values, message):
    with pytest.raises(ValueError, match=f"{message}.*Fix"):
        toy_config(**values)


def test_a_student_as_wide_as_the_teacher_starts_as_the_teacher():
    teacher = build_generator("resnet_6blocks", 3, 3, ngf=4, name_prefix="teacher_")
    config = toy_config(recipe="gan_compression", distill_pairs=(("block_2", "block_2"),),
                        student_netG="resnet_6blocks", student_ngf=4,
                        init_student_from_teacher=True)
    distiller = build_distiller(config, toy_info(), 1, teacher=teacher)
    x = np.random.default_rng(0).uniform(-1, 1, (2, SIZE, SIZE, 3)).astype("float32")
    np.testing.assert_allclose(distiller.student(x).numpy(), teacher(x).numpy(), atol=1e-5)
    off = build_distiller(toy_config(recipe="gan_compression", student_netG="resnet_6blocks",
                                     student_ngf=4, distill_pairs=(("block_2", "block_2"),)),
                          toy_info(), 1, teacher=teacher)
    assert np.abs(off.student(x).numpy() - teacher(x).numpy()).max() > 1e-2
