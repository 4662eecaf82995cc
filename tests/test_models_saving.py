"""`.keras` files load with Keras' safe mode on (itgc_tf.models.saving): a file that
would run Python code on load is refused; the project's own generators load."""
import keras
import numpy as np
import pytest

from itgc_tf.training.builders import load_generator
from itgc_tf.models.registry import build_generator
from itgc_tf.models.saving import load_keras_model


def _lambda_model_file(tmp_path):
    marker = tmp_path / "ran.txt"
    # A Python lambda is stored as bytecode; this one writes a file whenever it runs.
    side_effect = eval(f"lambda x: (__import__('pathlib').Path({str(marker)!r}).write_text('ran'), "
                       "x * 2.0)[1]")
    model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Lambda(side_effect)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    marker.unlink()
    return path, marker


def test_a_keras_file_with_a_lambda_layer_is_refused_and_its_code_never_runs(tmp_path):
    path, marker = _lambda_model_file(tmp_path)
    with pytest.raises(ValueError, match=f"{path} holds Python code.*safe mode.*Fix:"):
        load_keras_model(str(path))
    with pytest.raises(ValueError, match="safe mode"):
        load_generator(path, "generator")  # what every command loads generators with
    assert not marker.exists()
    unsafe = keras.models.load_model(path, compile=False, safe_mode=False)  # what safe mode stops
    unsafe(np.zeros((1, 4, 4, 3), np.float32))
    assert marker.exists()


def test_the_projects_generators_load_in_safe_mode(tmp_path):
    generator = build_generator("unet_4", 3, 3, ngf=2)
    x = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    generator.save(tmp_path / "generator.keras")
    loaded = load_keras_model(str(tmp_path / "generator.keras"))
    np.testing.assert_allclose(loaded(x, training=False), generator(x, training=False), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="No Keras model file"):
        load_keras_model(str(tmp_path / "none.keras"))
