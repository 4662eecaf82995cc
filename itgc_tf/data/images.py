"""Image files: listing, eager checks (full decode) and decoding (paths via tf.io.gfile)."""
import collections
import dataclasses
import errno
import io
import os
import posixpath
import re

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from itgc_tf.data import errors

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp")
# PIL's repr of the in-memory file and TF's op tag, dropped from decoder messages.
_NOISE = re.compile(r"<_io\.BytesIO object at 0x[0-9a-f]+>|\s*\[Op:\w+\]")
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


@dataclasses.dataclass(frozen=True)
class FolderScan:
    """The files directly in a folder: images (sorted paths of the supported
    types) and ignored ({kind: count} of everything else: ".tiff",
    "(no extension)", "sub-folders")."""

    images: list[str]
    ignored: dict[str, int]


def describe_path(path: str) -> str:
    """What is at ``path``, in words: "a symbolic link loop", "a broken symbolic
    link to X", "a file", "a folder" or "nothing"."""
    if "://" not in path and os.path.islink(path) and not os.path.exists(path):
        try:
            os.stat(path)
        except OSError as error:
            if error.errno == errno.ELOOP:
                return "a symbolic link loop"
        return f"a broken symbolic link to {os.readlink(path)}"
    if tf.io.gfile.isdir(path):
        return "a folder"
    return "a file" if tf.io.gfile.exists(path) else "nothing"


def require_folder(path: str, what: str = "Dataset folder") -> None:
    """Raises FileNotFoundError (nothing there) or NotADirectoryError (something
    else there, named) unless ``path`` is a folder."""
    kind = describe_path(path)
    if kind == "nothing":
        raise errors.missing_folder(path, what)
    if kind != "a folder":
        raise errors.not_a_folder(path, what, kind)


def scan_folder(folder: str) -> FolderScan:
    """The supported images directly in ``folder`` and a count of what else is there.

    Raises FileNotFoundError / NotADirectoryError if it is not a folder,
    ValueError if it is empty or holds no supported image.
    """
    require_folder(folder)
    names = tf.io.gfile.listdir(folder)
    if not names:
        raise errors.empty_folder(folder)
    images = sorted(n for n in names if _ext(n) in IMAGE_EXTENSIONS)
    ignored = collections.Counter(
        "sub-folders" if tf.io.gfile.isdir(posixpath.join(folder, n)) else
        _ext(n) or "(no extension)" for n in names if _ext(n) not in IMAGE_EXTENSIONS)
    if not images:
        raise errors.no_supported_images(folder, ignored)
    return FolderScan([posixpath.join(folder, n) for n in images], dict(sorted(ignored.items())))


def list_images(folder: str) -> list[str]:
    """Sorted paths of the supported images directly in ``folder`` (see `scan_folder`)."""
    return scan_folder(folder).images


def _reason(error: Exception) -> str:
    """A decoder error in one line, without PIL's in-memory file repr or TF's op tag."""
    if isinstance(error, UnidentifiedImageError):
        return "its contents are not a PNG, JPEG or BMP image"
    text = str(getattr(error, "message", None) or error).strip().splitlines()
    text = _NOISE.sub("", text[0] if text else "").strip()
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def header_from_bytes(data: bytes, path: str) -> ImageHeader:
    """Parse encoded image bytes and decode them fully, with TensorFlow's decoder
    as the input pipeline will (so a truncated JPEG is caught here, not mid-run).

    Raises ValueError naming ``path`` if the bytes are not a readable image.
    """
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            kind, mode = image.format, image.mode
            image.verify()
    except Exception as e:  # PIL raises many types for bad files.
        raise errors.unreadable_image(path, _reason(e)) from None
    if kind == "BMP" and mode in ("P", "1"):
        raise errors.unsupported_bmp(path, mode)
    try:
        decode(tf.constant(data))
    except tf.errors.OpError as e:
        raise errors.unreadable_image(path, "TensorFlow's decoder fails on it (truncated or "
                                      f"damaged data): {_reason(e)}") from None
    return ImageHeader(path, height, width)


_HEADERS: dict[tuple[str, int, int], ImageHeader] = {}


def read_header(path: str) -> ImageHeader:
    """Header of an image file, cached while the file is unchanged (size and mtime).

    Raises ValueError naming ``path`` when it cannot be read (a symbolic link
    loop, no permission, ...) or decoded.
    """
    try:
        stat = tf.io.gfile.stat(path)
        key = (path, stat.length, stat.mtime_nsec)
        if key not in _HEADERS:
            with tf.io.gfile.GFile(path, "rb") as f:
                data = f.read()
    except (tf.errors.OpError, OSError) as e:
        kind = describe_path(path)
        raise errors.unreadable_image(path, kind if kind.startswith("a ") and kind != "a file"
                                      else _reason(e)) from None
    if key not in _HEADERS:
        _HEADERS[key] = header_from_bytes(data, path)
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
