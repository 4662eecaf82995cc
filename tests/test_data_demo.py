"""Built-in demo data from scikit-image photos: layouts, split by photo, determinism."""
import hashlib
import pathlib

import numpy as np
import pytest

from data_helpers import demo_cache, demo_cache_dir  # noqa: F401 (fixtures)
from itgc_tf.data import DataConfig, build_dataset, dataset_info, demo_dir, load_image
from itgc_tf.data.demo import (CROPS_PER_PHOTO, DEMO_PHOTOS, DEMO_VERSION, SHORT_SIDE,
                               TEST_PHOTOS, demo_photo, held_out_photos)
from itgc_tf.data.pipeline import native_pairs


def _photos(folder: pathlib.Path) -> set[str]:
    return {p.stem.rsplit("_", 1)[0] for p in folder.glob("*.png")}


def _digest(root: pathlib.Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.png")):
        h.update(str(p.relative_to(root)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("task, layout, paired", [("enhance", "folders", True),
                                                  ("edges2photo", "aligned", True),
                                                  ("unpaired", "unpaired", False)])
def test_demo_tasks_read_as_user_layouts_split_by_photo(demo_cache, task, layout, paired):
    root = demo_dir(task)
    assert root == demo_cache / "demo" / DEMO_VERSION / task
    n_train = (len(DEMO_PHOTOS) - len(TEST_PHOTOS)) * CROPS_PER_PHOTO
    n_test = len(TEST_PHOTOS) * CROPS_PER_PHOTO
    config = DataConfig(dataset=f"demo:{task}", load_size=72, crop_size=64, batch_size=8)
    for split, n in (("train", n_train), ("test", n_test)):
        info = dataset_info(config, split)
        assert (info.paired, info.layout, info.num_examples) == (paired, layout, n)
    folders = {"enhance": ("train/A", "test/A"), "edges2photo": ("train", "test"),
               "unpaired": ("trainA", "testA")}[task]
    train, test = (_photos(root / f) for f in folders)
    assert test == set(TEST_PHOTOS) and train == set(DEMO_PHOTOS) - set(TEST_PHOTOS)
    batch = next(iter(build_dataset(config)))
    assert batch["A"].shape == batch["B"].shape == (8, 64, 64, 3)


def _block_means(image, block=4):
    height, width, channels = image.shape
    return image.reshape(height // block, block, width // block, block, channels).mean((1, 3))


def test_enhance_pairs_are_degraded_versions_of_the_clean_crop(demo_cache):
    root = demo_dir("enhance") / "train"
    names = sorted(p.name for p in (root / "A").glob("*.png"))[:10]
    for name in names:
        a, b = (load_image(str(root / d / name)).astype(float) for d in "AB")
        assert a.shape == b.shape == (128, 128, 3)
        error = np.abs(a - b).mean()
        assert 1.0 < error < 25.0, name  # degraded, yet the same scene
        # mostly sensor noise: 4x4 block means (noise averages out) agree far better than pixels
        assert np.abs(_block_means(a) - _block_means(b)).mean() < 0.6 * error, name


def test_edge_maps_are_dark_lines_on_white(demo_cache):
    files = sorted((demo_dir("edges2photo") / "test").glob("*.png"))
    image = load_image(str(files[0]))
    assert image.shape == (128, 256, 3)
    edges = image[:, :128]
    assert set(np.unique(edges)) <= {0, 255} and (edges == 255).mean() > 0.7
    assert (edges == 0).any()
    np.testing.assert_array_equal(edges[..., 0], edges[..., 2])


def test_unpaired_domains_use_disjoint_crops_and_b_is_graded(demo_cache):
    root = demo_dir("unpaired")
    a = np.stack([load_image(str(p)) for p in sorted((root / "trainA").glob("*.png"))])
    b = np.stack([load_image(str(p)) for p in sorted((root / "trainB").glob("*.png"))])
    assert len(a) == len(b) == (len(DEMO_PHOTOS) - len(TEST_PHOTOS)) * CROPS_PER_PHOTO
    flat_a = {x.tobytes() for x in a}
    assert not any(x.tobytes() in flat_a for x in b)
    mean_b = b.reshape(-1, 3).mean(axis=0)
    assert mean_b[0] > mean_b[1] > mean_b[2]  # warm sepia grade: R > G > B


def test_demo_is_deterministic_and_built_atomically(tmp_path, monkeypatch):
    digests = []
    for run in ("one", "two"):
        monkeypatch.setenv("ITGC_TF_CACHE", str(tmp_path / run))
        root = demo_dir("unpaired")
        digests.append(_digest(root))
        assert [p.name for p in root.parent.iterdir()] == ["unpaired"]  # no staging left
    assert digests[0] == digests[1]


def test_cached_demo_is_reused(demo_cache):
    root = demo_dir("edges2photo")
    marker = root / "marker.txt"
    marker.write_text("x")
    assert demo_dir("edges2photo") == root and marker.exists()
    marker.unlink()


def test_unknown_demo_task(demo_cache):
    with pytest.raises(ValueError, match="Unknown demo task 'cats'.*enhance, edges2photo"):
        demo_dir("cats")


def test_interrupted_build_leaves_nothing_behind(tmp_path, monkeypatch):
    from itgc_tf.data import demo

    def broken(task, root):
        (root / "half.png").write_bytes(b"x")
        raise KeyboardInterrupt

    monkeypatch.setenv("ITGC_TF_CACHE", str(tmp_path))
    monkeypatch.setattr(demo, "_build", broken)
    with pytest.raises(KeyboardInterrupt):
        demo_dir("enhance")
    assert list((tmp_path / "demo" / DEMO_VERSION).iterdir()) == []


def test_held_out_photos_are_the_whole_degraded_test_photos():
    photos = held_out_photos()
    assert [name for name, _, _ in photos] == list(TEST_PHOTOS) and len(photos) == 3
    for name, degraded, clean in photos:
        np.testing.assert_array_equal(clean, demo_photo(name))
        assert degraded.shape == clean.shape and min(clean.shape[:2]) == SHORT_SIDE
        error = np.abs(degraded.astype(float) - clean).mean()
        assert 1.0 < error < 25.0, name
    again = held_out_photos()
    for (_, first, _), (_, second, _) in zip(photos, again):
        np.testing.assert_array_equal(first, second)  # seeded


def test_native_pairs_are_the_stored_files_in_unit_range(demo_cache):
    config = DataConfig(dataset="demo:enhance", load_size=36, crop_size=32, output_nc=1)
    pairs = native_pairs(config, "test", count=2)
    root = demo_dir("enhance") / "test"
    first = sorted(p.name for p in (root / "A").glob("*.png"))[:2]
    for (a, b), name in zip(pairs, first):
        np.testing.assert_allclose(a, load_image(str(root / "A" / name)) / 127.5 - 1, atol=1e-6)
        assert a.shape == (128, 128, 3) and b.shape == (128, 128, 1)  # no crop; B as grayscale
    with pytest.raises(ValueError, match="unpaired.*Fix:"):
        native_pairs(DataConfig(dataset="demo:unpaired", load_size=36, crop_size=32), "test")
