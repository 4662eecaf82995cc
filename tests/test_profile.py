"""MAC/parameter profiler: hand counts on a tiny network, closed forms for the
standard generators, the command line."""
import keras
import pytest
import tensorflow as tf

from cli_helpers import run_command
from itgc_tf.eval.profile import Profile, profile
from itgc_tf.models.resnet import resnet_generator
from itgc_tf.models.unet import unet_generator


def tiny_net():
    """8×8×3 input; every counted layer kind, a wrapper and a nested model."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same",
                                     name="depthwise")(x)
    x = keras.layers.Conv2D(6, 1, groups=2, name="grouped")(x)
    x = keras.layers.Conv2DTranspose(2, 3, strides=2, padding="same",
                                     name="transposed")(x)
    x = keras.layers.SpectralNormalization(
        keras.layers.Conv2D(5, 1, name="inner"), name="sn")(x)
    x = keras.Sequential([keras.layers.Conv2D(3, 1, name="nested_conv")],
                         name="nested")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(7, name="dense")(x)
    return keras.Model(inputs, outputs, name="tiny")


# Hand count, output-size convention (see itgc_tf.eval.profile):
HAND_MACS = {
    "conv": 8 * 8 * 4 * (3 * 3 * 3),          # 6912
    "depthwise": 4 * 4 * 4 * (3 * 3),         # 576
    "grouped": 4 * 4 * 6 * (1 * 1 * 2),       # 192: 4 in / 2 groups
    "transposed": 8 * 8 * 2 * (3 * 3 * 6),    # 6912 (output-size based)
    "sn/inner": 8 * 8 * 5 * 2,                # 640
    "nested/nested_conv": 8 * 8 * 3 * 5,      # 960
    "dense": 3 * 7,                           # 21
}
HAND_TRAINABLE = ((27 * 4 + 4) + (9 * 4 + 4) + (2 * 6 + 6) + (9 * 6 * 2 + 2)
                  + (2 * 5 + 5) + (5 * 3 + 3) + (3 * 7 + 7))  # 351


def test_tiny_net_matches_hand_count():
    result = profile(tiny_net(), (8, 8, 3))
    assert {p.name: p.macs for p in result.per_layer} == HAND_MACS
    assert result.macs == sum(HAND_MACS.values()) == 16213
    assert [p.op for p in result.per_layer] == [
        "conv", "depthwise_conv", "conv", "transposed_conv", "conv", "conv",
        "dense"]
    assert result.trainable_params == HAND_TRAINABLE
    # + spectral norm's power-iteration vector u (5 values).
    assert result.params == HAND_TRAINABLE + 5 == tiny_net().count_params()


def test_separable_conv_counts_depthwise_and_pointwise():
    inputs = keras.Input((6, 6, 4))
    outputs = keras.layers.SeparableConv2D(8, 3, padding="same")(inputs)
    result = profile(keras.Model(inputs, outputs), (6, 6, 4))
    assert result.macs == 36 * 4 * 9 + 36 * 8 * 4


def resnet_macs(size, ngf, n_blocks, mobile, nc=3):
    """Closed form for the ResNet generator (output-size convention)."""
    c, q, h = 4 * ngf, (size // 4) ** 2, (size // 2) ** 2
    block_conv = q * c * (9 + c) if mobile else q * c * c * 9
    return (size * size * ngf * nc * 49 + h * 2 * ngf * ngf * 9
            + q * c * 2 * ngf * 9 + 2 * n_blocks * block_conv
            + h * 2 * ngf * c * 9 + size * size * ngf * 2 * ngf * 9
            + size * size * nc * ngf * 49)


def unet_macs(size, ngf, num_downs, nc=3):
    c = [ngf * min(2 ** i, 8) for i in range(num_downs)]
    total = (size // 2) ** 2 * c[0] * nc * 16
    for i in range(1, num_downs):
        total += (size >> (i + 1)) ** 2 * c[i] * c[i - 1] * 16
    total += (size >> (num_downs - 1)) ** 2 * c[-2] * c[-1] * 16
    for i in range(num_downs - 2, 0, -1):
        total += (size >> i) ** 2 * c[i - 1] * 2 * c[i] * 16
    return total + size * size * nc * 2 * c[0] * 16


@pytest.mark.parametrize("mobile", [False, True])
def test_resnet_macs_match_closed_form(mobile):
    model = resnet_generator(3, 3, ngf=4, n_blocks=3, mobile=mobile)
    assert profile(model, (32, 32, 3)).macs == resnet_macs(32, 4, 3, mobile)


def test_unet_macs_match_closed_form():
    model = unet_generator(3, 3, ngf=4, num_downs=5)
    assert profile(model, (64, 64, 3)).macs == unet_macs(64, 4, 5)


def test_standard_generators_match_the_literature():
    """CycleGAN ResNet-9 ngf 64 at 256²: 56.8G MACs, 11.38M params
    (GAN Compression); OMGD's MobileResNet-9 ngf 16 student: 1.41G, 0.137M."""
    teacher = profile(resnet_generator(3, 3, 64, 9), (256, 256, 3))
    assert teacher.macs == resnet_macs(256, 64, 9, False) == 56_799_264_768
    assert teacher.human() == "56.8G MACs / 11.38M params"
    student = profile(resnet_generator(3, 3, 16, 9, mobile=True),
                      (256, 256, 3))
    assert student.macs == resnet_macs(256, 16, 9, True) == 1_407_713_280
    assert student.params == 137_347


def test_human_units():
    assert Profile(950, 950, 999, []).human() == "999 MACs / 950 params"
    assert Profile(1500, 1500, 2_500_000, []).human() == \
        "2.5M MACs / 1.50K params"


def test_input_shape_must_omit_the_batch():
    with pytest.raises(ValueError, match=r"\(H, W, C\) without the batch axis"):
        profile(tiny_net(), (1, 8, 8, 3))


def test_command_line_prints_exact_and_human_numbers():
    out = run_command("itgc_tf.profile", "--netG=resnet_6blocks", "--ngf=4",
                      "--input_size=32").stdout
    model = resnet_generator(3, 3, 4, 6)
    assert f"params: {model.count_params()} " in out
    assert f"MACs: {resnet_macs(32, 4, 6, False)}\n" in out
    assert "MACs / " in out


def test_command_line_rejects_unknown_generator():
    result = run_command("itgc_tf.profile", "--netG=resnet_5blocks", expect_ok=False)
    assert result.returncode != 0
    assert "Unknown generator 'resnet_5blocks'; valid names:" in result.stderr


class _DynamicFlatten(keras.layers.Layer):
    """Flattens with a data-dependent batch size, hiding static shapes."""

    def call(self, x):
        batch = tf.cast(tf.reduce_sum(x * 0.0) + 1.0, tf.int32)
        return tf.reshape(x, tf.stack([batch, -1]))

    def compute_output_shape(self, input_shape):
        return (None, 48)


def test_dynamic_shapes_are_reported():
    inputs = keras.Input((4, 4, 3))
    outputs = keras.layers.Dense(2)(_DynamicFlatten()(inputs))
    with pytest.raises(ValueError, match="shapes are not static"):
        profile(keras.Model(inputs, outputs), (4, 4, 3))
