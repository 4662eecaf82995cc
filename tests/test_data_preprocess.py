"""transform: shared crop/flip for a pair, evaluation without randomness, channels, range."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.data import DataConfig
from itgc_tf.data.preprocess import check_size, resized_size, transform


def _config(**kw):
    return DataConfig(**{"dataset": "/x", "load_size": 20, "crop_size": 16, **kw})


def _pair(h=24, w=30, seed=0):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return tf.constant(a), tf.constant(255 - a)


def _seed(i):
    return tf.constant([i, 0], tf.int64)


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "scale_width_and_crop", "crop"])
def test_pair_gets_the_same_crop_and_flip(preprocess):
    config = _config(preprocess=preprocess)
    a, b = _pair()
    outputs = {tuple(transform([a, b], [3, 3], config, True, _seed(i))[0].numpy().ravel()[:8])
               for i in range(12)}
    assert len(outputs) > 6  # crops and flips really vary with the seed
    for i in range(12):
        out_a, out_b = transform([a, b], [3, 3], config, True, _seed(i))
        assert out_a.shape == out_b.shape == (16, 16, 3)
        np.testing.assert_allclose(out_a + out_b, 0.0, atol=1e-5)


def test_crop_mode_output_is_a_flipped_or_plain_window_of_the_input():
    a, _ = _pair()
    config = _config(preprocess="crop")
    x = a.numpy() / 127.5 - 1.0
    windows = {(t, l, f) for t in range(24 - 15) for l in range(30 - 15) for f in (0, 1)}
    seen = set()
    for i in range(20):
        out = transform([a], [3], config, True, _seed(i))[0].numpy()
        match = [(t, l, f) for t, l, f in windows
                 if np.allclose(out, x[t:t + 16, l:l + 16][:, ::-1 if f else 1], atol=1e-6)]
        assert match, i
        seen.add(match[0][2])
    assert seen == {0, 1}  # both flipped and unflipped crops occur


def test_no_flip_never_flips():
    a, _ = _pair()
    x = a.numpy() / 127.5 - 1.0
    config = _config(preprocess="crop", no_flip=True)
    for i in range(10):
        out = transform([a], [3], config, True, _seed(i))[0].numpy()
        assert any(np.allclose(out, x[t:t + 16, l:l + 16], atol=1e-6)
                   for t in range(9) for l in range(15))


def test_same_seed_same_output_and_evaluation_is_seedless():
    a, b = _pair()
    config = _config()
    first = transform([a, b], [3, 3], config, True, _seed(3))
    again = transform([a, b], [3, 3], config, True, _seed(3))
    np.testing.assert_array_equal(first[0], again[0])
    evaluation = [transform([a, b], [3, 3], config, False)[0].numpy() for _ in range(2)]
    np.testing.assert_array_equal(*evaluation)


def test_evaluation_resize_and_crop_resizes_whole_image_to_crop_size():
    a, _ = _pair()
    out = transform([a], [3], _config(), False)[0]
    expected = tf.clip_by_value(tf.image.resize(tf.cast(a, tf.float32), [16, 16], "bicubic",
                                                antialias=True), 0, 255) / 127.5 - 1
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_evaluation_crop_mode_is_the_centre_crop():
    a, _ = _pair()
    out = transform([a], [3], _config(preprocess="crop"), False)[0]
    np.testing.assert_allclose(out, a.numpy()[4:20, 7:23] / 127.5 - 1, atol=1e-6)


def test_range_and_channel_conversion():
    gray = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    rgb = tf.constant(np.repeat(gray[..., None], 3, axis=-1))
    config = _config(preprocess="crop", no_flip=True)
    one, three = transform([rgb, rgb], [1, 3], config, False)
    assert one.shape == (16, 16, 1) and three.shape == (16, 16, 3)
    # gray -> RGB -> gray is exact
    np.testing.assert_allclose(one[..., 0], gray / 127.5 - 1, atol=1e-5)
    colour = tf.constant([[[255, 0, 0]] * 16] * 16, tf.uint8)
    red = transform([colour], [1], config, False)[0]
    np.testing.assert_allclose(red, 0.299 * 255 / 127.5 - 1, atol=1e-5)
    extremes = tf.constant(np.tile(np.array([0, 255], np.uint8), (16, 8))[..., None].repeat(3, -1))
    out = transform([extremes], [3], _config(), True, _seed(0))[0].numpy()
    assert out.min() >= -1.0 and out.max() <= 1.0 and out.min() < -0.9 and out.max() > 0.9


def test_resized_size_per_mode():
    assert resized_size(30, 60, _config(), True) == (20, 20)
    assert resized_size(30, 60, _config(), False) == (16, 16)
    sw = _config(preprocess="scale_width_and_crop", load_size=40)
    assert resized_size(30, 60, sw, True) == resized_size(30, 60, sw, False) == (20, 40)
    assert resized_size(30, 60, _config(preprocess="crop"), True) == (30, 60)


def test_check_size_names_image_and_fix():
    sw = _config(preprocess="scale_width_and_crop", load_size=40, crop_size=24)
    assert check_size(30, 40, "ok.png", sw) == (30, 40)
    with pytest.raises(ValueError) as info:
        check_size(30, 60, "/d/wide.png", sw)
    message = str(info.value)
    assert "/d/wide.png is 30x60" in message and "20x40" in message and "Fix:" in message


def test_pair_of_different_sizes_in_crop_mode_is_reported_at_run_time():
    a = tf.zeros([20, 20, 3], tf.uint8)
    b = tf.zeros([24, 24, 3], tf.uint8)
    with pytest.raises(tf.errors.InvalidArgumentError, match="differ in size"):
        transform([a, b], [3, 3], _config(preprocess="crop"), True, _seed(0))


def test_too_small_image_is_reported_at_run_time():
    with pytest.raises(tf.errors.InvalidArgumentError, match="smaller than --crop_size=16"):
        transform([tf.zeros([10, 30, 3], tf.uint8)], [3], _config(preprocess="crop"), False)


@pytest.mark.parametrize("preprocess", ["resize_and_crop", "scale_width_and_crop", "crop"])
@pytest.mark.parametrize("training", [True, False])
def test_graph_resize_matches_the_eager_size_check(preprocess, training):
    from itgc_tf.data.preprocess import resize
    config = _config(preprocess=preprocess, load_size=37, crop_size=8)
    for height, width in ((25, 30), (31, 23), (17, 54), (40, 40)):
        image = tf.zeros([height, width, 3], tf.uint8)
        assert tuple(resize(image, config, training).shape[:2]) == resized_size(
            height, width, config, training)
