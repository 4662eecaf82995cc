"""Every custom Keras object of itgc_tf is registered (``@keras.saving.
register_keras_serializable(package="itgc_tf")``) once ``import itgc_tf`` has run and
Keras is loaded, so ``keras.models.load_model("generator.keras")`` works in any
process that did ``import itgc_tf`` (before or after ``import keras``).

``import itgc_tf`` itself does not load TensorFlow (a command can parse its flags and
answer ``--help`` first): when Keras is already loaded it registers at once, otherwise
it imports `MODULES` right after the import that loads Keras (directly, through
TensorFlow, or through an itgc_tf module) has finished. Registering costs little
beyond Keras itself (these modules import only Keras, TensorFlow, NumPy and absl).
"""
import importlib
import importlib.abc
import sys

# The modules whose classes are registered: every custom layer and model.
MODULES = ("itgc_tf.models.layers", "itgc_tf.models.spade", "itgc_tf.vem.spectral_norm",
           "itgc_tf.vem.critic", "itgc_tf.training.adam", "itgc_tf.training.schedules",
           "itgc_tf.losses.vgg")
_WATCHED = ("keras", "tensorflow")


def register_custom_objects():
    """Imports `MODULES` (their decorators register the classes); idempotent."""
    for name in MODULES:
        importlib.import_module(name)


class _AfterKerasLoads(importlib.abc.MetaPathFinder):
    """Counts the nesting of running imports of keras, tensorflow and itgc_tf modules
    (they import each other); when the outermost one ends with Keras loaded, no module
    of theirs is half-initialised and `register_custom_objects` runs, once."""

    def __init__(self):
        self._depth = 0

    def find_spec(self, name, path=None, target=None):
        if name not in _WATCHED and not name.startswith("itgc_tf."):
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            spec = None if finder is self or find is None else find(name, path, target)
            if spec is not None:
                break
        else:
            return None
        if hasattr(spec.loader, "exec_module"):
            spec.loader.exec_module = self._counted(spec.loader.exec_module)
        return spec

    def _counted(self, exec_module):
        def counted(module):
            self._depth += 1
            try:
                exec_module(module)
            finally:
                self._depth -= 1
            if self._depth == 0 and "keras" in sys.modules and self in sys.meta_path:
                sys.meta_path.remove(self)
                register_custom_objects()
        return counted


def register_when_keras_loads():
    """Registers now if Keras is loaded, else right after the import that loads it."""
    if "keras" in sys.modules:
        register_custom_objects()
    elif not any(isinstance(finder, _AfterKerasLoads) for finder in sys.meta_path):
        sys.meta_path.insert(0, _AfterKerasLoads())
