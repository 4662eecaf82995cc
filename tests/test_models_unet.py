"""U-Net generator: parameter counts against a closed form, taps, skip
connections, dropout placement, size checks."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.taps import available_taps, feature_taps
from itgc_tf.models.unet import unet_generator


def closed_form_params(input_nc, output_nc, ngf, num_downs, norm):
    bias = norm != "batch"
    per_norm = 4 if norm == "batch" else 0
    c = [ngf * min(2 ** i, 8) for i in range(num_downs)]

    def conv(cin, cout, with_bias=bias):
        return cin * cout * 16 + (cout if with_bias else 0)

    total = conv(input_nc, c[0])
    for i in range(1, num_downs):
        total += conv(c[i - 1], c[i]) + per_norm * c[i] * (i < num_downs - 1)
    total += conv(c[-1], c[-2]) + per_norm * c[-2]  # innermost up
    for i in range(num_downs - 2, 0, -1):
        total += conv(2 * c[i], c[i - 1]) + per_norm * c[i - 1]
    return total + conv(2 * c[0], output_nc, with_bias=True)


@pytest.mark.parametrize("ngf,num_downs,norm", [
    (4, 5, "instance"), (4, 6, "batch"), (2, 3, "none"), (4, 8, "instance"),
])
def test_param_count_matches_hand_count(ngf, num_downs, norm):
    model = unet_generator(3, 2, ngf, num_downs, norm)
    assert model.count_params() == closed_form_params(3, 2, ngf, num_downs,
                                                      norm)


def test_standard_pix2pix_unet_has_literature_param_count():
    # pix2pix U-Net-256, ngf 64, batch norm: 54.41M trainable parameters.
    model = unet_generator(3, 3, 64, 8, "batch")
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 54_413_955
    assert model.count_params() == closed_form_params(3, 3, 64, 8, "batch")


def test_feature_taps_have_documented_shapes():
    ngf, n, size = 4, 5, 64
    model = unet_generator(3, 3, ngf, n, input_size=None)
    names = available_taps(model)
    encoder = [tap for i in range(n - 1) for tap in (f"down_{i}", f"leaky_down_{i}")]
    decoder = [tap for i in reversed(range(1, n)) for tap in (f"up_{i}", f"up_relu_{i}")]
    assert names == encoder + [f"down_{n - 1}"] + decoder + ["up_0"]
    out, f = feature_taps(model, names)(tf.zeros((1, size, size, 3)))
    assert out.shape == (1, size, size, 3)
    for i in range(n):
        assert f[f"down_{i}"].shape == (1, size >> (i + 1), size >> (i + 1),
                                        ngf * min(2 ** i, 8))
    for i in range(1, n):
        assert f[f"up_{i}"].shape == (1, size >> i, size >> i,
                                      ngf * min(2 ** (i - 1), 8))
    assert f["up_0"].shape == (1, size, size, 3)
    np.testing.assert_allclose(out, np.tanh(f["up_0"]), atol=1e-6)


def test_skip_carries_leaky_relu_of_the_encoder_feature():
    """As the original's in-place LeakyReLU: skip_i = [lrelu(down_{i-1}), up_i]."""
    model = unet_generator(3, 3, 4, 4)
    probe = keras.Model(model.input, [model.get_layer("skip_2").output,
                                      model.get_layer("down_1").output,
                                      model.get_layer("up_2").output])
    skip, down, up = probe(tf.random.uniform((2, 32, 32, 3), -1, 1))
    c = down.shape[-1]
    np.testing.assert_allclose(skip[..., :c],
                               np.where(down > 0, down, 0.2 * down), atol=1e-6)
    np.testing.assert_allclose(skip[..., c:], up, atol=1e-6)


def test_omgd_taps_are_leaky_encoder_features_and_relu_of_the_skip_concat():
    """leaky_down_i = LeakyReLU_0.2(down_i); up_relu_i = ReLU(concat(leaky_down_{i-1}, up_i)),
    checked against NumPy from the down_/up_ taps; OMGD's four layers at unet_256 widths."""
    n, ngf = 5, 4
    model = unet_generator(3, 3, ngf, n, norm="batch")
    names = [f"down_{i}" for i in range(n)] + [f"up_{i}" for i in range(1, n)]
    names += [f"leaky_down_{i}" for i in range(n - 1)] + [f"up_relu_{i}" for i in range(1, n)]
    assert set(names) <= set(available_taps(model))
    _, f = feature_taps(model, names)(tf.random.uniform((2, 32, 32, 3), -1, 1))
    lrelu = lambda v: np.where(v > 0, v, 0.2 * v)  # noqa: E731
    for i in range(n - 1):
        np.testing.assert_allclose(f[f"leaky_down_{i}"], lrelu(np.asarray(f[f"down_{i}"])),
                                   atol=1e-6)
    for i in range(1, n):
        concat = np.concatenate([lrelu(np.asarray(f[f"down_{i - 1}"])), f[f"up_{i}"]], -1)
        np.testing.assert_allclose(f[f"up_relu_{i}"], np.maximum(concat, 0), atol=1e-6)
        assert f[f"up_relu_{i}"].shape[-1] == 2 * ngf * min(2 ** (i - 1), 8)
    # OMGD's mapping_layers of unet_256: 2, 8, 16 and 4 times ngf channels
    big = unet_generator(3, 3, 2, 8)
    channels = [big.get_layer(t).output.shape[-1]
                for t in ("leaky_down_1", "leaky_down_3", "up_relu_4", "up_relu_2")]
    assert channels == [2 * 2, 8 * 2, 16 * 2, 4 * 2]


def test_dropout_on_the_extra_innermost_levels_only():
    model = unet_generator(3, 3, 2, 8, dropout=True)
    dropouts = sorted(l.name for l in model.layers
                      if isinstance(l, keras.layers.Dropout))
    assert dropouts == ["up_4_dropout", "up_5_dropout", "up_6_dropout"]
    x = tf.random.uniform((1, 256, 256, 3), -1, 1)
    np.testing.assert_array_equal(model(x), model(x))


def test_sizes_must_be_multiples_of_two_to_the_levels():
    with pytest.raises(ValueError, match="divisible by 32, got 48x48"):
        unet_generator(3, 3, 4, 5, input_size=48)
    model = unet_generator(3, 3, 4, 5)
    with pytest.raises(ValueError, match="divisible by 32"):
        model(tf.zeros((1, 48, 64, 3)))
    assert model(tf.zeros((1, 32, 96, 3))).shape == (1, 32, 96, 3)


def test_too_few_levels_rejected():
    with pytest.raises(ValueError, match="num_downs >= 2"):
        unet_generator(3, 3, 4, 1)


def _bottleneck_params(d, norm):
    bias = norm != "batch"
    per_norm = 2 if norm == "batch" else 0
    convs = [(d, 4 * d, 1), (4 * d, 4 * d, 3), (4 * d, d, 1), (d, d, 3)]
    return sum(cin * cout * k * k + (cout if bias else 0) + per_norm * cout
               for cin, cout, k in convs)


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_deepest_unet_adds_two_bottleneck_blocks_per_level_to_the_unet(norm):
    """OMGD's unet_deepest: the U-Net's parameters plus 2 blocks after each encoder level
    (not the innermost), each decoder level (not the innermost) and level 0's concat."""
    from itgc_tf.models.registry import build_generator
    ngf, n = 16, 8
    model = build_generator("unet_deepest_256", 3, 3, ngf, norm=norm)
    c = [ngf * min(2 ** i, 8) for i in range(n)]
    blocks = 2 * (sum(_bottleneck_params(c[i], norm) for i in range(n - 1))
                  + sum(_bottleneck_params(c[i - 1], norm) for i in range(1, n - 1))
                  + _bottleneck_params(2 * ngf, norm))
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    plain = closed_form_params(3, 3, ngf, n, norm)
    if norm == "batch":  # closed_form_params counts BN moving statistics too
        plain -= sum(2 * ci for ci in c[1:n - 1]) + 2 * c[-2] + sum(
            2 * c[i - 1] for i in range(1, n - 1))
    assert trainable == plain + blocks


def test_deepest_unet_taps_follow_the_blocks_and_it_trains_at_toy_size():
    model = unet_generator(3, 3, 2, 5, norm="batch", blocks_per_level=2)
    _, f = feature_taps(model, ["down_1", "up_2", "leaky_down_1", "up_relu_2"])(
        tf.random.uniform((2, 32, 32, 3), -1, 1), training=True)
    assert f["down_1"].shape == (2, 8, 8, 4) and f["up_2"].shape == (2, 8, 8, 4)
    assert model.get_layer("down_1").__class__.__name__ == "Add"
    np.testing.assert_allclose(f["leaky_down_1"], np.where(f["down_1"] > 0, f["down_1"],
                                                           0.2 * np.asarray(f["down_1"])),
                               atol=1e-6)
    x = tf.random.uniform((2, 32, 32, 3), -1, 1)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.abs(model(x, training=True) - x))
    grads = tape.gradient(loss, model.trainable_weights)
    assert all(g is not None and np.all(np.isfinite(g)) for g in grads)
