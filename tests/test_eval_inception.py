"""Inception-v3 feature sources (itgc_tf.eval.inception): local weights only."""
import os

import h5py
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval import fid
from itgc_tf.eval import inception
from itgc_tf.eval.inception import (KERAS_CACHE_FILE, InceptionFeatures, keras_cache_path,
                                    saved_model_fingerprint, weights_fingerprint)
from export_helpers import smooth_images


@pytest.fixture(scope="module")
def random_inception():
    with pytest.warns(UserWarning, match="RANDOM Inception weights"):
        return InceptionFeatures.random_for_testing(seed=0)


def test_missing_weights_say_where_to_put_them(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    assert keras_cache_path() == str(tmp_path / "keras" / "models" / KERAS_CACHE_FILE)
    with pytest.raises(FileNotFoundError) as error:
        InceptionFeatures()
    message = str(error.value)
    assert keras_cache_path() in message and "--inception_weights" in message
    assert "keras.applications.InceptionV3(include_top=False, weights='imagenet')" in message
    with pytest.raises(FileNotFoundError, match="does not exist"):
        InceptionFeatures(str(tmp_path / "nope.h5"))


def test_wrong_weight_files_are_rejected(tmp_path):
    (tmp_path / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="neither a SavedModel directory"):
        InceptionFeatures(str(tmp_path / "weights.bin"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="without saved_model.pb"):
        InceptionFeatures(str(tmp_path / "empty"))
    (tmp_path / "bad.h5").write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="not an HDF5 file"):
        InceptionFeatures(str(tmp_path / "bad.h5"))
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f.create_dataset("something_else", data=np.zeros(3))
    with pytest.raises(ValueError, match="include_top=False"):
        InceptionFeatures(str(tmp_path / "other.h5"))


def test_random_network_gives_deterministic_2048_d_features(random_inception):
    assert random_inception.network_id == "random-testing:seed=0:size=75"
    assert not random_inception.is_standard_fid_network
    images = smooth_images(3, 32)[:, :20]  # any size: resized to the network's input
    features = random_inception(images).numpy()
    assert features.shape == (3, 2048) and features.dtype == np.float32
    assert np.all(np.isfinite(features)) and features.std(axis=0).mean() > 0
    with pytest.warns(UserWarning):
        again = InceptionFeatures.random_for_testing(seed=0)
    for mine, theirs in zip(random_inception._model.weights, again._model.weights):
        np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
    gray = images[..., :1]
    np.testing.assert_allclose(random_inception(gray).numpy(),
                               random_inception(np.repeat(gray, 3, axis=-1)).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match="1 or 3"):
        random_inception(np.zeros((1, 8, 8, 2), np.float32))


def test_features_of_a_dataset_stop_at_max_images(random_inception):
    images = smooth_images(7, 16)
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(3)
    features = random_inception.features(dataset, max_images=5)
    assert features.shape == (5, 2048)
    np.testing.assert_allclose(features, random_inception(images[:5]).numpy(), rtol=1e-5, atol=1e-6)
    assert random_inception.features(dataset).shape == (7, 2048)
    with pytest.raises(ValueError, match="no images"):
        random_inception.features(dataset.take(0))


def test_real_statistics_cache_with_the_network_and_kid_of_shifted_images(random_inception, tmp_path):
    images = smooth_images(40, 16, seed=3)
    path = str(tmp_path / "real.npz")
    real = fid.RealStatistics.load_or_compute(path, random_inception, [images[:20], images[20:]])
    assert (real.count, real.network_id) == (40, random_inception.network_id)
    np.testing.assert_allclose(real.kid_features, random_inception(images).numpy(), rtol=1e-5, atol=1e-6)
    same, _ = fid.kernel_inception_distance(real.kid_features, random_inception(images[::-1]).numpy(),
                                            num_subsets=10, subset_size=20)
    shifted, _ = fid.kernel_inception_distance(real.kid_features,
                                               random_inception(np.clip(images + 0.5, -1, 1)).numpy(),
                                               num_subsets=10, subset_size=20)
    assert abs(same) < 0.1 * shifted


@pytest.mark.slow  # two 2048×2048 matrix square roots: ~1 min on 2 cores
def test_fid_of_inception_features_against_themselves_is_zero_and_against_shifted_images_positive(
        random_inception):
    images = smooth_images(40, 16, seed=3)
    mu, sigma = fid.feature_statistics(random_inception(images).numpy())
    assert abs(fid.frechet_distance(mu, sigma, mu, sigma)) < 1e-6
    shifted = random_inception(np.clip(images + 0.5, -1, 1)).numpy()
    assert fid.frechet_distance(mu, sigma, *fid.feature_statistics(shifted)) > 1e-3


def test_keras_weight_files_and_the_keras_cache_load(tmp_path, monkeypatch):
    reference = keras.applications.InceptionV3(include_top=False, pooling="avg", weights=None,
                                               input_shape=(299, 299, 3))
    images = smooth_images(2, 32)
    expected = reference(tf.image.resize(images, [299, 299])).numpy()
    weights_file = str(tmp_path / "inception.weights.h5")
    reference.save_weights(weights_file)
    from_file = InceptionFeatures(weights_file)
    assert from_file.network_id.startswith("keras_inception_v3_imagenet:")
    assert not from_file.is_standard_fid_network
    for loaded, original in zip(from_file._model.weights, reference.weights):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    os.makedirs(os.path.dirname(keras_cache_path()))
    reference.save(str(tmp_path / "legacy.h5"))  # legacy HDF5, the cache file's format
    os.replace(tmp_path / "legacy.h5", keras_cache_path())
    from_cache = InceptionFeatures()
    assert from_cache.network_id.startswith("keras_inception_v3_imagenet:")
    np.testing.assert_allclose(from_cache(images).numpy(), expected, rtol=1e-4, atol=1e-5)


class _FakeFidNetwork(tf.Module):
    """Stand-in for the FID Inception SavedModel: pool3 = corner pixel · W, shaped [N, 1, 1, 2048]."""

    def __init__(self, seed, pool_dim=2048, pool_name="pool_3"):
        super().__init__()
        self.w = tf.Variable(np.random.default_rng(seed).normal(size=(3, pool_dim)).astype(np.float32))
        self.pool_name = pool_name

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def serve(self, images):
        pool = images[:, 0, 0, :] @ self.w
        return {self.pool_name: tf.reshape(pool, [-1, 1, 1, pool.shape[-1]]), "logits": pool[:, :10]}


def _save_fake(path, seed, pool_dim=2048, pool_name="pool_3"):
    network = _FakeFidNetwork(seed, pool_dim, pool_name)
    tf.saved_model.save(network, path, signatures={"serving_default": network.serve})
    return network.w.numpy()


def test_fid_savedmodel_gets_images_in_its_range_and_an_id_from_its_content(tmp_path):
    w = _save_fake(str(tmp_path / "fid_a"), seed=0)
    _save_fake(str(tmp_path / "fid_b"), seed=1)
    network = InceptionFeatures(str(tmp_path / "fid_a"), saved_model_input_range=(0.0, 255.0))
    assert not network.is_standard_fid_network  # a 2048-wide output alone proves nothing
    assert network.network_id.startswith("fid_inception_savedmodel:") and network.network_id.endswith("in[0,255]")
    assert InceptionFeatures(str(tmp_path / "fid_b")).network_id != network.network_id
    pixel = np.array([-1.0, 0.0, 0.5], np.float32)  # constant image: resizing keeps it
    images = np.broadcast_to(pixel, (2, 10, 12, 3))
    inputs = (pixel + 1) / 2 * 255.0
    expected = inputs.astype(np.float64) @ w
    # float32 rounding of the 3-term sums, relative to the terms (some outputs cancel).
    rounding = 1e-6 * (np.abs(inputs) @ np.abs(w)).max()
    np.testing.assert_allclose(network(images).numpy(), np.stack([expected] * 2), rtol=1e-5,
                               atol=rounding)


def test_fid_savedmodel_without_2048_d_pool_features_is_rejected(tmp_path):
    _save_fake(str(tmp_path / "small"), seed=0, pool_dim=1000)
    with pytest.raises(ValueError, match="pool3 features"):
        InceptionFeatures(str(tmp_path / "small"))
    _save_fake(str(tmp_path / "unnamed"), seed=0, pool_name="features")
    with pytest.raises(ValueError, match="cannot tell which is the pool3 feature"):
        InceptionFeatures(str(tmp_path / "unnamed"))


def test_a_savedmodel_is_standard_only_when_its_weights_fingerprint_is_the_published_one(
        tmp_path, monkeypatch):
    w = _save_fake(str(tmp_path / "fid_a"), seed=0)
    _save_fake(str(tmp_path / "fid_b"), seed=1)
    fake = InceptionFeatures(str(tmp_path / "fid_a"))
    assert not fake.is_standard_fid_network
    assert "is not that of the standard FID Inception network" in fake.standard_network_reason
    assert saved_model_fingerprint(str(tmp_path / "fid_a")) == weights_fingerprint([w])
    monkeypatch.setitem(inception.STANDARD_FID_FINGERPRINTS, weights_fingerprint([w]), "the test net")
    verified = InceptionFeatures(str(tmp_path / "fid_a"))
    assert verified.is_standard_fid_network and "the test net" in verified.standard_network_reason
    assert not InceptionFeatures(str(tmp_path / "fid_b")).is_standard_fid_network


def test_weights_fingerprint_ignores_names_and_order_but_not_values_shapes_or_dtypes():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=(5,)).astype(np.float32)
    reference = weights_fingerprint([a, b])
    assert weights_fingerprint([b, a]) == reference
    assert weights_fingerprint([a.astype(">f4"), b]) == reference  # byte order normalised
    changed = a.copy()
    changed[1, 2] = np.nextafter(changed[1, 2], np.float32(np.inf))
    assert weights_fingerprint([changed, b]) != reference
    assert weights_fingerprint([a.reshape(4, 3), b]) != reference
    assert weights_fingerprint([a.astype(np.float64), b]) != reference
    assert weights_fingerprint([a]) != reference


class _FileWritingNetwork(tf.Module):
    """A crafted 'FID network' whose graph writes a file when it runs."""

    def __init__(self, marker):
        super().__init__()
        self.w = tf.Variable(np.ones((3, 2048), np.float32))
        self.marker = marker

    @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
    def serve(self, images):
        tf.io.write_file(self.marker, "ran")
        return {"pool_3": images[:, 0, 0, :] @ self.w}


def test_the_fingerprint_is_read_without_running_the_savedmodels_graph(tmp_path):
    marker = str(tmp_path / "marker.txt")
    network = _FileWritingNetwork(marker)
    tf.saved_model.save(network, str(tmp_path / "crafted"), signatures={"serving_default": network.serve})
    assert saved_model_fingerprint(str(tmp_path / "crafted")) == weights_fingerprint([network.w.numpy()])
    assert not os.path.exists(marker)
    features = InceptionFeatures(str(tmp_path / "crafted"))  # loading it does run it: code
    assert os.path.exists(marker) and not features.is_standard_fid_network
