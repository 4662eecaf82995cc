"""Loading `.keras` model files safely: Keras' safe mode stays on, so a file
that would run Python code on load (a Lambda layer's function) is refused."""
import os

import keras


def load_keras_model(path):
    """The Keras model in the ``.keras`` file ``path``, uncompiled, loaded with
    ``safe_mode=True``.

    Raises:
      FileNotFoundError: no file at ``path``.
      ValueError: the file holds code Keras' safe mode refuses (e.g. a Lambda
        layer), or is not a Keras model file; the message names the file.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No Keras model file at {path}. Fix: pass the path of a .keras "
                                "file (or the run folder that holds generator.keras).")
    try:
        return keras.models.load_model(path, compile=False, safe_mode=True)
    except ValueError as error:
        if "safe_mode" not in str(error):
            raise
        raise ValueError(
            f"{path} holds Python code (e.g. a Lambda layer's function) that would run on load, "
            "which Keras' safe mode refuses; itgc_tf never turns safe mode off. Fix: rebuild the "
            "model without Lambda layers (registered custom layers load safely), or, only for a "
            "file from a trusted source, re-save it from code that defines the layer.") from None
