"""Fréchet Inception Distance (FID), Kernel Inception Distance (KID) and a cached
set of real-image statistics.

All functions here work on feature arrays (e.g. the [N, 2048] Inception pool
features of `itgc_tf.eval.inception.InceptionFeatures`), in float64 numpy.
"""
import dataclasses
import logging
import os

import numpy as np

from itgc_tf.artifacts.atomic import atomic_output

# Eigenvalues below -_PSD_TOL·(largest |eigenvalue|) mean a matrix is not positive
# semi-definite; smaller negative ones are round-off and are clipped to 0.
_PSD_TOL = 1e-6


def feature_statistics(features):
    """Mean and covariance of a feature set.

    Args:
      features: array-like [N, D], N >= 2.

    Returns:
      (mu [D] float64, sigma [D, D] float64); sigma is the unbiased (N − 1)
      sample covariance, as in the reference FID code.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(f"features must be a 2-D array [N, D]; got shape {features.shape}. "
                         "Flatten or stack the per-image feature vectors first.")
    if features.shape[0] < 2:
        raise ValueError(f"feature_statistics needs at least 2 feature vectors to estimate a "
                         f"covariance; got {features.shape[0]}. Evaluate on more images.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def _psd_eigenvalues(values, name):
    """Eigenvalues of a symmetric matrix with round-off negatives clipped to 0;
    ValueError when a clearly negative one shows the matrix is not PSD."""
    scale = max(np.max(np.abs(values)), np.finfo(np.float64).tiny)
    if values.min() < -_PSD_TOL * scale:
        raise ValueError(
            f"FID: {name} has a negative eigenvalue ({values.min():.3g}, largest magnitude "
            f"{scale:.3g}); the covariances are not positive semi-definite. Check that they come "
            "from feature_statistics on finite features.")
    return np.clip(values, 0.0, None)


def _trace_sqrt_product(sigma1, sigma2):
    """Tr (sigma1 sigma2)^{1/2} of two symmetric PSD matrices.

    sigma1 sigma2 is similar to the symmetric PSD M = sigma1^{1/2} sigma2 sigma1^{1/2},
    so the trace is Σ sqrt(eig(M)); sigma1^{1/2} comes from the eigendecomposition
    of sigma1. NaN when an eigendecomposition does not converge.
    """
    try:
        values, vectors = np.linalg.eigh((sigma1 + sigma1.T) / 2)
        root1 = (vectors * np.sqrt(_psd_eigenvalues(values, "sigma1"))) @ vectors.T
        inner = root1 @ sigma2 @ root1
        inner_values = np.linalg.eigvalsh((inner + inner.T) / 2)
    except np.linalg.LinAlgError:
        return np.nan
    return float(np.sum(np.sqrt(_psd_eigenvalues(inner_values, "sigma1^½·sigma2·sigma1^½"))))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2).

        d² = ||mu1 − mu2||² + Tr(sigma1 + sigma2 − 2 (sigma1 sigma2)^{1/2})

    Tr (sigma1 sigma2)^{1/2} = Σ sqrt(eig(sigma1^{1/2} sigma2 sigma1^{1/2})), from
    two symmetric eigendecompositions (seconds at D = 2048, where a general
    matrix square root takes minutes); round-off negative eigenvalues are
    clipped to 0, so singular covariances (fewer images than dimensions) are
    handled exactly. When an eigendecomposition fails to converge (or gives
    non-finite values) it is recomputed on sigma1 + eps·I and sigma2 + eps·I, as
    the reference FID implementations do for near-singular products.

    Args:
      mu1, mu2: [D] means.
      sigma1, sigma2: [D, D] covariances (symmetric positive semi-definite).
      eps: diagonal offset for the fallback.

    Returns:
      The squared Fréchet distance as a Python float (>= 0 up to round-off).

    Raises:
      ValueError: on mismatched shapes, NaN/Inf statistics, covariances that are
        not positive semi-definite, or a fallback that fails too.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, np.float64))
    dim = mu1.shape[0]
    if mu1.shape != (dim,) or mu2.shape != (dim,) or sigma1.shape != (dim, dim) or sigma2.shape != (dim, dim):
        raise ValueError(
            f"frechet_distance needs two means of shape [D] and two covariances of shape [D, D] with "
            f"one D; got mu1 {mu1.shape}, sigma1 {sigma1.shape}, mu2 {mu2.shape}, sigma2 {sigma2.shape}. "
            "Compute both statistics with the same feature network (see feature_statistics).")
    if not all(np.all(np.isfinite(a)) for a in (mu1, sigma1, mu2, sigma2)):
        raise ValueError("frechet_distance got NaN/Inf statistics; check the features (and the images "
                         "they came from) for NaN/Inf values.")

    trace_covmean = _trace_sqrt_product(sigma1, sigma2)
    if not np.isfinite(trace_covmean):
        logging.warning("FID: the eigendecomposition for Tr sqrt(sigma1·sigma2) failed; adding %g·I "
                        "to both covariances. Use more images than feature dimensions for a "
                        "well-conditioned estimate.", eps)
        offset = eps * np.eye(dim)
        trace_covmean = _trace_sqrt_product(sigma1 + offset, sigma2 + offset)
        if not np.isfinite(trace_covmean):
            raise ValueError("FID: Tr sqrt(sigma1·sigma2) is not finite even with an eps="
                             f"{eps} offset; pass a larger eps or evaluate on more images.")
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_covmean)


def _polynomial_kernel(x, y):
    """k(x, y) = (x·y / d + 1)³ for rows of x [m, d] and y [n, d] → [m, n]."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def kernel_inception_distance(features1, features2, num_subsets=100, subset_size=1000, seed=0):
    """Kernel Inception Distance: unbiased MMD² with the cubic polynomial kernel
    k(x, y) = (x·y / d + 1)³, averaged over random subsets (Bińkowski et al., 2018).

    Each subset draws `subset_size` rows without replacement from each feature
    set (subset_size is clipped to the smaller sample count).

    Args:
      features1: [N1, D] features (e.g. real images).
      features2: [N2, D] features (e.g. generated images).
      num_subsets: number of random subsets (>= 1).
      subset_size: rows per subset.
      seed: seed of the subset sampler (results are deterministic given it).

    Returns:
      (mean, std) of the per-subset MMD² estimates, as Python floats. The
      estimate is unbiased, so it can be slightly negative for one distribution.
    """
    x = np.asarray(features1, np.float64)
    y = np.asarray(features2, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"kernel_inception_distance needs two [N, D] feature arrays with one D; got "
                         f"{x.shape} and {y.shape}. Use the same feature network for both sets.")
    if num_subsets < 1:
        raise ValueError(f"num_subsets must be >= 1; got {num_subsets}.")
    m = min(subset_size, x.shape[0], y.shape[0])
    if m < 2:
        raise ValueError(f"KID needs at least 2 feature vectors in each set (and subset_size >= 2); "
                         f"got {x.shape[0]} and {y.shape[0]} with subset_size={subset_size}. "
                         "Evaluate on more images.")
    rng = np.random.default_rng(seed)
    estimates = np.empty(num_subsets)
    for i in range(num_subsets):
        xs = x[rng.choice(x.shape[0], m, replace=False)]
        ys = y[rng.choice(y.shape[0], m, replace=False)]
        k_xx, k_yy, k_xy = _polynomial_kernel(xs, xs), _polynomial_kernel(ys, ys), _polynomial_kernel(xs, ys)
        estimates[i] = ((k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
                        + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
                        - 2.0 * k_xy.mean())
    return float(estimates.mean()), float(estimates.std())


@dataclasses.dataclass
class RealStatistics:
    """Feature statistics of a real-image set, cached on disk as `.npz`.

    Attributes:
      mu: [D] float64 feature mean.
      sigma: [D, D] float64 feature covariance.
      count: number of images the statistics were computed on.
      network_id: `InceptionFeatures.network_id` of the feature network.
      kid_features: [M, D] float32 features kept for KID (M <= count).
    """
    mu: np.ndarray
    sigma: np.ndarray
    count: int
    network_id: str
    kid_features: np.ndarray

    @classmethod
    def from_features(cls, features, network_id, max_kid_features=10000, seed=0):
        """Statistics of a [N, D] feature array; keeps at most `max_kid_features`
        rows (a seeded random subset) for KID."""
        features = np.asarray(features)
        mu, sigma = feature_statistics(features)
        kid = features
        if features.shape[0] > max_kid_features:
            keep = np.random.default_rng(seed).choice(features.shape[0], max_kid_features, replace=False)
            kid = features[np.sort(keep)]
        return cls(mu=mu, sigma=sigma, count=int(features.shape[0]), network_id=str(network_id),
                   kid_features=kid.astype(np.float32))

    def save(self, path):
        """Write to `path` (.npz) atomically: a temp file beside it, then a rename."""
        with atomic_output(path, overwrite=True) as tmp, open(tmp, "wb") as f:
            np.savez(f, mu=self.mu, sigma=self.sigma, count=np.int64(self.count),
                     network_id=np.str_(self.network_id), kid_features=self.kid_features)

    @classmethod
    def load(cls, path):
        """Read statistics written by `save`."""
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No real-image statistics at {path!r}; compute them with "
                                    "RealStatistics.load_or_compute(path, inception, images).")
        with np.load(path, allow_pickle=False) as data:
            missing = {"mu", "sigma", "count", "network_id", "kid_features"} - set(data.files)
            if missing:
                raise ValueError(f"{path!r} is not a RealStatistics file (missing {sorted(missing)}); "
                                 "delete it so it is recomputed.")
            return cls(mu=data["mu"], sigma=data["sigma"], count=int(data["count"]),
                       network_id=str(data["network_id"]), kid_features=data["kid_features"])

    @classmethod
    def load_or_compute(cls, path, inception, images, num_images=None, max_kid_features=10000):
        """Cached statistics of a real-image set.

        Loads `path` when it exists and was computed with the same feature network
        (`inception.network_id`) and, if `num_images` is given, on that many
        images; otherwise computes the features of `images`, saves and returns them.

        Args:
          path: the .npz cache file (one per dataset and split).
          inception: feature extractor with `network_id` and
            `features(images, max_images)` (an `InceptionFeatures`).
          images: iterable of image batches [B, H, W, C] in [-1, 1], used only on
            a cache miss.
          num_images: images to use (None: all of `images`); part of the cache key.
          max_kid_features: features kept for KID.
        """
        if os.path.isfile(path):
            cached = cls.load(path)
            if cached.network_id != inception.network_id:
                logging.info("Recomputing %s: it was computed with %s, not %s.",
                             path, cached.network_id, inception.network_id)
            elif num_images is not None and cached.count != num_images:
                logging.info("Recomputing %s: it holds %d images, %d requested.",
                             path, cached.count, num_images)
            else:
                return cached
        features = inception.features(images, max_images=num_images)
        if num_images is not None and features.shape[0] != num_images:
            raise ValueError(f"Asked for real statistics over {num_images} images but the dataset "
                             f"yielded only {features.shape[0]}; lower num_images or use a larger split.")
        stats = cls.from_features(features, inception.network_id, max_kid_features=max_kid_features)
        stats.save(path)
        return stats


@dataclasses.dataclass(frozen=True)
class FidKid:
    """FID and KID of generated features against real statistics."""
    fid: float
    kid_mean: float
    kid_std: float
    network_id: str
    real_count: int
    fake_count: int


def fid_and_kid(real, fake_features, num_subsets=100, subset_size=1000, seed=0):
    """FID and KID of generated features [N, D] against `RealStatistics` `real`
    (features from the same network, `real.network_id`)."""
    mu, sigma = feature_statistics(fake_features)
    kid_mean, kid_std = kernel_inception_distance(real.kid_features, fake_features,
                                                  num_subsets=num_subsets, subset_size=subset_size,
                                                  seed=seed)
    return FidKid(fid=frechet_distance(real.mu, real.sigma, mu, sigma), kid_mean=kid_mean,
                  kid_std=kid_std, network_id=real.network_id, real_count=real.count,
                  fake_count=int(np.asarray(fake_features).shape[0]))
