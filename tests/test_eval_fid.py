"""FID, KID and the cached real statistics (itgc_tf.eval.fid)."""
import os

import numpy as np
import pytest
import scipy.linalg

from itgc_tf.eval import fid


def _frechet_sqrtm(mu1, sigma1, mu2, sigma2):
    """Independent FID with scipy's general matrix square root of sigma1·sigma2."""
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2).real
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def _frechet_from_features(a, b):
    """Independent FID of two equal-size feature sets without any matrix root:
    with centred features X1, X2 (n rows), Tr sqrt(S1 S2) is the nuclear norm of
    X1 X2ᵀ over n − 1 (the eigenvalues of S1 S2 are its squared singular values)."""
    n = a.shape[0]
    x1, x2 = a - a.mean(0), b - b.mean(0)
    trace_root = np.linalg.svd(x1 @ x2.T, compute_uv=False).sum() / (n - 1)
    return float(np.sum((a.mean(0) - b.mean(0)) ** 2) + np.sum(x1 ** 2) / (n - 1)
                 + np.sum(x2 ** 2) / (n - 1) - 2 * trace_root)


def _random_gaussian(rng, dim):
    a = rng.normal(size=(dim, dim))
    return rng.normal(size=dim), a @ a.T / dim + 0.1 * np.eye(dim)


def test_frechet_distance_matches_scipy_sqrtm_on_random_gaussians():
    rng = np.random.default_rng(0)
    for dim in (2, 16, 64):
        mu1, sigma1 = _random_gaussian(rng, dim)
        mu2, sigma2 = _random_gaussian(rng, dim)
        expected = _frechet_sqrtm(mu1, sigma1, mu2, sigma2)
        assert fid.frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_closed_form_for_diagonal_covariances():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    var1, var2 = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    assert fid.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2)) == pytest.approx(expected, rel=1e-10)


def test_fid_of_a_feature_set_against_itself_is_zero_and_grows_with_a_shift():
    features = np.random.default_rng(2).normal(size=(400, 32))
    mu, sigma = fid.feature_statistics(features)
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6
    shifted = fid.frechet_distance(mu, sigma, *fid.feature_statistics(features + 0.5))
    assert shifted == pytest.approx(32 * 0.25, rel=1e-6)  # only the means move
    assert fid.frechet_distance(mu, sigma, *fid.feature_statistics(features + 1.0)) > shifted


def test_feature_statistics_are_mean_and_unbiased_covariance():
    features = np.random.default_rng(3).normal(size=(50, 4))
    mu, sigma = fid.feature_statistics(features)
    centred = features - features.mean(0)
    np.testing.assert_allclose(mu, features.mean(0))
    np.testing.assert_allclose(sigma, centred.T @ centred / 49)


def test_fid_with_fewer_samples_than_dimensions_stays_finite_and_accurate():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(10, 40)), rng.normal(size=(10, 40)) + 0.2
    stats_a, stats_b = fid.feature_statistics(a), fid.feature_statistics(b)
    value = fid.frechet_distance(*stats_a, *stats_b)
    assert np.isfinite(value)
    # sqrt of the round-off eigenvalues of the rank-deficient product: ~1e-8 relative.
    assert value == pytest.approx(_frechet_from_features(a, b), rel=1e-7)


def test_frechet_distance_matches_the_feature_svd_form_on_full_rank_sets():
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(300, 24)), rng.normal(size=(300, 24)) * 1.5 + 0.1
    value = fid.frechet_distance(*fid.feature_statistics(a), *fid.feature_statistics(b))
    assert value == pytest.approx(_frechet_from_features(a, b), rel=1e-9)


def test_failed_eigendecomposition_falls_back_to_the_eps_offset(monkeypatch):
    rng = np.random.default_rng(5)
    mu1, sigma1 = _random_gaussian(rng, 6)
    mu2, sigma2 = _random_gaussian(rng, 6)
    real_eigh = np.linalg.eigh
    calls = []

    def failing_once(matrix, *args, **kwargs):
        calls.append(matrix)
        if len(calls) == 1:
            raise np.linalg.LinAlgError("Eigenvalues did not converge")
        return real_eigh(matrix, *args, **kwargs)

    monkeypatch.setattr(np.linalg, "eigh", failing_once)
    eps = 1e-2
    value = fid.frechet_distance(mu1, sigma1, mu2, sigma2, eps=eps)
    assert len(calls) == 2
    offset = eps * np.eye(6)
    assert value == pytest.approx(_frechet_sqrtm(mu1, sigma1 + offset, mu2, sigma2 + offset)
                                  - 2 * np.trace(offset), rel=1e-10)

    def always_failing(matrix, *args, **kwargs):
        raise np.linalg.LinAlgError("Eigenvalues did not converge")

    monkeypatch.setattr(np.linalg, "eigh", always_failing)
    with pytest.raises(ValueError, match="larger eps"):
        fid.frechet_distance(mu1, sigma1, mu2, sigma2)


def test_frechet_distance_errors():
    eye = np.eye(3)
    with pytest.raises(ValueError, match="same feature network"):
        fid.frechet_distance(np.zeros(3), eye, np.zeros(4), np.eye(4))
    with pytest.raises(ValueError, match="not positive semi-definite"):
        fid.frechet_distance(np.zeros(3), -eye, np.zeros(3), eye)
    with pytest.raises(ValueError, match="NaN/Inf"):
        fid.frechet_distance(np.zeros(3), np.full((3, 3), np.nan), np.zeros(3), eye)
    with pytest.raises(ValueError, match="at least 2"):
        fid.feature_statistics(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        fid.feature_statistics(np.zeros(5))


def _mmd2_unbiased_loops(x, y):
    """Independent unbiased MMD² with the cubic polynomial kernel, by explicit sums."""
    def k(a, b):
        return (a @ b / x.shape[1] + 1) ** 3
    m = len(x)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


def test_kid_equals_the_unbiased_mmd_when_every_subset_is_the_whole_set():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(30, 5)), rng.normal(size=(30, 5)) + 0.3
    mean, std = fid.kernel_inception_distance(x, y, num_subsets=4, subset_size=1000)
    assert mean == pytest.approx(_mmd2_unbiased_loops(x, y), rel=1e-9)
    assert std == pytest.approx(0.0, abs=1e-9)  # subsets are permutations of the full sets


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same_mean, same_std = fid.kernel_inception_distance(x, y, num_subsets=50, subset_size=200)
    diff_mean, diff_std = fid.kernel_inception_distance(x, y + 0.5, num_subsets=50, subset_size=200)
    assert abs(same_mean) < 0.01
    assert same_std > 0  # distinct random subsets
    assert diff_mean > 0.2 and diff_mean > 20 * abs(same_mean) and diff_mean > 5 * diff_std


def test_kid_is_deterministic_given_the_seed_and_validates_inputs():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(40, 4)), rng.normal(size=(50, 4))
    assert fid.kernel_inception_distance(x, y, 5, 10, seed=3) == fid.kernel_inception_distance(x, y, 5, 10, seed=3)
    with pytest.raises(ValueError, match="same feature network"):
        fid.kernel_inception_distance(x, np.zeros((50, 3)))
    with pytest.raises(ValueError, match="at least 2"):
        fid.kernel_inception_distance(x[:1], y)
    with pytest.raises(ValueError, match="num_subsets"):
        fid.kernel_inception_distance(x, y, num_subsets=0)


class _CountingExtractor:
    """Stand-in for InceptionFeatures: a fixed projection of the mean pixel; counts images seen."""

    def __init__(self, network_id="fake:1"):
        self.network_id = network_id
        self.images_seen = 0
        self._projection = np.random.default_rng(0).normal(size=(3, 8))

    def features(self, images, max_images=None):
        batch = np.concatenate(list(images))[:max_images]
        self.images_seen += len(batch)
        return (batch.reshape(len(batch), -1, 3) ** 2).mean(1) @ self._projection


def _batches(n=24, batch=8, seed=0):
    images = np.random.default_rng(seed).uniform(-1, 1, (n, 4, 4, 3)).astype(np.float32)
    return [images[i:i + batch] for i in range(0, n, batch)]


def test_real_statistics_are_computed_once_then_loaded(tmp_path):
    path = str(tmp_path / "stats" / "real.npz")
    extractor = _CountingExtractor()
    first = fid.RealStatistics.load_or_compute(path, extractor, _batches(), num_images=24)
    assert extractor.images_seen == 24 and os.path.isfile(path)
    assert os.listdir(tmp_path / "stats") == ["real.npz"]  # no temp file left behind
    second = fid.RealStatistics.load_or_compute(path, extractor, _batches(seed=1), num_images=24)
    assert extractor.images_seen == 24  # cache hit: nothing recomputed
    np.testing.assert_array_equal(second.mu, first.mu)
    np.testing.assert_array_equal(second.sigma, first.sigma)
    np.testing.assert_array_equal(second.kid_features, first.kid_features)
    assert (second.count, second.network_id) == (24, "fake:1")
    mu, sigma = fid.feature_statistics(extractor.features(_batches()))
    np.testing.assert_allclose(first.mu, mu)
    np.testing.assert_allclose(first.sigma, sigma)


def test_real_statistics_are_recomputed_for_another_network_or_count(tmp_path):
    path = str(tmp_path / "real.npz")
    fid.RealStatistics.load_or_compute(path, _CountingExtractor("fake:1"), _batches(), num_images=24)
    other_net = _CountingExtractor("fake:2")
    stats = fid.RealStatistics.load_or_compute(path, other_net, _batches(), num_images=24)
    assert other_net.images_seen == 24 and stats.network_id == "fake:2"
    assert fid.RealStatistics.load(path).network_id == "fake:2"  # the cache was rewritten
    fewer = _CountingExtractor("fake:2")
    stats = fid.RealStatistics.load_or_compute(path, fewer, _batches(), num_images=16)
    assert fewer.images_seen == 16 and stats.count == 16
    with pytest.raises(ValueError, match="yielded only 24"):
        fid.RealStatistics.load_or_compute(path, fewer, _batches(), num_images=30)


def test_real_statistics_keep_a_bounded_kid_subset():
    features = np.random.default_rng(9).normal(size=(100, 5))
    stats = fid.RealStatistics.from_features(features, "fake:1", max_kid_features=30)
    assert stats.kid_features.shape == (30, 5) and stats.kid_features.dtype == np.float32
    assert stats.count == 100
    rows = {tuple(r) for r in features.astype(np.float32)}
    assert all(tuple(r) in rows for r in stats.kid_features)


def test_real_statistics_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="load_or_compute"):
        fid.RealStatistics.load(str(tmp_path / "missing.npz"))
    bad = tmp_path / "bad.npz"
    np.savez(bad, mu=np.zeros(2))
    with pytest.raises(ValueError, match="delete it"):
        fid.RealStatistics.load(str(bad))


def test_fid_and_kid_against_real_statistics():
    rng = np.random.default_rng(10)
    real = fid.RealStatistics.from_features(rng.normal(size=(300, 8)), "fake:1")
    same = fid.fid_and_kid(real, rng.normal(size=(300, 8)), num_subsets=20, subset_size=100)
    shifted = fid.fid_and_kid(real, rng.normal(size=(300, 8)) + 1.0, num_subsets=20, subset_size=100)
    assert (same.network_id, same.real_count, same.fake_count) == ("fake:1", 300, 300)
    assert same.fid < 0.5 < 8 * 0.5 < shifted.fid
    assert abs(same.kid_mean) < 0.02 < shifted.kid_mean
