"""The comparison picture (itgc_tf.eval.comparison): native-resolution inference, layout
of input | teacher | student | ground truth rows, PSNR labels."""
import keras
import numpy as np
import pytest
from PIL import Image

from itgc_tf.eval.comparison import (COLUMNS, LABEL_HEIGHT, Comparison, required_multiple,
                                     run_native, write_comparison)
from itgc_tf.models.layers import SizeCheck
from itgc_tf.models.registry import build_generator

SIZES = ((40, 56), (37, 45), (48, 48))  # (H, W) of the three photos; two not multiples of 8


def pointwise_net(multiple=8, seed=0):
    """tanh(1x1 conv(x)) behind a SizeCheck(multiple): any pixel's output depends on that
    pixel only, so padding cannot change it. Returns (model, numpy function)."""
    inputs = keras.Input((None, None, 3))
    x = SizeCheck(multiple, "pointwise")(inputs)
    conv = keras.layers.Conv2D(3, 1, kernel_initializer=keras.initializers.RandomNormal(
        stddev=0.5, seed=seed), bias_initializer="zeros")
    model = keras.Model(inputs, keras.layers.Activation("tanh")(conv(x)))
    kernel, bias = (w.numpy() for w in conv.weights)
    return model, lambda image: np.tanh(image @ kernel[0, 0] + bias)


def identity_unet():
    """A residual U-Net (needs multiples of 8) whose zeroed head makes it the identity."""
    model = build_generator("unet_8", 3, 3, 4, residual=True)
    head = model.get_layer("up_0")
    head.set_weights([np.zeros_like(w) for w in head.get_weights()])
    return model


def photo_pairs(seed=0):
    rng = np.random.default_rng(seed)
    pairs = []
    for height, width in SIZES:
        clean = np.clip(rng.normal(0, 0.5, (height, width, 3)), -1, 1).astype(np.float32)
        degraded = np.clip(clean + rng.normal(0, 0.2, clean.shape), -1, 1).astype(np.float32)
        pairs.append((degraded, clean))
    return pairs


def numpy_psnr(x, y):
    mse = np.mean(((x.astype(np.float64) + 1) / 2 - (y.astype(np.float64) + 1) / 2) ** 2)
    return 10 * np.log10(1.0 / mse)


def test_native_inference_pads_and_crops_back_to_any_size():
    model, reference = pointwise_net()
    image = np.random.default_rng(1).uniform(-1, 1, (13, 21, 3)).astype(np.float32)
    assert required_multiple(model) == 8 and required_multiple(build_generator(
        "unet_16", 3, 3, 4)) == 16
    np.testing.assert_allclose(run_native(model, image), reference(image), atol=1e-5)


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    student, reference = pointwise_net(seed=3)
    pairs = photo_pairs()
    path = tmp_path_factory.mktemp("cmp") / "comparison.png"
    return write_comparison(path, identity_unet(), student, pairs), pairs, reference


def test_picture_has_three_rows_of_four_native_size_panels(drawn):
    comparison, pairs, _ = drawn
    assert isinstance(comparison, Comparison)
    with Image.open(comparison.path) as png:
        assert png.format == "PNG" and png.size == comparison.size
    assert len(comparison.panels) == 3 and all(len(row) == len(COLUMNS) == 4
                                               for row in comparison.panels)
    for row, (degraded, _) in zip(comparison.panels, pairs):
        height, width = degraded.shape[:2]
        assert [(w, h) for _, _, w, h in row] == [(width, height)] * 4
        lefts = [left for left, _, _, _ in row]
        assert lefts == sorted(lefts) and len({top for _, top, _, _ in row}) == 1
        assert row[0][1] >= LABEL_HEIGHT  # room for the label above the panel
    width, height = comparison.size
    assert all(left + w <= width and top + h <= height
               for row in comparison.panels for left, top, w, h in row)


def test_psnr_labels_equal_an_independent_computation(drawn):
    comparison, pairs, reference = drawn
    for row, (degraded, clean) in zip(comparison.metrics, pairs):
        expected = numpy_psnr(degraded, clean)
        # input and (identity) teacher score the input's PSNR; the student its own output's
        assert row[0]["psnr"] == pytest.approx(expected, abs=1e-3)
        assert row[1]["psnr"] == pytest.approx(expected, abs=1e-3)
        assert row[2]["psnr"] == pytest.approx(numpy_psnr(reference(degraded), clean), abs=1e-3)
        assert np.isinf(row[3]["psnr"]) and row[3]["ssim"] == pytest.approx(1.0)


def test_no_pairs_is_an_error_with_a_fix(tmp_path):
    model, _ = pointwise_net()
    with pytest.raises(ValueError, match="Fix:"):
        write_comparison(tmp_path / "c.png", model, model, [])
    assert not (tmp_path / "c.png").exists()
