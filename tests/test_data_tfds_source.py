"""TFDS sources: tfds.testing.mock_data for cycle_gan (no network), and a tiny paired
dataset the test prepares itself (exact split sizes, sharding, missing data)."""
import numpy as np
import pytest
import tensorflow_datasets as tfds

from data_helpers import example_ids, id_value
from itgc_tf.data import DataConfig, build_dataset, dataset_info


class ItgcTestPairs(tfds.core.GeneratorBasedBuilder):
    """Paired: ``lr`` is a uniform image of value id_value(i), ``hr`` = 255 - lr; plus a
    third image feature ``mask`` so the keys must be named."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        image = tfds.features.Image(shape=(None, None, 3))
        label = tfds.features.ClassLabel(num_classes=2)
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(
            {"lr": image, "hr": image, "mask": image, "label": label}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(6), "test": self._generate_examples(3)}

    def _generate_examples(self, n):
        for i in range(n):
            lr = np.full((20, 24, 3), id_value(i), np.uint8)
            yield i, {"lr": lr, "hr": 255 - lr, "mask": lr, "label": i % 2}


@pytest.fixture(scope="module")
def pairs_dir(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("tfds")
    tfds.builder("itgc_test_pairs", data_dir=str(data_dir)).download_and_prepare()
    return str(data_dir)


def _pairs(data_dir, **kw):
    return DataConfig(**{"dataset": "tfds:itgc_test_pairs", "tfds_keys": ("lr", "hr"),
                         "tfds_data_dir": data_dir, "load_size": 20, "crop_size": 16,
                         "batch_size": 2, **kw})


def _h2z(**kw):
    return DataConfig(**{"dataset": "tfds:cycle_gan/horse2zebra", "load_size": 20,
                         "crop_size": 16, "batch_size": 2, "tfds_data_dir": "/nonexistent", **kw})


def test_unpaired_cycle_gan_with_mock_data():
    with tfds.testing.mock_data(num_examples=5):
        config = _h2z(input_nc=1)
        info = dataset_info(config)
        assert (info.paired, info.num_a, info.num_b, info.num_examples) == (False, 5, 5, 5)
        assert info.source.startswith("tfds:cycle_gan/horse2zebra")
        assert not dataset_info(_h2z(tfds_keys=("image", "image"))).paired
        for training in (True, False):
            batches = list(build_dataset(config, training=training))
            assert len(batches) == (2 if training else 3)
            assert batches[0]["A"].shape == (2, 16, 16, 1)
            assert batches[0]["B"].shape == (2, 16, 16, 3)
            for b in batches:
                for x in b.values():
                    assert -1.0 <= float(np.min(x)) and float(np.max(x)) <= 1.0


def test_paired_tfds_keys_direction_and_pairing(pairs_dir):
    info = dataset_info(_pairs(pairs_dir), "test")
    assert (info.paired, info.num_examples) == (True, 3)
    evaluation = [b for b in build_dataset(_pairs(pairs_dir, batch_size=3), "test", training=False)]
    assert sorted(example_ids(evaluation[0]["A"].numpy())) == [0, 1, 2]
    for b in build_dataset(_pairs(pairs_dir, direction="BtoA")):
        np.testing.assert_allclose(b["A"] + b["B"], 0.0, atol=1e-5)
        assert np.all(b["B"].numpy() < 0)  # B is now the dark "lr" image


def test_tfds_shards_are_disjoint_and_cover_everything(pairs_dir):
    import tensorflow as tf
    seen = []
    for index in range(2):
        ctx = tf.distribute.InputContext(2, index, 2)
        ds = build_dataset(_pairs(pairs_dir), training=False, input_context=ctx)
        seen.append([i for b in ds for i in example_ids(b["A"].numpy())])
    assert set(seen[0]).isdisjoint(seen[1]) and sorted(seen[0] + seen[1]) == list(range(6))


def test_unknown_tfds_name_suggests_valid_names():
    with pytest.raises(ValueError) as info:
        dataset_info(_h2z(dataset="tfds:cyclegan"))
    message = str(info.value)
    assert "Unknown TFDS dataset 'cyclegan'" in message and "cycle_gan" in message
    assert "tfds.list_builders()" in message


def test_unknown_tfds_config():
    with pytest.raises(ValueError, match="Unknown TFDS dataset 'cycle_gan/nope'.*Fix"):
        dataset_info(_h2z(dataset="tfds:cycle_gan/nope"))


def test_missing_feature_key_lists_the_image_keys(pairs_dir):
    with pytest.raises(ValueError) as info:
        dataset_info(_pairs(pairs_dir, tfds_keys=("lr", "highres")))
    message = str(info.value)
    assert "no image feature 'highres'" in message and "lr, hr, mask" in message
    assert "--tfds_keys=A_KEY,B_KEY" in message


def test_several_image_features_need_keys(pairs_dir):
    with pytest.raises(ValueError, match="several image features.*--tfds_keys"):
        dataset_info(_pairs(pairs_dir, tfds_keys=None))


def test_missing_split_lists_the_splits(pairs_dir):
    with pytest.raises(ValueError, match="no split 'validation'.*train"):
        dataset_info(_pairs(pairs_dir), "validation")


def test_unprepared_dataset_says_how_to_prepare_it(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        build_dataset(_h2z(tfds_data_dir=str(tmp_path)))
    message = str(info.value)
    assert "not prepared in" in message and "tfds build cycle_gan/horse2zebra" in message
