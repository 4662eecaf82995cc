"""Teachers in mixed precision: half-precision generators and discriminators,
loss-scaled updates (float16), float32 losses; both objectives and the CLI train."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from distribute_helpers import run
from itgc_tf.models.discriminators import n_layer_discriminator
from itgc_tf.models.unet import unet_generator
from itgc_tf.training.teachers import CycleGANTeacher, Pix2PixTeacher


@pytest.fixture
def mixed_float16():
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy("float32")


def _scaled():
    # A low initial scale: the default 2**15 overflows (and skips) the first steps.
    return keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3, beta_1=0.5),
                                               initial_scale=2.0 ** 8)


def _generator():
    return unet_generator(3, 3, 4, num_downs=4)


def _pix2pix():
    return Pix2PixTeacher(_generator(), n_layer_discriminator(6, ndf=4, n_layers=2))


def _cyclegan():
    teacher = CycleGANTeacher(_generator(), _generator(),
                              n_layer_discriminator(3, ndf=4, n_layers=2),
                              n_layer_discriminator(3, ndf=4, n_layers=2), pool_size=2, seed=0)
    teacher.build({"A": (None, 16, 16, 3), "B": (None, 16, 16, 3)})
    return teacher


@pytest.mark.parametrize("build", [_pix2pix, _cyclegan], ids=["pix2pix", "cycle_gan"])
def test_teacher_trains_in_mixed_float16(mixed_float16, build):
    teacher = build()
    teacher.compile(_scaled(), _scaled())
    generator = teacher.generator if isinstance(teacher, Pix2PixTeacher) else teacher.g_ab
    assert generator.compute_dtype == "float16"
    a = np.random.default_rng(0).uniform(-1, 1, (8, 16, 16, 3)).astype("float32")
    data = tf.data.Dataset.from_tensor_slices({"A": a, "B": -a}).batch(4)
    before = [w.numpy().copy() for w in generator.trainable_weights]
    history = teacher.fit(data, epochs=2, verbose=0, shuffle=False).history
    for name, values in history.items():
        assert np.all(np.isfinite(values)), name
    assert any(not np.array_equal(b, w.numpy())
               for b, w in zip(before, generator.trainable_weights))


def test_train_teacher_cli_in_mixed_bfloat16_with_image_summaries(tmp_path):
    run(["-m", "itgc_tf.train_teacher", f"--model_dir={tmp_path}", "--teacher_model=cycle_gan",
         "--netG=unet_16", "--ngf=4", "--ndf=4", "--n_layers_D=2", "--epochs=1",
         "--epochs_decay=0", "--dataset=demo:unpaired", "--load_size=36", "--crop_size=32",
         "--batch_size=2", "--steps_per_epoch=2", "--verbose=0",
         "--mixed_precision=mixed_bfloat16"])
    events = list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
    tags = {value.tag for path in events for event in tf.compat.v1.train.summary_iterator(str(path))
            for value in event.summary.value}
    assert "samples" in tags  # the image grid of bfloat16 generator outputs
    generator = keras.models.load_model(tmp_path / "generator.keras", compile=False)
    assert {layer.dtype_policy.name for layer in generator.layers if layer.weights} == {
        "mixed_bfloat16"}
