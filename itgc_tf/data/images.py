"""Image files: listing, eager header checks and decoding (paths via tf.io.gfile)."""
import collections
import dataclasses
import io
import posixpath

import numpy as np
import tensorflow as tf
from PIL import Image

from itgc_tf.data import errors

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
# ITU-R 601 luma weights for RGB -> gray; they sum to 1, so gray -> RGB -> gray is exact.
LUMA = (0.299, 0.587, 0.114)


@dataclasses.dataclass(frozen=True)
class ImageHeader:
    """What the eager checks need to know about one image file."""

    path: str
    height: int
    width: int


def _ext(name: str) -> str:
    return posixpath.splitext(name)[1].lower()


def stem(path: str) -> str:
    """File name without folder and extension: the key that matches A and B files."""
    return posixpath.splitext(posixpath.basename(path))[0]


def list_images(folder: str) -> list[str]:
    """Sorted paths of the supported images directly in ``folder``.

    Raises FileNotFoundError if it is missing, ValueError if it is empty or holds
    no supported image.
    """
    if not tf.io.gfile.isdir(folder):
        raise errors.missing_folder(folder)
    names = tf.io.gfile.listdir(folder)
    if not names:
        raise errors.empty_folder(folder)
    images = sorted(n for n in names if _ext(n) in IMAGE_EXTENSIONS)
    if not images:
        raise errors.no_supported_images(folder, collections.Counter(
            "sub-folders" if tf.io.gfile.isdir(posixpath.join(folder, n)) else
            _ext(n) or "(no extension)" for n in names))
    return [posixpath.join(folder, n) for n in images]


def header_from_bytes(data: bytes, path: str) -> ImageHeader:
    """Parse and integrity-check encoded image bytes (PIL verify, no full decode).

    Raises ValueError naming ``path`` if the bytes are not a readable image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind, mode = image.format, image.mode
            image.verify()
    except Exception as e:  # PIL raises many types for bad files.
        raise errors.unreadable_image(path, f"{type(e).__name__}: {e}") from None
    if kind == "BMP" and mode in ("P", "1"):
        raise errors.unsupported_bmp(path, mode)
    return ImageHeader(path, height, width)


_HEADERS: dict[tuple[str, int, int], ImageHeader] = {}


def read_header(path: str) -> ImageHeader:
    """Header of an image file, cached while the file is unchanged (size and mtime)."""
    stat = tf.io.gfile.stat(path)
    key = (path, stat.length, stat.mtime_nsec)
    if key not in _HEADERS:
        with tf.io.gfile.GFile(path, "rb") as f:
            _HEADERS[key] = header_from_bytes(f.read(), path)
    return _HEADERS[key]


def decode(contents: tf.Tensor) -> tf.Tensor:
    """Encoded PNG/JPEG/BMP bytes -> uint8 [H, W, 3] (grayscale replicated, alpha dropped)."""
    image = tf.io.decode_image(contents, channels=3, expand_animations=False)
    image.set_shape([None, None, 3])
    return image


def load_image(path: str, channels: int = 3) -> np.ndarray:
    """Decode the PNG/JPEG/BMP file at ``path`` to a uint8 array [H, W, channels].

    ``channels`` is 1 (grayscale, ITU-R 601 luma) or 3 (RGB).
    """
    if channels not in (1, 3):
        raise errors.bad_channels("channels", channels)
    if not tf.io.gfile.exists(path):
        raise errors.missing_folder(path, what="Image file")
    image = decode(tf.io.read_file(path)).numpy()
    if channels == 1:
        return np.round(image @ np.array(LUMA))[..., None].astype(np.uint8)
    return image
