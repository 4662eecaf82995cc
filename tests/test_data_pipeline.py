"""build_dataset / dataset_info on image folders written by the tests."""
import collections
import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import example_ids, make_dataset, random_image, write_image
from itgc_tf.data import DataConfig, build_dataset, dataset_info


def _config(root, **kw):
    return DataConfig(**{"dataset": str(root), "load_size": 20, "crop_size": 16,
                         "batch_size": 2, **kw})


def _batches(ds):
    return [{k: v.numpy() for k, v in b.items()} for b in ds]


def _context(index, count=2):
    return tf.distribute.InputContext(num_input_pipelines=count, input_pipeline_id=index,
                                      num_replicas_in_sync=count)


@pytest.mark.parametrize("layout, paired", [("aligned", True), ("folders", True),
                                            ("unpaired", False)])
def test_each_layout_is_detected_and_gives_ready_batches(tmp_path, layout, paired):
    make_dataset(tmp_path, layout, n=5)
    config = _config(tmp_path, input_nc=1)
    info = dataset_info(config)
    assert (info.paired, info.layout, info.num_examples, info.num_a, info.num_b) == (
        paired, layout, 5, 5, 5)
    for training in (True, False):
        batches = _batches(build_dataset(config, training=training))
        assert [b["A"].shape[0] for b in batches] == ([2, 2] if training else [2, 2, 1])
        for b in batches:
            assert b["A"].shape[1:] == (16, 16, 1) and b["B"].shape[1:] == (16, 16, 3)
            assert b["A"].dtype == b["B"].dtype == np.float32
            for x in b.values():
                assert -1.0 <= x.min() and x.max() <= 1.0 and x.max() - x.min() > 0.5


@pytest.mark.parametrize("layout", ["aligned", "folders"])
@pytest.mark.parametrize("direction", ["AtoB", "BtoA"])
@pytest.mark.parametrize("preprocess", ["resize_and_crop", "crop"])
def test_pairing_survives_crop_flip_and_resize(tmp_path, layout, direction, preprocess):
    make_dataset(tmp_path, layout, n=6, ext_b=".bmp")  # mixed extensions pair by name
    config = _config(tmp_path, direction=direction, preprocess=preprocess, batch_size=3)
    for epoch in range(2):
        for b in build_dataset(config):
            np.testing.assert_allclose(b["A"] + b["B"], 0.0, atol=1e-5)


def test_direction_swaps_a_and_b(tmp_path):
    make_dataset(tmp_path, "aligned", n=3)
    forward = _batches(build_dataset(_config(tmp_path), training=False))
    backward = _batches(build_dataset(_config(tmp_path, direction="BtoA"), training=False))
    for f, b in zip(forward, backward):
        np.testing.assert_array_equal(f["A"], b["B"])
        np.testing.assert_array_equal(f["B"], b["A"])


def test_unpaired_direction_swaps_domains(tmp_path):
    make_dataset(tmp_path, "unpaired", n=4, n_b=2)
    info = dataset_info(_config(tmp_path, direction="BtoA"))
    assert (info.num_a, info.num_b, info.num_examples) == (2, 4, 4)


def test_training_is_reproducible_with_a_seed(tmp_path):
    make_dataset(tmp_path, "folders", n=6)

    def run(seed):
        return np.concatenate([b["A"] for b in build_dataset(_config(tmp_path, seed=seed))])

    np.testing.assert_array_equal(run(3), run(3))
    assert not np.allclose(run(3), run(4))


def test_each_training_epoch_reshuffles_and_covers_every_example(tmp_path):
    make_dataset(tmp_path, "aligned", n=8, ids=True)
    ds = build_dataset(_config(tmp_path, batch_size=1))
    orders = [[example_ids(b["A"])[0] for b in _batches(ds)] for _ in range(3)]
    for order in orders:
        assert sorted(order) == list(range(8))
    assert len({tuple(o) for o in orders}) == 3


def test_evaluation_is_ordered_and_free_of_randomness(tmp_path):
    make_dataset(tmp_path, "folders", n=5)
    config = _config(tmp_path, batch_size=5)
    first, second = (_batches(build_dataset(config, training=False))[0] for _ in range(2))
    np.testing.assert_array_equal(first["A"], second["A"])
    ds = build_dataset(config, training=False)
    np.testing.assert_array_equal(_batches(ds)[0]["A"], _batches(ds)[0]["A"])
    reseeded = _batches(build_dataset(dataclasses.replace(config, seed=9), training=False))[0]
    np.testing.assert_array_equal(first["A"], reseeded["A"])


def test_unpaired_epoch_covers_the_larger_domain_and_cycles_the_smaller(tmp_path):
    make_dataset(tmp_path, "unpaired", n=5, n_b=3, ids=True)
    config = _config(tmp_path, batch_size=1)
    evaluation = _batches(build_dataset(config, training=False))
    assert [example_ids(b["A"])[0] for b in evaluation] == [0, 1, 2, 3, 4]
    # B = 255 - id image, so its ids read from -B.
    assert [example_ids(-b["B"])[0] for b in evaluation] == [0, 1, 2, 0, 1]
    training = _batches(build_dataset(config))
    assert sorted(example_ids(b["A"])[0] for b in training) == [0, 1, 2, 3, 4]
    b_ids = collections.Counter(example_ids(-b["B"])[0] for b in training)
    assert set(b_ids) == {0, 1, 2} and sum(b_ids.values()) == 5


@pytest.mark.parametrize("layout", ["aligned", "unpaired"])
@pytest.mark.parametrize("training", [True, False])
def test_input_context_shards_are_disjoint_and_cover_everything(tmp_path, layout, training):
    make_dataset(tmp_path, layout, n=7, ids=True)
    config = _config(tmp_path, batch_size=2, drop_remainder=False)
    shards = []
    for index in range(2):
        batches = _batches(build_dataset(config, training=training, input_context=_context(index)))
        assert all(b["A"].shape[0] == 1 for b in batches)  # per-replica batch = 2 / 2
        shards.append([example_ids(b["A"])[0] for b in batches])
    assert set(shards[0]).isdisjoint(shards[1])
    assert sorted(shards[0] + shards[1]) == list(range(7))


def test_distribute_datasets_from_function(tmp_path, two_replica_strategy):
    make_dataset(tmp_path, "folders", n=8, ids=True)
    config = _config(tmp_path, batch_size=4)
    dist = two_replica_strategy.distribute_datasets_from_function(
        lambda ctx: build_dataset(config, training=False, input_context=ctx))
    seen = []
    for batch in dist:
        parts = two_replica_strategy.experimental_local_results(batch["A"])
        assert [p.shape[0] for p in parts] == [2, 2]
        seen += [i for p in parts for i in example_ids(p.numpy())]
    assert sorted(seen) == list(range(8))


def test_without_context_auto_sharding_is_by_data(tmp_path, two_replica_strategy):
    make_dataset(tmp_path, "aligned", n=4)
    ds = build_dataset(_config(tmp_path, deterministic=False))
    assert ds.options().experimental_distribute.auto_shard_policy == \
        tf.data.experimental.AutoShardPolicy.DATA
    assert ds.options().deterministic is False
    dist = two_replica_strategy.experimental_distribute_dataset(ds)
    batch = next(iter(dist))
    assert [p.shape for p in two_replica_strategy.experimental_local_results(batch["A"])] == [
        (1, 16, 16, 3)] * 2


def test_drop_remainder_only_in_training(tmp_path):
    make_dataset(tmp_path, "folders", n=5)

    def sizes(training, **kw):
        return [b["A"].shape[0] for b in build_dataset(_config(tmp_path, **kw), training=training)]

    assert sizes(True) == [2, 2]
    assert sizes(True, drop_remainder=False) == [2, 2, 1]
    assert sizes(False) == [2, 2, 1]


def test_cache_gives_the_same_examples(tmp_path):
    make_dataset(tmp_path, "unpaired", n=4, n_b=3)
    plain = _batches(build_dataset(_config(tmp_path), training=False))
    ds = build_dataset(_config(tmp_path, cache=True), training=False)
    for _ in range(2):
        for p, c in zip(plain, _batches(ds)):
            np.testing.assert_array_equal(p["B"], c["B"])
    trained = build_dataset(_config(tmp_path, cache=True, seed=5))
    assert [len(_batches(trained)) for _ in range(2)] == [2, 2]


def test_cardinality_is_known_for_progress_bars(tmp_path):
    make_dataset(tmp_path, "unpaired", n=6, n_b=2)
    ds = build_dataset(_config(tmp_path, batch_size=4, drop_remainder=False))
    assert int(ds.cardinality()) == 2


def test_grayscale_files_convert_to_three_channels(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        gray = random_image(rng, 24, 24, channels=1)
        write_image(tmp_path / "train" / "A" / f"{i}.png", gray)
        write_image(tmp_path / "train" / "B" / f"{i}.png", 255 - gray)
    b = _batches(build_dataset(_config(tmp_path, input_nc=3, output_nc=1)))[0]
    assert b["A"].shape[-1] == 3 and b["B"].shape[-1] == 1
    np.testing.assert_allclose(b["A"][..., 0], b["A"][..., 2])
    np.testing.assert_allclose(b["A"][..., :1] + b["B"], 0.0, atol=1e-5)


# --- bad input: a clear error from build_dataset / dataset_info, before any batch ------------

def test_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}/nope does not exist.*Fix:"):
        build_dataset(_config(tmp_path / "nope"))


def test_unknown_layout_lists_what_was_expected(tmp_path):
    (tmp_path / "other").mkdir()
    with pytest.raises(FileNotFoundError, match="Cannot find split 'train'.*trainA/.*Fix:"):
        dataset_info(_config(tmp_path))


def test_explicit_layout_names_the_missing_folder(tmp_path):
    make_dataset(tmp_path, "aligned", n=2)
    with pytest.raises(FileNotFoundError, match="trainA does not exist"):
        build_dataset(_config(tmp_path, layout="unpaired"))


def test_empty_folder(tmp_path):
    (tmp_path / "train").mkdir()
    with pytest.raises(ValueError, match="train is empty. Fix: put the images"):
        build_dataset(_config(tmp_path))


def test_no_supported_images(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "a.gif").write_bytes(b"GIF89a")
    (tmp_path / "train" / "b.txt").write_text("x")
    (tmp_path / "train" / "sub").mkdir()
    with pytest.raises(ValueError, match=r"supported type.*\.gif x1, \.txt x1, sub-folders x1.*Fix"):
        build_dataset(_config(tmp_path))


@pytest.mark.parametrize("damage", [lambda b: b"not an image at all", lambda b: b[:60]])
def test_corrupt_file_is_named(tmp_path, damage):
    make_dataset(tmp_path, "folders", n=3)
    bad = tmp_path / "train" / "B" / "img001.png"
    bad.write_bytes(damage(bad.read_bytes()))
    with pytest.raises(ValueError, match=f"Cannot read image {bad}.*Fix: re-export"):
        build_dataset(_config(tmp_path))


def test_palette_bmp_is_refused(tmp_path):
    make_dataset(tmp_path, "aligned", n=2)
    from PIL import Image
    image = Image.fromarray(random_image(np.random.default_rng(0), 20, 40)).convert("P")
    image.save(tmp_path / "train" / "pal.bmp")
    with pytest.raises(ValueError, match="pal.bmp is a BMP with mode 'P'.*Fix"):
        build_dataset(_config(tmp_path))


def test_unmatched_pair_names_are_listed(tmp_path):
    make_dataset(tmp_path, "folders", n=4)
    (tmp_path / "train" / "A" / "img001.png").rename(tmp_path / "train" / "A" / "extra.png")
    (tmp_path / "train" / "B" / "img003.png").rename(tmp_path / "train" / "B" / "other.png")
    with pytest.raises(ValueError) as info:
        build_dataset(_config(tmp_path))
    message = str(info.value)
    assert "only in" in message and "extra, img003" in message and "img001, other" in message
    assert "Fix:" in message


def test_duplicate_names_with_different_extensions(tmp_path):
    make_dataset(tmp_path, "folders", n=2)
    write_image(tmp_path / "train" / "A" / "img000.jpg",
                random_image(np.random.default_rng(0), 24, 32))
    with pytest.raises(ValueError, match="same name but different extensions.*img000.jpg"):
        build_dataset(_config(tmp_path))


def test_aligned_image_with_odd_width(tmp_path):
    make_dataset(tmp_path, "aligned", n=2)
    write_image(tmp_path / "train" / "odd.png", random_image(np.random.default_rng(0), 24, 33))
    with pytest.raises(ValueError, match="odd.png has odd width 33.*Fix"):
        build_dataset(_config(tmp_path))


@pytest.mark.parametrize("preprocess, size", [("crop", (12, 40)),
                                              ("scale_width_and_crop", (10, 40))])
def test_image_smaller_than_the_crop_after_resize(tmp_path, preprocess, size):
    make_dataset(tmp_path, "unpaired", n=2, size=(24, 24))
    small = write_image(tmp_path / "trainB" / "small.png",
                        random_image(np.random.default_rng(0), *size))
    with pytest.raises(ValueError, match=f"{small} is {size[0]}x{size[1]}.*than --crop_size=16"):
        dataset_info(_config(tmp_path, preprocess=preprocess))


def test_pair_sizes_must_agree_without_resize(tmp_path):
    make_dataset(tmp_path, "folders", n=2)
    write_image(tmp_path / "train" / "B" / "img001.png",
                random_image(np.random.default_rng(0), 20, 32))
    assert dataset_info(_config(tmp_path)).num_examples == 2  # resize_and_crop: fine
    with pytest.raises(ValueError, match="differ in size after --preprocess=crop"):
        build_dataset(_config(tmp_path, preprocess="crop"))


def test_more_pipelines_than_examples(tmp_path):
    make_dataset(tmp_path, "aligned", n=2)
    with pytest.raises(ValueError, match="2 example.*fewer than the 3 input pipelines"):
        build_dataset(_config(tmp_path), input_context=_context(2, count=3))


def test_keras_fit_learns_from_it_under_a_strategy(tmp_path, two_replica_strategy):
    import keras
    make_dataset(tmp_path, "folders", n=8)
    ds = build_dataset(_config(tmp_path, batch_size=4)).map(lambda b: (b["A"], b["B"]))
    with two_replica_strategy.scope():
        model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(3, 1)])
        model.compile(keras.optimizers.Adam(0.1), "mse")
    losses = model.fit(ds, epochs=5, shuffle=False, verbose=0).history["loss"]
    assert len(losses) == 5 and losses[-1] < 0.3 * losses[0], losses  # learns B = -A
