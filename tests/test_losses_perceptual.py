"""OMGD student losses against independent numpy / scikit-image computations."""
import keras
import numpy as np
import pytest
import tensorflow as tf
from skimage.metrics import structural_similarity

from itgc_tf.losses.perceptual import (
    OMGD_DEFAULT_WEIGHTS, channel_distillation_loss, feature_loss, gram_matrix,
    omgd_student_losses, ssim_loss, style_loss, total_variation_loss)
from itgc_tf.losses.vgg import VGGFeatures

RNG = np.random.default_rng(0)


def _rand(*shape, low=-1.0, high=1.0):
    return RNG.uniform(low, high, shape).astype("float32")


def _np_gram(f):
    b, h, w, c = f.shape
    flat = f.reshape(b, h * w, c).astype(np.float64)
    return np.einsum("bnc,bnd->bcd", flat, flat) / (c * h * w)


@pytest.fixture(scope="module")
def vgg():
    keras.utils.set_random_seed(11)
    return VGGFeatures(allow_random_weights_for_testing=True)


def test_gram_matrix_matches_numpy():
    f = _rand(3, 5, 4, 6)
    got = gram_matrix(f).numpy()
    assert got.shape == (3, 6, 6)
    np.testing.assert_allclose(got, _np_gram(f), rtol=1e-5, atol=1e-6)


def test_style_loss_is_l1_mean_of_gram_differences_summed_over_layers():
    s = {"a": _rand(2, 8, 8, 4), "b": _rand(2, 4, 4, 7)}
    t = {"a": _rand(2, 8, 8, 4), "b": _rand(2, 4, 4, 7)}
    want = sum(np.abs(_np_gram(s[k]) - _np_gram(t[k])).mean(axis=(1, 2)) for k in ("a", "b"))
    np.testing.assert_allclose(style_loss(s, t).numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(style_loss(s, t, ["b"]).numpy(),
                               np.abs(_np_gram(s["b"]) - _np_gram(t["b"])).mean(axis=(1, 2)),
                               rtol=1e-5)
    with pytest.raises(ValueError, match=r"\['c'\] are missing"):
        style_loss(s, t, ["c"])


def test_feature_loss_is_per_example_mean_absolute_error():
    s, t = _rand(3, 6, 6, 5), _rand(3, 6, 6, 5)
    np.testing.assert_allclose(feature_loss(s, t).numpy(), np.abs(s - t).mean(axis=(1, 2, 3)),
                               rtol=1e-5)


def test_total_variation_is_sum_of_neighbour_differences():
    x = _rand(2, 7, 5, 3)
    want = (np.abs(x[:, 1:] - x[:, :-1]).sum(axis=(1, 2, 3))
            + np.abs(x[:, :, 1:] - x[:, :, :-1]).sum(axis=(1, 2, 3)))
    np.testing.assert_allclose(total_variation_loss(x).numpy(), want, rtol=1e-5)


def test_channel_distillation_is_mse_of_spatial_means_summed_over_pairs():
    s = [_rand(2, 8, 8, 4), _rand(2, 4, 4, 6)]
    t = [_rand(2, 8, 8, 4), _rand(2, 4, 4, 6)]
    want = sum(((a.mean(axis=(1, 2)) - b.mean(axis=(1, 2))) ** 2).mean(axis=1)
               for a, b in zip(s, t))
    np.testing.assert_allclose(channel_distillation_loss(s, t).numpy(), want, rtol=1e-5)
    with pytest.raises(ValueError, match="1×1 conv"):
        channel_distillation_loss([s[0]], [_rand(2, 8, 8, 5)])
    with pytest.raises(ValueError, match="equally many"):
        channel_distillation_loss(s, t[:1])


@pytest.mark.parametrize("size, filter_size, sigma", [(32, 11, 1.5), (8, 7, 0.8)])
def test_ssim_loss_matches_scikit_image(size, filter_size, sigma):
    """skimage's Gaussian window (truncate 3.5) has 2*int(3.5*sigma + 0.5) + 1 taps."""
    t = _rand(2, size, size, 3)
    s = np.clip(t + _rand(2, size, size, 3, low=-0.3, high=0.3), -1, 1)
    got = ssim_loss(s, t, filter_size=filter_size, filter_sigma=sigma).numpy()
    want = [1.0 - structural_similarity(a, b, gaussian_weights=True, sigma=sigma,
                                        use_sample_covariance=False, data_range=2.0,
                                        channel_axis=-1)
            for a, b in zip(s, t)]
    assert got.shape == (2,)
    np.testing.assert_allclose(got, want, atol=1e-4)
    assert np.all(got > 0.01)
    np.testing.assert_allclose(ssim_loss(t, t, filter_size=filter_size, filter_sigma=sigma),
                               0.0, atol=1e-5)


def test_ssim_loss_names_the_fix_for_small_images():
    x = _rand(1, 8, 8, 3)
    with pytest.raises(ValueError, match="smaller filter_size"):
        ssim_loss(x, x)


def test_omgd_losses_match_the_separate_terms(vgg):
    s, t = _rand(2, 32, 32, 3), _rand(2, 32, 32, 3)
    losses = omgd_student_losses(s, t, vgg)
    assert sorted(losses) == ["feature", "ssim", "style", "total", "tv"]
    assert all(v.shape == (2,) for v in losses.values())
    fs, ft = vgg(s), vgg(t)
    separate = {"ssim": ssim_loss(s, t), "style": style_loss(fs, ft),
                "feature": feature_loss(fs["block2_conv2"], ft["block2_conv2"]),
                "tv": total_variation_loss(s)}
    for name, want in separate.items():
        np.testing.assert_allclose(losses[name].numpy(), want.numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        losses["total"].numpy(),
        sum(OMGD_DEFAULT_WEIGHTS[k] * separate[k].numpy() for k in separate), rtol=1e-4)
    same = omgd_student_losses(t, t, vgg, weights=dict(OMGD_DEFAULT_WEIGHTS, tv=0.0))
    for name in ("ssim", "style", "feature", "total"):
        np.testing.assert_allclose(same[name].numpy(), 0.0, atol=1e-4)


def test_omgd_losses_without_vgg_terms_need_no_vgg(vgg):
    s, t = _rand(2, 32, 32, 3), _rand(2, 32, 32, 3)
    weights = dict(OMGD_DEFAULT_WEIGHTS, style=0.0, feature=0.0)
    without = omgd_student_losses(s, t, None, weights)
    with_vgg = omgd_student_losses(s, t, vgg, weights)
    for name in ("ssim", "tv", "total"):
        np.testing.assert_allclose(without[name].numpy(), with_vgg[name].numpy(), rtol=1e-5)
    np.testing.assert_array_equal(without["style"].numpy(), [0.0, 0.0])
    with pytest.raises(ValueError, match="needs a VGGFeatures"):
        omgd_student_losses(s, t, None, dict(OMGD_DEFAULT_WEIGHTS, style=0.0))


def test_omgd_gradients_reach_the_student_only(vgg):
    s, t = tf.constant(_rand(2, 32, 32, 3)), tf.constant(_rand(2, 32, 32, 3))
    names = ["ssim", "style", "feature", "tv", "total"]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([s, t])
        losses = omgd_student_losses(s, t, vgg)
    for name in names:
        grad = tape.gradient(losses[name], s)
        assert np.all(np.isfinite(grad.numpy())) and float(tf.reduce_max(tf.abs(grad))) > 0, name
        assert tape.gradient(losses[name], t) is None, name


def test_omgd_losses_average_over_the_global_batch(two_replica_strategy):
    """Per-replica compute_average_loss, summed over 2 replicas, == the single-device mean."""
    s, t = _rand(4, 16, 16, 3), _rand(4, 16, 16, 3)
    with two_replica_strategy.scope():
        vgg = VGGFeatures(layers=("block1_conv2", "block2_conv2"),
                          allow_random_weights_for_testing=True)
    batches = two_replica_strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((s, t)).batch(4))

    @tf.function
    def replica_loss(s_rep, t_rep):
        total = omgd_student_losses(s_rep, t_rep, vgg, ssim_filter_size=7)["total"]
        return tf.nn.compute_average_loss(total)

    got = two_replica_strategy.reduce(
        "SUM", two_replica_strategy.run(replica_loss, args=next(iter(batches))), axis=None)
    want = omgd_student_losses(s, t, vgg, ssim_filter_size=7)["total"].numpy().mean()
    np.testing.assert_allclose(float(got), want, rtol=1e-4)


def test_omgd_argument_errors(vgg):
    x = _rand(1, 16, 16, 3)
    with pytest.raises(ValueError, match="exactly the keys"):
        omgd_student_losses(x, x, vgg, weights={"ssim": 1.0})
    with pytest.raises(ValueError, match="one shape"):
        omgd_student_losses(x, _rand(1, 16, 16, 1), vgg)
    shallow = VGGFeatures(layers=("block1_conv2",), allow_random_weights_for_testing=True)
    with pytest.raises(ValueError, match="block2_conv2"):
        omgd_student_losses(x, x, shallow)
