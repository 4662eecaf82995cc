"""ImagePool: CycleGAN's history rule, inside tf.function."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.training.image_pool import ImagePool


def _images(values):
    """One 1×1×1 image per value: [B, 1, 1, 1]."""
    return tf.reshape(tf.constant(values, tf.float32), [-1, 1, 1, 1])


def _values(images):
    return images.numpy().reshape(-1).tolist()


def test_fills_then_returns_the_new_images():
    pool = ImagePool(4, seed=0)
    query = tf.function(pool)
    assert _values(query(_images([1, 2]))) == [1, 2]
    assert _values(query(_images([3, 4]))) == [3, 4]
    assert _values(pool.images) == [1, 2, 3, 4]
    assert int(pool.num_images) == 4


def test_full_pool_swaps_with_probability_one_half():
    """Once full, each query returns a stored image (chosen uniformly, and
    replaced by the new one) with probability 0.5, else the new image."""
    size, n = 5, 2000
    pool = ImagePool(size, seed=3)
    query = tf.function(pool)
    query(_images(range(-size, 0)))  # fill with -5 … -1
    swaps, slots = 0, np.zeros(size)
    for k in range(n):
        before = _values(pool.images)
        out = _values(query(_images([k])))[0]
        after = _values(pool.images)
        if out == k:  # new image returned, history unchanged
            assert after == before
        else:  # a stored image returned; the new one took its slot
            slot = before.index(out)
            assert after == before[:slot] + [k] + before[slot + 1:]
            swaps += 1
            slots[slot] += 1
    assert abs(swaps / n - 0.5) < 0.04  # ~3.6 standard deviations
    expected = swaps / size
    assert np.all(np.abs(slots - expected) < 0.25 * expected)


def test_queries_within_a_batch_are_sequential():
    """A batch larger than the free space: the first images fill the pool,
    the rest follow the swap rule one by one, so after the fill every image
    ends up exactly once in the pool or in the output."""
    pool = ImagePool(3, seed=1)
    out = _values(pool(_images(range(10, 18))))
    assert out[:3] == [10, 11, 12]
    assert sorted(_values(pool.images) + out[3:]) == list(range(10, 18))
    assert out[3:] != list(range(13, 18))  # some swaps happened (seeded)


def test_same_seed_same_history():
    runs = []
    for _ in range(2):
        pool = ImagePool(2, seed=7)
        runs.append([_values(pool(_images([k, k + 0.5]))) for k in range(20)])
    assert runs[0] == runs[1]


def test_zero_size_pool_is_identity():
    pool = ImagePool(0)
    x = _images([1, 2, 3])
    assert pool(x) is x


def test_errors_name_the_fix():
    with pytest.raises(ValueError, match="pool_size must be >= 0"):
        ImagePool(-1)
    pool = ImagePool(2)
    with pytest.raises(ValueError, match="needs a known image size"):
        pool.build((None, None, None, 3))
