"""ResNet / MobileResNet generators: parameter counts against a closed form,
feature-tap shapes, residual wiring, dropout, size checks."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.resnet import resnet_generator
from itgc_tf.models.taps import available_taps, feature_taps


def closed_form_params(input_nc, output_nc, ngf, n_blocks, norm, mobile):
    """Hand count: conv weights + biases (none before batch norm) + norm
    weights (batch norm: gamma, beta, moving mean and variance)."""
    bias = norm != "batch"
    per_norm = 4 if norm == "batch" else 0

    def conv(cin, cout, k, with_bias=bias):
        return cin * cout * k * k + (cout if with_bias else 0)

    c = 4 * ngf
    total = conv(input_nc, ngf, 7) + conv(ngf, 2 * ngf, 3) + conv(2 * ngf, c, 3)
    norms = [ngf, 2 * ngf, c]
    for _ in range(n_blocks):
        for _ in range(2):
            if mobile:  # depthwise (bias) + norm + pointwise (bias)
                total += c * 9 + c + c * c + c
                norms.append(c)
            else:
                total += conv(c, c, 3)
            norms.append(c)
    total += conv(c, 2 * ngf, 3) + conv(2 * ngf, ngf, 3)
    norms += [2 * ngf, ngf]
    total += conv(ngf, output_nc, 7, with_bias=True)
    return total + per_norm * sum(norms)


@pytest.mark.parametrize("ngf,n_blocks,norm,mobile", [
    (4, 6, "instance", False), (4, 6, "batch", False), (6, 3, "none", False),
    (4, 6, "instance", True), (4, 9, "batch", True),
])
def test_param_count_matches_hand_count(ngf, n_blocks, norm, mobile):
    model = resnet_generator(3, 2, ngf, n_blocks, norm, mobile=mobile)
    assert model.count_params() == closed_form_params(3, 2, ngf, n_blocks,
                                                      norm, mobile)


def test_standard_cyclegan_generator_has_literature_param_count():
    # CycleGAN ResNet-9, ngf 64: 11.378M parameters in the literature.
    model = resnet_generator(3, 3, 64, 9)
    assert model.count_params() == closed_form_params(3, 3, 64, 9, "instance",
                                                      False) == 11_378_179


@pytest.mark.parametrize("mobile", [False, True])
def test_feature_taps_have_documented_shapes(mobile):
    ngf, size = 4, 16
    model = resnet_generator(3, 3, ngf, n_blocks=3, mobile=mobile)
    assert available_taps(model) == ["stem", "down_0", "down_1", "block_0",
                                     "block_1", "block_2", "up_0", "up_1"]
    expected = {"stem": (size, ngf), "down_0": (size // 2, 2 * ngf),
                "down_1": (size // 4, 4 * ngf), "block_1": (size // 4, 4 * ngf),
                "up_0": (size // 2, 2 * ngf), "up_1": (size, ngf)}
    _, features = feature_taps(model, list(expected))(
        tf.zeros((2, size, size, 3)))
    for name, (s, c) in expected.items():
        assert features[name].shape == (2, s, s, c), name


def test_residual_block_adds_its_branch_to_its_input():
    """With the branch's last conv zeroed, block_0 returns its input."""
    model = resnet_generator(3, 3, 4, n_blocks=2)
    conv = model.get_layer("block_0_conv_1")
    conv.set_weights([np.zeros_like(w) for w in conv.get_weights()])
    _, f = feature_taps(model, ["down_1", "block_0"])(
        tf.random.uniform((1, 16, 16, 3), -1, 1))
    np.testing.assert_allclose(f["block_0"], f["down_1"], atol=1e-6)


def test_mobile_blocks_use_depthwise_separable_convs():
    model = resnet_generator(3, 3, 4, n_blocks=2, mobile=True)
    kinds = {layer.name: type(layer).__name__ for layer in model.layers}
    assert kinds["block_0_conv_0_depthwise"] == "DepthwiseConv2D"
    assert model.get_layer("block_0_conv_0_pointwise").kernel_size == (1, 1)
    assert "block_0_conv_0" not in kinds


def test_dropout_only_in_training():
    model = resnet_generator(3, 3, 4, n_blocks=2, dropout=True)
    x = tf.random.uniform((1, 16, 16, 3), -1, 1)
    np.testing.assert_array_equal(model(x, training=False),
                                  model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=True))


def test_sizes_must_be_multiples_of_four():
    with pytest.raises(ValueError, match="divisible by 4, got 18x18"):
        resnet_generator(3, 3, 4, 2, input_size=18)
    model = resnet_generator(3, 3, 4, 2)
    with pytest.raises(ValueError, match="divisible by 4, got 18x20"):
        model(tf.zeros((1, 18, 20, 3)))
    assert model(tf.zeros((1, 20, 12, 3))).shape == (1, 20, 12, 3)


def test_negative_blocks_rejected():
    with pytest.raises(ValueError, match="n_blocks must be >= 0"):
        resnet_generator(3, 3, 4, n_blocks=-1)
