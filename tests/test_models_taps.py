"""Feature taps: one forward pass, shared weights, clear errors."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.models.registry import build_generator
from itgc_tf.models.taps import available_taps, feature_taps


@pytest.fixture
def generator():
    return build_generator("mobile_resnet_6blocks", 3, 3, ngf=4)


def test_taps_reuse_the_generator_layers(generator):
    taps = feature_taps(generator, ["down_1", "block_2", "block_5"])
    # Same layer objects, each once: one forward pass through shared weights.
    assert [id(l) for l in taps.layers] == [id(l) for l in generator.layers]
    x = tf.random.uniform((2, 16, 16, 3), -1, 1)
    out, features = taps(x)
    np.testing.assert_allclose(out, generator(x), atol=1e-6)
    assert sorted(features) == ["block_2", "block_5", "down_1"]


def test_taps_follow_weight_updates(generator):
    taps = feature_taps(generator, ["up_1"])
    x = tf.random.uniform((1, 16, 16, 3), -1, 1)
    before = taps(x)[0].numpy()
    head = generator.get_layer("head_conv")
    head.set_weights([w * 2 for w in head.get_weights()])
    after, _ = taps(x)
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, generator(x), atol=1e-6)


def test_unknown_tap_lists_available(generator):
    with pytest.raises(ValueError, match=r"Unknown feature tap\(s\) \['block_9'\]"
                                         r".*available taps: stem, down_0"):
        feature_taps(generator, ["down_1", "block_9"])


def test_internal_layers_are_not_taps(generator):
    taps = available_taps(generator)
    assert "block_0_conv_0_depthwise" not in taps and "head_conv" not in taps
    assert len(taps) == 1 + 2 + 6 + 2
