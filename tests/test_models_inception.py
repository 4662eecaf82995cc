"""CAT's inception-residual generator: parameter and MAC counts against hand
counts, per-layer widths (removed branches, identity blocks), taps, affine norm,
saving."""
import numpy as np
import pytest

from itgc_tf.eval.profile import profile
from itgc_tf.models.inception import (InceptionWidths, cat_widths, inception_generator,
                                      inception_macs, widths_of)
from itgc_tf.models.layers import InstanceNorm
from itgc_tf.models.registry import build_generator
from itgc_tf.models.taps import available_taps, feature_taps

IRREGULAR = InceptionWidths(stem=5, down=(7, 12), blocks=(((3, 0, 2), (1, 4, 0)),
                                                         ((0, 0, 0), (0, 0, 0)),
                                                         ((0, 2, 0), (0, 0, 0))),
                            up=(6, 4))


def hand_params(w, input_nc, output_nc):
    """Convs with bias (instance norm) + affine instance norms (γ, β)."""
    conv = lambda cin, cout, k: cin * cout * k * k + cout  # noqa: E731
    c = w.down[-1]
    total = conv(input_nc, w.stem, 7) + 2 * w.stem
    total += conv(w.stem, w.down[0], 3) + 2 * w.down[0] + conv(w.down[0], c, 3) + 2 * c
    for res, dw in w.blocks:
        for k, m in zip(w.kernel_sizes, res):
            if m:
                total += conv(c, m, k) + 2 * m + conv(m, c, k)
        for k, m in zip(w.kernel_sizes, dw):
            if m:
                total += conv(c, m, 1) + 2 * m + (k * k * m + m) + 2 * m + conv(m, c, 1)
        if any(res) or any(dw):
            total += 2 * c
    total += conv(c, w.up[0], 3) + 2 * w.up[0] + conv(w.up[0], w.up[1], 3) + 2 * w.up[1]
    return total + conv(w.up[1], output_nc, 7)


def hand_macs(w, input_nc, output_nc, size):
    """CAT's model_profiling conv counts: out pixels · cout · k² · cin / groups."""
    p = {s: (size // s) ** 2 for s in (1, 2, 4)}
    c = w.down[-1]
    macs = p[1] * w.stem * 49 * input_nc + p[2] * w.down[0] * 9 * w.stem
    macs += p[4] * c * 9 * w.down[0]
    for res, dw in w.blocks:
        macs += sum(p[4] * (m * k * k * c + c * k * k * m) for k, m in zip(w.kernel_sizes, res))
        macs += sum(p[4] * (m * c + m * k * k + c * m) for k, m in zip(w.kernel_sizes, dw))
    macs += p[2] * w.up[0] * 9 * c + p[1] * w.up[1] * 9 * w.up[0]
    return macs + p[1] * output_nc * 49 * w.up[1]


def test_cat_teacher_has_cats_widths():
    """--ngf 64 --channels_reduction_factor 6 --kernel_sizes 1 3 5: trunk 256, 42-wide branches."""
    w = cat_widths(64)
    assert (w.stem, w.down, w.up, w.trunk) == (64, (128, 256), (128, 64), 256)
    assert w.blocks == (((42, 42, 42), (42, 42, 42)),) * 9


@pytest.mark.parametrize("widths", [cat_widths(6, 3), IRREGULAR])
def test_params_and_macs_match_hand_counts(widths):
    model = inception_generator(3, 2, widths)
    assert model.count_params() == hand_params(widths, 3, 2)
    assert profile(model, (32, 32, 3)).macs == inception_macs(widths, 3, 2, 32) \
        == hand_macs(widths, 3, 2, 32)


def test_cat_teacher_macs_at_256_by_hand():
    assert inception_macs(cat_widths(64), 3, 3, 256) == hand_macs(cat_widths(64), 3, 3, 256)


@pytest.mark.slow
def test_profiler_counts_the_full_cat_teacher_at_256():
    model = build_generator("inception_resnet_9blocks", 3, 3, 64)
    result = profile(model, (256, 256, 3))
    assert result.macs == hand_macs(cat_widths(64), 3, 3, 256)
    assert result.trainable_params == hand_params(cat_widths(64), 3, 3)
    print(f"CAT teacher ngf 64 at 256px: {result.macs} MACs, {result.trainable_params} params")


def test_removed_branches_have_no_layers_and_empty_block_is_identity():
    model = inception_generator(3, 3, IRREGULAR)
    names = {layer.name for layer in model.layers}
    assert {"block_0_res1_conv0", "block_0_res5_conv0", "block_0_dw1_pw0",
            "block_0_dw3_dw"} <= names
    assert not {"block_0_res3_conv0", "block_0_dw5_pw0"} & names
    assert not any(n.startswith("block_1_") for n in names)
    tapped = feature_taps(model, ["block_0", "block_1"])
    x = np.random.default_rng(0).uniform(-1, 1, (2, 16, 16, 3)).astype("float32")
    _, features = tapped(x)
    np.testing.assert_array_equal(features["block_1"], features["block_0"])
    assert widths_of(model) == IRREGULAR


def test_taps_shapes_and_output_range():
    model = build_generator("inception_resnet_9blocks", 3, 3, ngf=4)
    assert available_taps(model) == ["stem", "down_0", "down_1"] + [
        f"block_{i}" for i in range(9)] + ["up_0", "up_1"]
    out, features = feature_taps(model, ["down_1", "block_8"])(np.zeros((1, 16, 16, 3)))
    assert out.shape == (1, 16, 16, 3) and np.all(np.abs(out) <= 1)
    assert features["down_1"].shape == features["block_8"].shape == (1, 4, 4, 16)


def test_affine_instance_norm_scales_and_shifts_per_channel():
    layer = InstanceNorm(affine=True)
    x = np.random.default_rng(1).normal(2, 3, (2, 5, 4, 3)).astype("float32")
    layer.build(x.shape)
    layer.gamma.assign([0.5, -2.0, 0.0])
    layer.beta.assign([1.0, 0.0, 3.0])
    mean, var = x.mean((1, 2), keepdims=True), x.var((1, 2), keepdims=True)
    expected = (x - mean) / np.sqrt(var + 1e-5) * [0.5, -2.0, 0.0] + [1.0, 0.0, 3.0]
    np.testing.assert_allclose(layer(x), expected, atol=1e-5)


def test_every_inception_norm_is_affine_and_saves(tmp_path):
    model = inception_generator(3, 3, IRREGULAR)
    norms = [layer for layer in model.layers if isinstance(layer, InstanceNorm)]
    assert norms and all(layer.affine for layer in norms)
    x = np.random.default_rng(2).uniform(-1, 1, (1, 16, 16, 3)).astype("float32")
    path = tmp_path / "g.keras"
    model.save(path)
    import keras
    loaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(loaded(x), model(x), atol=1e-6)
    assert widths_of(loaded) == IRREGULAR


def test_widths_validate_and_round_trip_through_json():
    assert InceptionWidths.from_json(IRREGULAR.to_json()) == IRREGULAR
    with pytest.raises(ValueError, match="distinct odd"):
        InceptionWidths(4, (4, 4), (), (4, 4), kernel_sizes=(3, 3))
    with pytest.raises(ValueError, match="only inception branches"):
        InceptionWidths(0, (4, 4), (), (4, 4))
    with pytest.raises(ValueError, match="not an inception generator"):
        widths_of(build_generator("resnet_6blocks", 3, 3, 4))
