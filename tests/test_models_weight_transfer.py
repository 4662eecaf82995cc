"""GAN Compression's weight transfer: a student as wide as the teacher computes the
teacher's function; a narrower one holds the teacher's strongest channels."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.registry import build_generator
from itgc_tf.models.weight_transfer import transfer_weights


def _pair(net, t_ngf, s_ngf, norm="instance"):
    teacher = build_generator(net, 3, 3, t_ngf, norm=norm, name_prefix="teacher_")
    student = build_generator(net, 3, 3, s_ngf, norm=norm, name_prefix="student_")
    rng = np.random.default_rng(0)
    for w in teacher.weights:  # distinct, non-trivial values everywhere (biases, BN stats)
        value = rng.normal(0, 0.3, w.shape)
        if "variance" in w.path or "gamma" in w.path:
            value = np.abs(value) + 0.5
        w.assign(value.astype("float32"))
    return teacher, student


@pytest.mark.parametrize("net,norm", [("mobile_resnet_6blocks", "instance"),
                                      ("mobile_resnet_6blocks", "batch"),
                                      ("resnet_6blocks", "instance")])
def test_a_student_as_wide_as_the_teacher_computes_the_teacher_function(net, norm):
    teacher, student = _pair(net, 4, 4, norm)
    x = tf.random.uniform((2, 16, 16, 3), -1, 1, seed=1)
    assert np.abs(teacher(x) - student(x)).max() > 1e-3  # different before
    transfer_weights(teacher, student)
    # The student's channels are the teacher's reordered by strength: the same sums in
    # another order, so float32 rounding differs (up to 1.1e-5 on an AMD EPYC's oneDNN).
    np.testing.assert_allclose(student(x), teacher(x), rtol=1e-4, atol=3e-5)


def test_a_narrower_student_holds_the_teachers_strongest_channels():
    teacher, student = _pair("mobile_resnet_6blocks", 8, 4)
    transfer_weights(teacher, student)
    get = lambda model, name: [w.numpy() for w in model.get_layer(name).weights]  # noqa
    # stem: all 3 inputs, the 4 outputs of largest L1 norm, strongest first
    t_kernel, t_bias = get(teacher, "stem_conv")
    stem = np.argsort(-np.abs(t_kernel).sum(axis=(0, 1, 2)))[:4]
    s_kernel, s_bias = get(student, "stem_conv")
    np.testing.assert_array_equal(s_kernel, t_kernel[..., stem])
    np.testing.assert_array_equal(s_bias, t_bias[stem])
    # down_0: the stem's channels in, its own strongest 8 out
    t_kernel, _ = get(teacher, "down_0_conv")
    t_kernel = t_kernel[:, :, stem, :]
    down = np.argsort(-np.abs(t_kernel).sum(axis=(0, 1, 2)))[:8]
    np.testing.assert_array_equal(get(student, "down_0_conv")[0], t_kernel[..., down])
    # a residual block writes back to the block input's channels (down_1's choice)
    t_kernel, _ = get(teacher, "down_1_conv")
    block_in = np.argsort(-np.abs(t_kernel[:, :, down, :]).sum(axis=(0, 1, 2)))[:16]
    np.testing.assert_array_equal(get(student, "block_3_conv_1_pointwise")[1],
                                  get(teacher, "block_3_conv_1_pointwise")[1][block_in])
    np.testing.assert_array_equal(get(student, "block_3_conv_0_depthwise")[0],
                                  get(teacher, "block_3_conv_0_depthwise")[0][:, :, block_in])
    # the head keeps every output channel and its whole bias
    np.testing.assert_array_equal(get(student, "head_conv")[1], get(teacher, "head_conv")[1])


@pytest.mark.parametrize("t_net,s_net,t_ngf,s_ngf,match", [
    ("unet_32", "unet_32", 4, 2, "supports the ResNet generators.*Fix:"),
    ("mobile_resnet_6blocks", "resnet_6blocks", 4, 2, "not the teacher .* architecture.*Fix:"),
    ("mobile_resnet_6blocks", "mobile_resnet_9blocks", 4, 2, "layers differ.*Fix:"),
    ("mobile_resnet_6blocks", "mobile_resnet_6blocks", 2, 4, "wider than the teacher.*Fix:"),
])
def test_transfer_is_refused_between_other_architectures(t_net, s_net, t_ngf, s_ngf, match):
    teacher = build_generator(t_net, 3, 3, t_ngf)
    student = build_generator(s_net, 3, 3, s_ngf)
    with pytest.raises(ValueError, match=match):
        transfer_weights(teacher, student)
