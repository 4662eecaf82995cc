"""Semantic-label data (``labels`` layout, demo:labels2photo): one-hot + instance edges
against NumPy, aligned crops, nearest resizing, aspect ratio, eager errors."""
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from data_helpers import demo_cache, demo_cache_dir  # noqa: F401 (fixtures)
from itgc_tf.data import DataConfig, build_dataset, dataset_info
from itgc_tf.data.demo import CROPS_PER_PHOTO, TEST_PHOTOS
from itgc_tf.data.labels import instance_edges, semantic_map


def _numpy_edges(inst):
    e = np.zeros(inst.shape, bool)
    e[:, 1:] |= inst[:, 1:] != inst[:, :-1]
    e[:, :-1] |= inst[:, 1:] != inst[:, :-1]
    e[1:, :] |= inst[1:, :] != inst[:-1, :]
    e[:-1, :] |= inst[1:, :] != inst[:-1, :]
    return e.astype(np.float32)


def test_instance_edges_match_numpy():
    inst = np.random.default_rng(0).integers(0, 3, (9, 11))
    np.testing.assert_array_equal(instance_edges(tf.constant(inst)).numpy(), _numpy_edges(inst))


@pytest.mark.parametrize("dontcare,no_instance", [(False, False), (True, False), (True, True)])
def test_semantic_map_is_one_hot_plus_edges(dontcare, no_instance):
    config = DataConfig(dataset="x", layout="labels", label_nc=4,
                        contain_dontcare_label=dontcare, no_instance=no_instance)
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (6, 7))
    if dontcare:
        labels[0, :3] = 255
    inst = rng.integers(0, 5, (6, 7))
    out = semantic_map(tf.constant(labels), tf.constant(inst), config).numpy()
    assert out.shape == (6, 7, config.semantic_nc)
    classes = np.where(labels == 255, 4, labels)
    np.testing.assert_array_equal(out[..., :4 + dontcare], np.eye(4 + dontcare)[classes])
    if not no_instance:
        np.testing.assert_array_equal(out[..., -1], _numpy_edges(inst))


def _write(root, split, name, labels, image, instances=None):
    for folder, array in (("labels", labels), ("images", image), ("instances", instances)):
        if array is not None:
            path = root / split / folder / f"{name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(path)


def _label_dataset(root, n=3, size=(16, 32), label_nc=5, seed=0, with_instances=True):
    rng = np.random.default_rng(seed)
    examples = []
    for i in range(n):
        labels = rng.integers(0, label_nc, size).astype(np.uint8)
        image = rng.integers(0, 256, (*size, 3)).astype(np.uint8)
        inst = rng.integers(0, 40000, size).astype(np.uint16) if with_instances else None
        _write(root, "train", f"ex{i}", labels, image, inst)
        examples.append((labels, image, inst))
    return examples


def test_folder_examples_are_aligned_with_aspect_ratio_and_16_bit_instances(tmp_path):
    examples = _label_dataset(tmp_path, size=(16, 32))
    config = DataConfig(dataset=str(tmp_path), label_nc=5, preprocess="crop", crop_size=16,
                        aspect_ratio=2.0, batch_size=3)
    info = dataset_info(config)
    assert (info.layout, info.num_examples) == ("labels", 3)
    batch = next(iter(build_dataset(config, training=False)))
    assert batch["A"].shape == (3, 8, 16, 6) and batch["B"].shape == (3, 8, 16, 3)
    for k, (labels, image, inst) in enumerate(examples):
        crop = np.s_[4:12, 8:24]  # centre crop of 8x16 from 16x32
        np.testing.assert_array_equal(batch["label"][k].numpy(), labels[crop])
        np.testing.assert_array_equal(batch["A"][k, ..., :5].numpy(), np.eye(5)[labels[crop]])
        np.testing.assert_array_equal(batch["A"][k, ..., 5].numpy(), _numpy_edges(inst[crop]))
        np.testing.assert_allclose(batch["B"][k].numpy(), image[crop] / 127.5 - 1, atol=1e-6)


def test_training_resize_is_nearest_and_crop_flip_shared(tmp_path):
    _label_dataset(tmp_path, n=2, size=(20, 20), with_instances=False)
    config = DataConfig(dataset=str(tmp_path), label_nc=5, no_instance=True, load_size=40,
                        crop_size=32, batch_size=2)
    batch = next(iter(build_dataset(config)))
    labels, semantic = batch["label"].numpy(), batch["A"].numpy()
    assert set(np.unique(labels)) <= set(range(5))
    np.testing.assert_array_equal(semantic, np.eye(5)[labels])


def test_ids_beyond_label_nc_are_reported_with_the_file(tmp_path):
    labels = np.full((16, 16), 7, np.uint8)
    _write(tmp_path, "train", "bad", labels, np.zeros((16, 16, 3), np.uint8))
    config = DataConfig(dataset=str(tmp_path), label_nc=5, no_instance=True, load_size=16,
                        crop_size=16)
    with pytest.raises(ValueError, match=r"bad\.png holds class id\(s\) \[7\].*Fix:"):
        dataset_info(config)


def test_palette_label_maps_are_refused(tmp_path):
    _write(tmp_path, "train", "a", np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.uint8))
    Image.fromarray(np.zeros((16, 16), np.uint8)).convert("P").save(
        tmp_path / "train" / "labels" / "a.png")
    config = DataConfig(dataset=str(tmp_path), label_nc=3, no_instance=True, load_size=16,
                        crop_size=16)
    with pytest.raises(ValueError, match="'P' image.*Fix:"):
        dataset_info(config)


def test_dontcare_255_needs_the_flag(tmp_path):
    labels = np.full((16, 16), 255, np.uint8)
    _write(tmp_path, "train", "a", labels, np.zeros((16, 16, 3), np.uint8))
    kwargs = dict(dataset=str(tmp_path), label_nc=5, no_instance=True, load_size=16,
                  crop_size=16)
    with pytest.raises(ValueError, match="--contain_dontcare_label"):
        dataset_info(DataConfig(**kwargs))
    batch = next(iter(build_dataset(DataConfig(**kwargs, contain_dontcare_label=True))))
    assert batch["A"].shape[-1] == 6 and np.all(batch["A"].numpy()[..., 5] == 1)


def test_size_mismatch_missing_partner_and_missing_instances(tmp_path):
    _write(tmp_path, "train", "a", np.zeros((16, 16), np.uint8), np.zeros((16, 18, 3), np.uint8))
    config = DataConfig(dataset=str(tmp_path), label_nc=3, no_instance=True, load_size=16,
                        crop_size=16, preprocess="crop")
    with pytest.raises(ValueError, match="differ in size.*Fix:"):
        dataset_info(config)
    _write(tmp_path, "train", "a", np.zeros((16, 16), np.uint8), np.zeros((16, 16, 3), np.uint8))
    _write(tmp_path, "train", "b", np.zeros((16, 16), np.uint8), None)
    with pytest.raises(ValueError, match="only in .*labels: b.*Fix:"):
        dataset_info(config)
    (tmp_path / "train" / "labels" / "b.png").unlink()
    with pytest.raises(FileNotFoundError, match="instances is missing.*--no_instance"):
        dataset_info(DataConfig(dataset=str(tmp_path), label_nc=3, load_size=16,
                                crop_size=16))
    with pytest.raises(ValueError, match="--label_nc is 0"):
        DataConfig(dataset=str(tmp_path), layout="labels")


def test_demo_labels2photo_pairs_photos_with_superpixel_classes(demo_cache):
    config = DataConfig(dataset="demo:labels2photo", label_nc=6, load_size=72, crop_size=64,
                        batch_size=4)
    info = dataset_info(config, "test")
    assert info.layout == "labels" and info.num_examples == len(TEST_PHOTOS) * CROPS_PER_PHOTO
    batch = next(iter(build_dataset(config)))
    assert batch["A"].shape == (4, 64, 64, 7) and batch["B"].shape == (4, 64, 64, 3)
    assert len(np.unique(batch["label"].numpy())) >= 3
    assert 0 < batch["A"].numpy()[..., 6].mean() < 0.5  # superpixel boundaries
