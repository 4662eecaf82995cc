"""Every registered network at toy size: shapes, value range, parameter counts
(model == profiler), SavedModel round trip; registry errors."""
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval.profile import profile
from itgc_tf.models.inception import cat_widths, inception_generator
from itgc_tf.models.registry import (DISCRIMINATORS, GENERATORS,
                                     build_discriminator, build_generator)

# Smallest valid size per generator (U-Nets need 2**num_downs, SPADE 2**6).
GENERATOR_SIZES = {"resnet_6blocks": 16, "resnet_9blocks": 16,
                   "mobile_resnet_6blocks": 16, "mobile_resnet_9blocks": 16,
                   "unet_128": 128, "unet_256": 256, "unet_deepest_256": 256,
                   "spade": 64, "spade_compressed": 64,
                   "inception_resnet_9blocks": 16}


def savedmodel_roundtrip(model, x, tmp_path):
    """Outputs of the model and of its exported-and-reloaded SavedModel."""
    path = str(tmp_path / model.name)
    model.export(path, verbose=False)
    reloaded = tf.saved_model.load(path)  # keep it alive: it owns the weights
    return model(x, training=False), reloaded.serve(x)


def test_every_generator_has_a_size():
    assert set(GENERATOR_SIZES) == set(GENERATORS)


@pytest.mark.parametrize("name", sorted(GENERATORS))
def test_generator_shapes_range_and_params(name):
    size = GENERATOR_SIZES[name]
    model = build_generator(name, 3, 2, ngf=4)
    out = model(tf.random.uniform((2, size, size, 3), -1, 1))
    assert out.shape == (2, size, size, 2)
    assert np.all(np.abs(out.numpy()) <= 1.0)
    assert profile(model, (size, size, 3)).params == model.count_params()


# One export per builder (the 9-block variants differ only in a loop count), covering
# batch norm and dropout layers too. The inception builder exports with 2 blocks: its
# export time grows with its ~50 variables per block (TF's saver), not the code path.
@pytest.mark.parametrize("name,norm,dropout", [
    ("resnet_6blocks", "instance", False),
    ("mobile_resnet_6blocks", "batch", True),
    ("unet_128", "instance", True),
    ("spade", "batch", False),
    ("inception_resnet_2blocks", "instance", True),
])
def test_generator_savedmodel_roundtrip(name, norm, dropout, tmp_path):
    if name == "inception_resnet_2blocks":
        size = GENERATOR_SIZES["inception_resnet_9blocks"]
        model = inception_generator(3, 3, cat_widths(4, n_blocks=2), norm, dropout, None,
                                    name=name)
    else:
        size = GENERATOR_SIZES[name]
        model = build_generator(name, 3, 3, ngf=4, norm=norm, dropout=dropout)
    x = tf.random.uniform((2, size, size, 3), -1, 1)
    out, reloaded = savedmodel_roundtrip(model, x, tmp_path)
    np.testing.assert_allclose(reloaded.numpy(), out.numpy(), atol=1e-6)


@pytest.mark.parametrize("name", sorted(DISCRIMINATORS))
def test_discriminator_params_and_savedmodel_roundtrip(name, tmp_path):
    model = build_discriminator(name, 6, ndf=4, n_layers=2, num_D=2)
    x = tf.random.uniform((2, 32, 32, 6), -1, 1)
    out, reloaded = savedmodel_roundtrip(model, x, tmp_path)
    outs = out if isinstance(out, list) else [out]
    reloaded = reloaded if isinstance(reloaded, list) else [reloaded]
    assert len(reloaded) == len(outs)
    for o, r in zip(outs, reloaded):
        assert o.shape[0] == 2 and o.shape[-1] == 1
        np.testing.assert_allclose(r.numpy(), o.numpy(), atol=1e-6)
    assert profile(model, (32, 32, 6)).params == model.count_params()


def test_general_unet_size_and_prefix():
    model = build_generator("unet_32", 3, 3, ngf=4, name_prefix="student_")
    assert model.name == "student_unet_32"
    assert model(tf.zeros((1, 64, 64, 3))).shape == (1, 64, 64, 3)
    # 5 levels: down_0 … down_4
    assert model.get_layer("down_4").output.shape[-1] == 32


def test_input_size_fixes_the_spatial_size():
    model = build_generator("resnet_6blocks", 3, 3, ngf=4, input_size=16)
    assert tuple(model.input.shape) == (None, 16, 16, 3)


@pytest.mark.parametrize("name", ["resnet_7blocks", "unet_48", "unet_2", "vgg"])
def test_unknown_generator_lists_valid_names(name):
    with pytest.raises(ValueError, match="valid names: .*resnet_9blocks.*unet_<N>"):
        build_generator(name, 3, 3, ngf=4)


def test_unknown_discriminator_lists_valid_names():
    with pytest.raises(ValueError, match="valid names: .*multi_scale.*n_layers"):
        build_discriminator("patch", 3, ndf=4)


def test_unknown_norm_is_reported():
    with pytest.raises(ValueError, match="instance, batch, none"):
        build_generator("resnet_6blocks", 3, 3, ngf=4, norm="layer")
