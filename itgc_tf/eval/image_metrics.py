"""PSNR and SSIM of paired images in [-1, 1] (student vs ground truth, student vs teacher).

Both convert to [0, 1] (x → (x + 1) / 2) and use `tf.image.psnr` / `tf.image.ssim`
with max_val=1.0. PSNR is the same as on [-1, 1] with max_val=2; SSIM is not
(its luminance term is not shift-invariant), so [0, 1] is used to match the
usual 8-bit definition. SSIM is tf.image's: 11×11 Gaussian window (σ = 1.5),
computed per channel and averaged over RGB. Values are not clipped.
"""
import numpy as np
import tensorflow as tf

_SSIM_WINDOW = 11


def _to_unit_range(x):
    return (tf.convert_to_tensor(x, tf.float32) + 1.0) * 0.5


def _check_pair(x, y, name):
    if x.shape != y.shape or len(x.shape) != 4:
        raise ValueError(f"{name} takes two image batches [N, H, W, C] of one shape; got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}. Resize or crop them to match.")


def psnr(x, y):
    """Per-image PSNR in dB of batches x, y [N, H, W, C] in [-1, 1] → float32 [N]
    (inf where the images are identical)."""
    x, y = _to_unit_range(x), _to_unit_range(y)
    _check_pair(x, y, "psnr")
    return tf.image.psnr(x, y, max_val=1.0)


def _check_ssim_size(height, width):
    if (height is not None and height < _SSIM_WINDOW) or (width is not None and width < _SSIM_WINDOW):
        raise ValueError(f"ssim needs images of at least {_SSIM_WINDOW}×{_SSIM_WINDOW} pixels (its "
                         f"Gaussian window); got {height}×{width}. Evaluate on larger images.")


def ssim(x, y):
    """Per-image SSIM of batches x, y [N, H, W, C] in [-1, 1] → float32 [N] in [-1, 1].
    H and W must be >= 11 (the Gaussian window)."""
    x, y = _to_unit_range(x), _to_unit_range(y)
    _check_pair(x, y, "ssim")
    _check_ssim_size(x.shape[1], x.shape[2])
    return tf.image.ssim(x, y, max_val=1.0)


@tf.function(reduce_retracing=True)
def _psnr_and_ssim(x, y):
    """(psnr(x, y), ssim(x, y)) in one compiled call: what `PairedImageMetrics` adds up
    per batch (eagerly, SSIM's window ops cost more than the metric itself)."""
    return psnr(x, y), ssim(x, y)


class PairedImageMetrics:
    """Running mean of per-image PSNR and SSIM over a dataset.

    Example:
      metrics = PairedImageMetrics()
      for inputs, targets in dataset:
          metrics.update(student(inputs), targets)
      metrics.result()  # {"psnr": dB, "ssim": ..., "count": images}

    Every image has equal weight, whatever the batch sizes. Identical pairs
    make the PSNR mean inf.
    """

    def __init__(self):
        self._psnr_sum = 0.0
        self._ssim_sum = 0.0
        self._count = 0

    def update(self, x, y):
        """Add a batch of pairs x, y [N, H, W, C] in [-1, 1]."""
        x, y = tf.convert_to_tensor(x, tf.float32), tf.convert_to_tensor(y, tf.float32)
        _check_pair(x, y, "PairedImageMetrics.update")  # with the batch's own shapes
        _check_ssim_size(x.shape[1], x.shape[2])
        psnrs, ssims = _psnr_and_ssim(x, y)
        self._psnr_sum += float(np.sum(psnrs.numpy(), dtype=np.float64))
        self._ssim_sum += float(np.sum(ssims.numpy(), dtype=np.float64))
        self._count += int(x.shape[0])

    def result(self):
        """{"psnr": mean dB, "ssim": mean SSIM, "count": images seen}."""
        if self._count == 0:
            raise ValueError("PairedImageMetrics.result() before any update(); the evaluation "
                             "dataset yielded no images.")
        return {"psnr": self._psnr_sum / self._count, "ssim": self._ssim_sum / self._count,
                "count": self._count}
