"""Image files: listing, header checks, decoding."""
import os

import numpy as np
import pytest

from data_helpers import random_image, write_image
from itgc_tf.data import load_image
from itgc_tf.data.images import list_images, read_header


def test_list_images_filters_and_sorts(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("b.PNG", "a.jpg", "c.JpEg", "d.bmp"):
        write_image(tmp_path / name, random_image(rng, 8, 8))
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "sub").mkdir()
    assert [os.path.basename(p) for p in list_images(str(tmp_path))] == [
        "a.jpg", "b.PNG", "c.JpEg", "d.bmp"]


@pytest.mark.parametrize("ext", [".png", ".jpg", ".bmp"])
def test_load_image_decodes_formats(tmp_path, ext):
    image = random_image(np.random.default_rng(0), 12, 10)
    path = write_image(tmp_path / f"x{ext}", image)
    rgb = load_image(str(path))
    assert rgb.shape == (12, 10, 3) and rgb.dtype == np.uint8
    if ext != ".jpg":
        np.testing.assert_array_equal(rgb, image)
    assert load_image(str(path), channels=1).shape == (12, 10, 1)


def test_load_image_gray_file_to_rgb(tmp_path):
    gray = random_image(np.random.default_rng(0), 6, 7, channels=1)
    rgb = load_image(str(write_image(tmp_path / "g.png", gray)))
    np.testing.assert_array_equal(rgb, np.repeat(gray[..., None], 3, axis=-1))


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image(str(tmp_path / "none.png"))
    with pytest.raises(ValueError, match="1 \\(grayscale\\) or 3"):
        load_image(str(tmp_path / "none.png"), channels=4)


def test_header_reports_size_and_is_rechecked_when_the_file_changes(tmp_path):
    path = write_image(tmp_path / "x.png", random_image(np.random.default_rng(0), 9, 14))
    header = read_header(str(path))
    assert (header.height, header.width) == (9, 14)
    path.write_bytes(path.read_bytes()[:40])  # truncate: a new size, so a new check
    with pytest.raises(ValueError, match=f"Cannot read image {path}.*Fix:"):
        read_header(str(path))
