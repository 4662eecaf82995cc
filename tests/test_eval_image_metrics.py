"""PSNR / SSIM of paired images (itgc_tf.eval.image_metrics)."""
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from itgc_tf.eval.image_metrics import PairedImageMetrics, psnr, ssim


def _pair(n=3, size=24, channels=3, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, (n, size, size, channels)).astype(np.float32)
    y = np.clip(x + rng.normal(0, noise, x.shape), -1, 1).astype(np.float32)
    return x, y


def test_psnr_matches_numpy_on_the_unit_range():
    x, y = _pair()
    mse = np.mean(((x + 1) / 2 - (y + 1) / 2) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(psnr(x, y).numpy(), 10 * np.log10(1.0 / mse), rtol=1e-5)


def test_psnr_of_identical_images_is_infinite():
    x, _ = _pair(n=1)
    assert np.isinf(psnr(x, x).numpy()[0])


def test_ssim_matches_scikit_image_gaussian_ssim():
    x, y = _pair(n=2, size=32, noise=0.3)
    expected = [structural_similarity((a + 1) / 2, (b + 1) / 2, data_range=1.0, channel_axis=-1,
                                      gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
                for a, b in zip(x, y)]
    np.testing.assert_allclose(ssim(x, y).numpy(), expected, atol=2e-4)


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    x, y_small = _pair(noise=0.05, seed=1)
    _, y_large = _pair(noise=0.5, seed=1)
    np.testing.assert_allclose(ssim(x, x).numpy(), 1.0, atol=1e-5)
    assert np.all(ssim(x, y_large).numpy() < ssim(x, y_small).numpy())


def test_metric_input_errors():
    x, y = _pair(size=16)
    with pytest.raises(ValueError, match="one shape"):
        psnr(x, y[:, :8])
    small = np.zeros((1, 8, 8, 3), np.float32)
    with pytest.raises(ValueError, match="at least 11"):
        ssim(small, small)


def test_accumulator_weights_every_image_equally_across_uneven_batches():
    x, y = _pair(n=5, size=16, noise=0.2, seed=2)
    metrics = PairedImageMetrics()
    metrics.update(x[:4], y[:4])
    metrics.update(x[4:], y[4:])
    result = metrics.result()
    assert result["count"] == 5
    assert result["psnr"] == pytest.approx(float(np.mean(psnr(x, y).numpy())), rel=1e-5)
    assert result["ssim"] == pytest.approx(float(np.mean(ssim(x, y).numpy())), rel=1e-5)
    with pytest.raises(ValueError, match="no images"):
        PairedImageMetrics().result()
