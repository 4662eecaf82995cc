"""GauGAN / SPADE generators: SPADE normalisation against NumPy, nearest resizing
as PyTorch's, parameter counts against a hand count and GAN Compression's
published Cityscapes sizes, tap shapes, any aspect ratio, SavedModel round trip."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval.profile import profile
from itgc_tf.models.registry import build_generator
from itgc_tf.models.spade import (COMPRESSED_WIDTHS, ResizeNearest, compressed_widths,
                                  spade_generator)
from itgc_tf.models.taps import available_taps, feature_taps


def _one_hot(labels, n):
    return tf.one_hot(labels, n, dtype=tf.float32)


def test_resize_nearest_picks_floor_of_scaled_index_like_pytorch():
    x = np.arange(2 * 6 * 10 * 1, dtype=np.float32).reshape(2, 6, 10, 1)
    like = np.zeros((2, 4, 3, 1), np.float32)
    out = ResizeNearest()([x, like]).numpy()
    rows = np.floor(np.arange(4) * 6 / 4).astype(int)
    cols = np.floor(np.arange(3) * 10 / 3).astype(int)
    np.testing.assert_array_equal(out, x[:, rows][:, :, cols])
    np.testing.assert_array_equal(ResizeNearest(factor=2)(x).numpy(), x[:, ::2, ::2])


def _hand_count(semantic_nc, widths, mobile, output_nc=3):
    """Trainable parameters counted by hand from GAN Compression's module list."""
    def conv(cin, cout, k, bias=True):
        return cin * cout * k * k + (cout if bias else 0)

    def spade(c, hidden):
        mod = (hidden * 9 + hidden + hidden * c + c) if mobile else conv(hidden, c, 3)
        return conv(semantic_nc, hidden, 3) + 2 * mod

    trunk = 16 * widths[0]
    total = conv(semantic_nc, trunk, 3)
    ic = trunk
    for mult, w in zip((16, 16, 16, 8, 4, 2, 1), widths[1:]):
        learned = mult != 16
        mid = mult * w
        out = mid if learned else trunk
        total += spade(ic, 2 * w) + conv(ic, mid, 3) + spade(mid, 2 * w) + conv(mid, out, 3)
        if learned:
            total += spade(ic, 2 * w) + conv(ic, out, 1, bias=False)
        ic = out
    return total + conv(ic, output_nc, 3)


@pytest.mark.parametrize("widths,mobile", [((2,) * 8, False), ((2, 1, 3, 2, 1, 2, 3, 1), True)])
def test_trainable_params_match_hand_count(widths, mobile):
    model = spade_generator(5, 3, widths=widths, mobile=mobile, spectral=not mobile)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == _hand_count(5, widths, mobile)


@pytest.mark.slow
def test_cityscapes_sizes_reproduce_gan_compression_readme():
    # README of mit-han-lab/gan-compression: GauGAN 93.0M / 281G (original), compressed
    # 20.4M / 31.7G (paper) and 21.0M / 31.2G (retrained); semantic_nc = 35 labels + 1
    # edge, 256x512. Parameters within 0.5% (the README's rounding), MACs within 1.5%.
    for kwargs, params, macs in (({}, 93.0e6, 281e9),
                                 (dict(widths=COMPRESSED_WIDTHS["paper"], mobile=True,
                                       spectral=False), 20.4e6, 31.7e9),
                                 (dict(widths=COMPRESSED_WIDTHS["retrained"], mobile=True,
                                       spectral=False), 21.0e6, 31.2e9)):
        model = spade_generator(36, 3, 64, input_size=(256, 512), **kwargs)
        measured = profile(model, (256, 512, 36))
        assert abs(measured.trainable_params - params) / params < 0.005, (kwargs, measured)
        assert abs(measured.macs - macs) / macs < 0.015, (kwargs, measured.macs)


def test_spade_norm_matches_numpy_instance_norm_and_modulation():
    model = spade_generator(4, 3, widths=(1,) * 8, norm="instance", spectral=False,
                            upsampling="normal", input_size=(32, 64))
    labels = np.random.default_rng(0).integers(0, 4, (2, 32, 64))
    seg = _one_hot(labels, 4)
    probe = tf.keras.Model(model.input, [model.get_layer("stem").output,
                                         model.get_layer("block_0_norm_0_gamma").output,
                                         model.get_layer("block_0_norm_0_beta").output,
                                         model.get_layer("block_0_norm_0_modulate").output])
    x, gamma, beta, out = [t.numpy() for t in probe(seg)]
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * (1 + gamma) + beta
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_any_aspect_ratio_and_documented_tap_shapes():
    ngf, h, w = 2, 64, 192
    model = build_generator("spade", 6, 3, ngf, norm="batch")
    assert available_taps(model) == ["stem", "block_0", "block_1", "block_2",
                                     "up_0", "up_1", "up_2", "up_3"]
    net = feature_taps(model, available_taps(model))
    seg = _one_hot(np.random.default_rng(1).integers(0, 6, (1, h, w)), 6)
    out, feats = net(seg, training=False)
    assert out.shape == (1, h, w, 3)
    assert np.all(np.abs(out.numpy()) <= 1)
    expected = {"stem": (64, 16), "block_0": (64, 16), "block_1": (32, 16),
                "block_2": (16, 16), "up_0": (8, 8), "up_1": (4, 4), "up_2": (2, 2),
                "up_3": (1, 1)}
    for name, (div, mult) in expected.items():
        assert feats[name].shape == (1, h // div, w // div, mult * ngf), name


def test_compressed_student_has_gan_compression_widths_and_fewer_params():
    teacher = build_generator("spade", 6, 3, 8, norm="batch")
    student = build_generator("spade_compressed", 6, 3, 8, norm="batch")
    assert compressed_widths(8) == (4, 4, 6, 4, 4, 4, 4, 3)
    assert student.get_layer("stem").output.shape[-1] == 16 * 4
    assert student.count_params() < teacher.count_params() / 2


def test_label_map_changes_output_and_sizes_are_checked():
    model = spade_generator(3, 3, widths=(1,) * 8, upsampling="normal")
    a = _one_hot(np.zeros((1, 32, 32), int), 3)
    b = _one_hot(np.full((1, 32, 32), 2), 3)
    assert not np.allclose(model(a).numpy(), model(b).numpy())
    with pytest.raises(ValueError, match="divisible by 32"):
        model(_one_hot(np.zeros((1, 48, 40), int), 3))
    with pytest.raises(ValueError, match="widths must be 8"):
        spade_generator(3, widths=(1, 2))


def test_saved_model_round_trip_gives_same_output(tmp_path):
    model = spade_generator(3, 3, widths=(1,) * 8, upsampling="normal", input_size=(32, 64))
    seg = _one_hot(np.random.default_rng(2).integers(0, 3, (1, 32, 64)), 3)
    path = str(tmp_path / "g.keras")
    model.save(path)
    restored = tf.keras.models.load_model(path)
    np.testing.assert_allclose(restored(seg).numpy(), model(seg).numpy(), atol=1e-6)


def test_kernels_follow_xavier_normal_with_gain_0_02():
    model = spade_generator(8, 3, widths=(8,) * 8, upsampling="normal")
    kernel = model.get_layer("up_0_conv_0_sn").layer.kernel.numpy()  # 3x3, 128 -> 64
    fan_in, fan_out = 9 * kernel.shape[2], 9 * kernel.shape[3]
    assert kernel.std() == pytest.approx(0.02 * np.sqrt(2 / (fan_in + fan_out)), rel=0.05)
