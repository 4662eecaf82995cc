"""Packages that re-export their modules' names lazily (`itgc_tf.lazy`): each name is
its module's object, every listed name resolves, an unknown one is an AttributeError."""
import importlib

import pytest


@pytest.mark.parametrize("package", ["itgc_tf.data", "itgc_tf.vem", "itgc_tf.export",
                                     "itgc_tf.recipes"])
def test_lazy_exports_are_the_objects_of_their_modules(package):
    module = importlib.import_module(package)
    for name, where in module._EXPORTS.items():
        assert getattr(module, name) is getattr(
            importlib.import_module(f"{package}.{where}"), name), name
    for name in module.__all__:
        assert getattr(module, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nothing_here'"):
        module.nothing_here  # noqa: B018
