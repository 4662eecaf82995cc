"""The eager pre-check of image folders catches what would otherwise fail mid-run
(truncated JPEGs, symbolic link loops), says what is at a path that is not a
folder, and counts the files it ignores (itgc_tf.data.images / sources)."""
import io
import os

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_helpers import make_dataset, random_image, write_image
from itgc_tf.data import DataConfig, dataset_info
from itgc_tf.data.images import describe_path, header_from_bytes, read_header


def _config(root, **kw):
    return DataConfig(**{"dataset": str(root), "load_size": 20, "crop_size": 16,
                         "batch_size": 2, **kw})


def _truncated_jpeg(path):
    write_image(path, random_image(np.random.default_rng(0), 32, 32))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) * 2 // 3])  # headers intact, scan data cut
    return path


def test_a_truncated_jpeg_that_pil_verify_accepts_is_refused_naming_the_file_and_the_fix(tmp_path):
    root = make_dataset(tmp_path / "data", "unpaired", n=3, ext_a=".jpg")
    bad = _truncated_jpeg(root / "trainA" / "img001.jpg")
    with Image.open(bad) as image:
        image.verify()  # the header check alone passes it...
    with pytest.raises(tf.errors.InvalidArgumentError):
        tf.io.decode_image(bad.read_bytes(), channels=3, expand_animations=False)  # ...TF does not
    with pytest.raises(ValueError) as error:
        dataset_info(_config(root))
    message = str(error.value)
    assert f"Cannot read image {bad}" in message and "truncated" in message
    assert "Fix:" in message and "moving it out of the dataset" in message
    assert "[Op:" not in message and "\n" not in message


def test_decoder_messages_hold_no_in_memory_file_repr(tmp_path):
    with pytest.raises(ValueError) as error:
        header_from_bytes(b"not an image at all", "x.png")
    assert "x.png" in str(error.value) and "not a PNG, JPEG or BMP image" in str(error.value)
    assert "BytesIO" not in str(error.value) and "0x" not in str(error.value)


def test_a_symlink_loop_is_reported_like_an_unreadable_file(tmp_path):
    root = make_dataset(tmp_path / "data", "unpaired", n=2)
    loop = root / "trainA" / "loop.png"
    os.symlink(root / "trainA" / "other.png", loop)
    os.symlink(loop, root / "trainA" / "other.png")
    assert describe_path(str(loop)) == "a symbolic link loop"
    with pytest.raises(ValueError, match=r"Cannot read image .*(loop|other)\.png: a symbolic link "
                                         r"loop\. Fix:"):
        dataset_info(_config(root))
    with pytest.raises(ValueError, match="a symbolic link loop"):
        read_header(str(loop))


def test_a_file_where_a_folder_is_expected_is_named_for_what_it_is(tmp_path):
    archive = tmp_path / "horse2zebra.zip"
    archive.write_bytes(b"PK")
    with pytest.raises(NotADirectoryError, match=f"{archive} is a file, not a folder.*Fix:"):
        dataset_info(_config(archive))
    link = tmp_path / "link"
    os.symlink(tmp_path / "gone", link)
    with pytest.raises(NotADirectoryError, match=f"is a broken symbolic link to {tmp_path}/gone"):
        dataset_info(_config(link))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        dataset_info(_config(tmp_path / "nothing"))
    root = make_dataset(tmp_path / "data", "folders", n=2)
    (root / "train" / "B").rename(root / "train" / "B_old")
    (root / "train" / "B").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="train/B is a file, not a folder"):
        dataset_info(_config(root, layout="folders"))


def test_unsupported_files_beside_images_are_counted_in_the_pre_check_summary(tmp_path, caplog):
    root = make_dataset(tmp_path / "data", "aligned", n=3)
    image = Image.fromarray(random_image(np.random.default_rng(1), 8, 8))
    for name in ("scan1.tiff", "scan2.tiff"):
        image.save(root / "train" / name)
    (root / "train" / "README").write_text("x")
    with caplog.at_level("WARNING"):
        info = dataset_info(_config(root))
    assert info.num_examples == 3
    summary = "3 images checked; ignored (unsupported types): (no extension) x1, .tiff x2"
    assert summary in info.source and summary in caplog.text
    clean = make_dataset(tmp_path / "clean", "aligned", n=2)
    assert dataset_info(_config(clean)).source.endswith("2 images checked)")


def test_every_supported_format_still_passes_the_full_decode(tmp_path):
    rng = np.random.default_rng(0)
    for ext in (".png", ".jpg", ".bmp"):
        buffer = io.BytesIO()
        Image.fromarray(random_image(rng, 6, 10)).save(buffer, format={".jpg": "JPEG"}.get(
            ext, ext[1:].upper()))
        header = header_from_bytes(buffer.getvalue(), f"x{ext}")
        assert (header.height, header.width) == (6, 10)
