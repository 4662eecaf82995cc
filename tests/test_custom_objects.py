"""``import itgc_tf`` registers every custom Keras object (itgc_tf.custom_objects), so
a saved generator.keras loads with plain ``keras.models.load_model`` in a fresh
process, whether itgc_tf or keras is imported first; ``import itgc_tf`` alone does
not load TensorFlow."""
import inspect
import os
import pkgutil
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import itgc_tf.models
from itgc_tf.custom_objects import MODULES
from itgc_tf.models.registry import build_generator

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_every_custom_layer_of_itgc_tf_models_is_registered_by_a_listed_module():
    found = []
    for info in pkgutil.iter_modules(itgc_tf.models.__path__, "itgc_tf.models."):
        module = __import__(info.name, fromlist=["_"])
        for cls in vars(module).values():
            if inspect.isclass(cls) and issubclass(cls, keras.layers.Layer) and \
                    cls.__module__ == info.name:
                found.append(cls)
                assert keras.saving.get_registered_name(cls) == f"itgc_tf>{cls.__name__}"
                assert info.name in MODULES, info.name
    assert {c.__name__ for c in found} >= {"SizeCheck", "InstanceNorm", "ResidualOutput",
                                           "ResizeNearest", "Modulate"}


def test_import_itgc_tf_does_not_load_tensorflow():
    result = _python("import sys, itgc_tf; print(sorted(m for m in ('tensorflow', 'keras') "
                     "if m in sys.modules))")
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(generator.keras path, its code to load and run it, the expected output)."""
    folder = tmp_path_factory.mktemp("saved")
    keras.utils.set_random_seed(0)
    generator = build_generator("unet_16", 3, 3, 4, norm="instance", residual=True)
    generator.save(folder / "generator.keras")
    images = np.random.default_rng(0).uniform(-1, 1, (1, 16, 16, 3)).astype(np.float32)
    np.save(folder / "images.npy", images)
    loads = f"""
        model = keras.models.load_model({str(folder / 'generator.keras')!r})
        np.save({str(folder / 'out.npy')!r}, model(np.load({str(folder / 'images.npy')!r})))
        """
    return folder, textwrap.dedent(loads), generator(images, training=False).numpy()


def test_a_saved_generator_loads_in_a_fresh_process_after_import_itgc_tf(saved):
    folder, loads, expected = saved
    # The exact use: itgc_tf first (TensorFlow not loaded yet), then Keras.
    result = _python("import sys, itgc_tf\nassert 'itgc_tf.models.layers' not in sys.modules\n"
                     "import keras\nimport numpy as np\n" + loads)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(folder / "out.npy"), expected, atol=1e-5)


@pytest.mark.slow  # a second TensorFlow import in a subprocess
def test_keras_imported_first_cannot_load_it_until_import_itgc_tf(saved):
    folder, loads, expected = saved
    result = _python(textwrap.dedent(f"""
        import keras
        import numpy as np
        try:
            keras.models.load_model({str(folder / 'generator.keras')!r})
        except Exception as error:
            print("without itgc_tf:", error)
        import itgc_tf
        """) + loads)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "without itgc_tf:" in result.stdout
    assert "Could not locate class 'SizeCheck'" in result.stdout
    np.testing.assert_allclose(np.load(folder / "out.npy"), expected, atol=1e-5)
