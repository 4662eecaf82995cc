"""Channel/feature-distillation adapters: the conv_bn_relu adapter against NumPy, its
use in training mode by the recipes, and the registry's error."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.recipes import build_recipe
from itgc_tf.recipes.base import ADAPTERS, FeatureAdapters, StepContext


def _numpy_conv_bn_relu(x, kernel, gamma, beta, eps=1e-5):
    y = np.einsum("bhwc,cd->bhwd", x, kernel[0, 0])
    mean, var = y.mean(axis=(0, 1, 2)), y.var(axis=(0, 1, 2))
    return np.maximum(gamma * (y - mean) / np.sqrt(var + eps) + beta, 0.0), mean, var


def test_conv_bn_relu_adapter_is_conv_without_bias_then_batch_norm_then_relu():
    adapters = FeatureAdapters([("t", "s")], adapter="conv_bn_relu")
    adapters.build_for({"t": (4, 4, 6)}, {"s": (4, 4, 3)})
    conv, bn = adapters.convs[0].layers[:2]
    assert conv.bias is None
    bn.gamma.assign(np.linspace(0.5, 1.5, 6).astype("float32"))
    bn.beta.assign(np.linspace(-0.2, 0.2, 6).astype("float32"))
    x = np.random.default_rng(0).normal(size=(5, 4, 4, 3)).astype("float32")
    got = adapters({"s": x}, training=True)[0]
    want, mean, var = _numpy_conv_bn_relu(x, conv.kernel.numpy(), bn.gamma.numpy(),
                                          bn.beta.numpy())
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    # PyTorch's momentum 0.1 from (0, 1) (Keras keeps the biased batch variance; PyTorch
    # the unbiased one: a 1/(n-1) difference in the running variance only)
    np.testing.assert_allclose(bn.moving_mean, 0.1 * mean, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(bn.moving_variance, 0.9 + 0.1 * var, rtol=1e-4)


def test_conv_adapter_is_a_1x1_conv_with_bias():
    adapters = FeatureAdapters([("t", "s")], adapter="conv")
    adapters.build_for({"t": (4, 4, 6)}, {"s": (4, 4, 3)})
    conv = adapters.convs[0]
    conv.bias.assign(np.arange(6, dtype="float32"))
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype("float32")
    want = np.einsum("bhwc,cd->bhwd", x, conv.kernel.numpy()[0, 0]) + np.arange(6)
    np.testing.assert_allclose(adapters({"s": x})[0], want, rtol=1e-5, atol=1e-5)


def test_unknown_adapter_is_rejected_with_the_fix():
    with pytest.raises(ValueError, match="Unknown feature adapter 'conv_relu'.*Fix:"):
        FeatureAdapters([("t", "s")], adapter="conv_relu")
    assert set(ADAPTERS) == {"conv", "conv_bn_relu"}


@pytest.mark.parametrize("recipe", ["omgd", "gan_compression"])
def test_recipes_run_their_bn_adapters_with_batch_statistics(recipe):
    """The student step trains the adapter in training mode: its BN moving mean moves."""
    if recipe == "omgd":
        from itgc_tf.losses.vgg import VGGFeatures
        vgg = VGGFeatures(layers=("block1_conv2", "block2_conv2"),
                          allow_random_weights_for_testing=True)
        r = build_recipe("omgd", vgg=vgg, pairs=[("t", "s")], ssim_filter_size=7,
                         cd_adapter="conv_bn_relu")
    else:
        r = build_recipe("gan_compression", pairs=[("t", "s")], adapter="conv_bn_relu")
    r.build_adapters({"t": (8, 8, 6)}, {"s": (8, 8, 3)})
    rng = np.random.default_rng(2)
    image = lambda: tf.constant(rng.uniform(-1, 1, (2, 16, 16, 3)).astype("float32"))  # noqa
    feats = lambda c: tf.constant(rng.normal(1.0, 1.0, (2, 8, 8, c)).astype("float32"))  # noqa
    ctx = StepContext(x=image(), y=image(), teacher_outputs=[image()],
                      teacher_features={"t": feats(6)}, student_output=image(),
                      student_features={"s": feats(3)}, paired=True)
    bn = r.adapters.convs[0].layers[1]
    terms = r.student_losses(ctx, lambda x, s: tf.zeros((2, 2, 2, 1)))
    assert np.isfinite(float(terms["cd" if recipe == "omgd" else "distill"]))
    assert np.abs(np.asarray(bn.moving_mean)).max() > 0
