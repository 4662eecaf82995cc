"""NumPy reference operations shared by tests (no TensorFlow in the reference path)."""
import numpy as np


def numpy_valid_conv(x, kernel):
    """Cross-correlation, stride 1, no padding, in x's dtype: x [B, H, W, C], kernel
    [k, k, C, D] -> [B, H - k + 1, W - k + 1, D]."""
    k = kernel.shape[0]
    height, width = x.shape[1] - k + 1, x.shape[2] - k + 1
    return sum(np.einsum("bhwc,cd->bhwd", x[:, i:i + height, j:j + width], kernel[i, j])
               for i in range(k) for j in range(k))
