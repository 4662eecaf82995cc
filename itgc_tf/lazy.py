"""Package ``__init__``s that re-export their modules' names without importing them
(PEP 562): a command's configuration, and so its ``--help``, loads without TensorFlow.

    _EXPORTS = {"EnergyCritic": "critic", ...}      # public name -> its submodule
    __all__ = sorted(_EXPORTS)
    __getattr__ = lazy.exports(__name__, _EXPORTS)
"""
import importlib
import sys


def exports(package, names):
    """A module ``__getattr__`` for ``package`` that imports ``package.<names[name]>`` at
    the first use of ``name`` (and keeps the value on the package)."""

    def __getattr__(name):  # noqa: N807 (PEP 562)
        if name not in names:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__
