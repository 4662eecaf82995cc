"""TFRecord shards: written from any source, read back identically, sharded, checked."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import example_ids, make_dataset, random_image, write_image
from itgc_tf.data import DataConfig, build_dataset, dataset_info, write_tfrecords

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _config(dataset, **kw):
    return DataConfig(**{"dataset": str(dataset), "load_size": 20, "crop_size": 16,
                         "batch_size": 1, **kw})


def _by_id(ds, key="A", sign=1):
    return {example_ids(sign * b[key].numpy())[0]: (b["A"].numpy(), b["B"].numpy()) for b in ds}


@pytest.mark.parametrize("layout", ["aligned", "folders"])
def test_paired_round_trip_matches_the_folder_source(tmp_path, layout):
    make_dataset(tmp_path / "src", layout, n=7, ids=True)
    metadata = write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=3)
    assert sum(metadata["shards"]["pairs"].values()) == 7 and len(metadata["shards"]["pairs"]) == 3
    assert sorted(os.listdir(tmp_path / "tfr"))[-1] == "train.json"
    info = dataset_info(_config(f"tfrecord:{tmp_path / 'tfr'}"))
    assert (info.paired, info.num_examples, info.layout) == (True, 7, layout)
    folder = _by_id(build_dataset(_config(tmp_path / "src"), training=False))
    records = _by_id(build_dataset(_config(f"tfrecord:{tmp_path / 'tfr'}"), training=False))
    assert folder.keys() == records.keys() == set(range(7))
    for i in folder:
        np.testing.assert_array_equal(folder[i][1], records[i][1])


def test_stored_bytes_are_the_original_files(tmp_path):
    make_dataset(tmp_path / "src", "folders", n=2)
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=1)
    shard = tmp_path / "tfr" / "train-pairs-00000-of-00001.tfrecord"
    record = next(iter(tf.data.TFRecordDataset(str(shard))))
    spec = {k: tf.io.FixedLenFeature([], tf.string) for k in "AB"}
    example = tf.io.parse_single_example(record, spec)
    assert example["A"].numpy() == (tmp_path / "src" / "train" / "A" / "img000.png").read_bytes()


def test_unpaired_round_trip_with_direction(tmp_path):
    make_dataset(tmp_path / "src", "unpaired", n=5, n_b=3, ids=True)
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=2, split="train")
    config = _config(f"tfrecord:{tmp_path / 'tfr'}", direction="BtoA")
    info = dataset_info(config)
    assert (info.paired, info.num_a, info.num_b, info.num_examples) == (False, 3, 5, 5)
    batches = list(build_dataset(config))
    assert len(batches) == 5
    assert sorted(example_ids(b["B"].numpy())[0] for b in batches) == [0, 1, 2, 3, 4]


def test_from_tfds_mock_data(tmp_path):
    import tensorflow_datasets as tfds
    with tfds.testing.mock_data(num_examples=4):
        metadata = write_tfrecords(_config("tfds:cycle_gan/horse2zebra", tfds_data_dir="/none"),
                                   str(tmp_path), num_shards=2)
    assert metadata["paired"] is False and metadata["keys"] == ["image"]
    assert [sum(metadata["shards"][d].values()) for d in "AB"] == [4, 4]
    batches = list(build_dataset(_config(f"tfrecord:{tmp_path}", batch_size=2)))
    assert len(batches) == 2 and batches[0]["A"].shape == (2, 16, 16, 3)


def test_training_pairing_and_determinism(tmp_path):
    make_dataset(tmp_path / "src", "aligned", n=6)
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=3)
    config = _config(f"tfrecord:{tmp_path / 'tfr'}", batch_size=2, shuffle_buffer=4, seed=1)
    runs = [np.concatenate([b["A"] for b in build_dataset(config)]) for _ in range(2)]
    np.testing.assert_array_equal(*runs)
    for b in build_dataset(config):
        np.testing.assert_allclose(b["A"] + b["B"], 0.0, atol=1e-5)


@pytest.mark.parametrize("num_shards", [1, 4])  # element-level / file-level sharding
def test_shards_are_disjoint_and_cover_everything(tmp_path, num_shards):
    make_dataset(tmp_path / "src", "aligned", n=9, ids=True)
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=num_shards)
    config = _config(f"tfrecord:{tmp_path / 'tfr'}", batch_size=2, drop_remainder=False)
    seen = []
    for index in range(2):
        ctx = tf.distribute.InputContext(2, index, 2)
        for training in (False, True):
            ids = [i for b in build_dataset(config, training=training, input_context=ctx)
                   for i in example_ids(b["A"].numpy())]
            if training:
                assert sorted(ids) == sorted(seen[-1])
            else:
                seen.append(ids)
    assert set(seen[0]).isdisjoint(seen[1]) and sorted(seen[0] + seen[1]) == list(range(9))


def test_glob_selects_some_shards(tmp_path):
    make_dataset(tmp_path / "src", "folders", n=8)
    metadata = write_tfrecords(_config(tmp_path / "src"), str(tmp_path), num_shards=4)
    first_two = sum(c for n, c in sorted(metadata["shards"]["pairs"].items())[:2])
    config = _config(f"tfrecord:{tmp_path}/train-pairs-0000[01]-*.tfrecord")
    assert dataset_info(config).num_examples == first_two == 4
    assert len(list(build_dataset(config, training=False))) == 4


def test_size_check_uses_the_stored_sizes(tmp_path):
    make_dataset(tmp_path / "src", "unpaired", n=2, size=(24, 24))
    write_image(tmp_path / "src" / "trainB" / "wide.png",
                random_image(np.random.default_rng(0), 12, 48))
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=1)
    dataset_info(_config(f"tfrecord:{tmp_path / 'tfr'}"))  # resize_and_crop: fine
    with pytest.raises(ValueError, match=r"smallest B images.*12x24.*smaller than --crop_size=16"):
        dataset_info(_config(f"tfrecord:{tmp_path / 'tfr'}", preprocess="crop"))
    with pytest.raises(ValueError, match=r"smallest B images.*5x20"):
        dataset_info(_config(f"tfrecord:{tmp_path / 'tfr'}", preprocess="scale_width_and_crop"))


def test_missing_metadata_says_how_to_write_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="train.json.*scripts/make_tfrecords.py"):
        dataset_info(_config(f"tfrecord:{tmp_path}"))


def test_foreign_metadata(tmp_path):
    (tmp_path / "train.json").write_text('{"name": "something else"}')
    with pytest.raises(ValueError, match="train.json is not TFRecord metadata.*Fix"):
        dataset_info(_config(f"tfrecord:{tmp_path}"))


def test_glob_matching_nothing(tmp_path):
    with pytest.raises(FileNotFoundError, match="No TFRecord shards match.*Fix"):
        dataset_info(_config(f"tfrecord:{tmp_path}/nothing-*.tfrecord"))


def test_glob_with_files_of_another_split(tmp_path):
    make_dataset(tmp_path / "src", "aligned", n=2)
    make_dataset(tmp_path / "src", "aligned", n=2, split="test")
    for split in ("train", "test"):
        write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), 1, split=split)
    with pytest.raises(ValueError, match="test-pairs-00000-of-00001.tfrecord are not listed"):
        dataset_info(_config(f"tfrecord:{tmp_path / 'tfr'}/*.tfrecord"))


def test_missing_shard(tmp_path):
    make_dataset(tmp_path / "src", "aligned", n=4)
    write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=2)
    os.remove(tmp_path / "tfr" / "train-pairs-00001-of-00002.tfrecord")
    with pytest.raises(FileNotFoundError, match="train-pairs-00001-of-00002.tfrecord"):
        build_dataset(_config(f"tfrecord:{tmp_path / 'tfr'}"))


@pytest.mark.parametrize("bad", [0, -2, True])
def test_bad_num_shards(tmp_path, bad):
    with pytest.raises(ValueError, match="--num_shards.*positive"):
        write_tfrecords(_config(tmp_path), str(tmp_path / "tfr"), num_shards=bad)


def test_writer_checks_the_images(tmp_path):
    make_dataset(tmp_path / "src", "aligned", n=2)
    (tmp_path / "src" / "train" / "bad.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match="bad.png"):
        write_tfrecords(_config(tmp_path / "src"), str(tmp_path / "tfr"), num_shards=1)
    assert not (tmp_path / "tfr" / "train.json").exists()


def test_script(tmp_path):
    make_dataset(tmp_path / "src", "unpaired", n=3, n_b=2)
    result = subprocess.run(
        [sys.executable, os.path.join(REPO, "scripts", "make_tfrecords.py"),
         f"--dataset={tmp_path / 'src'}", f"--output={tmp_path / 'tfr'}", "--num_shards=2"],
        capture_output=True, text=True, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "A: 3 examples in 2 shards" in result.stdout
    assert "B: 2 examples in 2 shards" in result.stdout
    metadata = json.loads((tmp_path / "tfr" / "train.json").read_text())
    assert metadata["layout"] == "unpaired"
