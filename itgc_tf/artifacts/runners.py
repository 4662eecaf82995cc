"""Load an exported generator and run it on numpy images (for parity checks and timing)."""
import os

import numpy as np
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter


class SavedModelRunner:
    """Calls one signature of a SavedModel: array [N, H, W, C] → numpy output.

    Attributes:
      loaded: the object tf.saved_model.load returned.
      input_spec: the signature's tf.TensorSpec of its (single) input.
    """

    def __init__(self, export_dir, signature="serving_default", loaded=None):
        """``loaded``: the SavedModel already loaded from ``export_dir`` (e.g. another
        runner's ``loaded``), else it is loaded here."""
        if loaded is None:
            if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
                raise FileNotFoundError(f"No SavedModel at {export_dir!r} (no saved_model.pb); "
                                        "export the generator first with "
                                        "itgc_tf.export.export_saved_model.")
            loaded = tf.saved_model.load(export_dir)
        self.loaded = loaded
        if signature not in self.loaded.signatures:
            raise ValueError(f"The SavedModel {export_dir!r} has no signature {signature!r} (it has "
                             f"{sorted(self.loaded.signatures.keys())}); export it with "
                             "itgc_tf.export.export_saved_model or pick one of those.")
        self._signature = self.loaded.signatures[signature]
        ((self._input_key, self.input_spec),) = self._signature.structured_input_signature[1].items()
        (self._output_key,) = self._signature.structured_outputs

    def call_tf(self, images):
        """The signature on a tensor, returning a tensor (usable inside tf.function)."""
        return self._signature(**{self._input_key: images})[self._output_key]

    def __call__(self, images):
        return self.call_tf(tf.convert_to_tensor(images)).numpy()


class TFLiteRunner:
    """Runs a TFLite generator with a fixed [1, H, W, C] float32 input on a batch with
    the LiteRT runtime (``ai-edge-litert``), one image at a time: float32 [N, H, W, C]
    → float32 [N, H, W, C'].

    Args:
      model: path of a .tflite file, or the flatbuffer bytes.
      num_threads: interpreter threads (None: TFLite's default).
    """

    def __init__(self, model, num_threads=None):
        source = {"model_content": model} if isinstance(model, bytes) else {"model_path": model}
        self._interpreter = Interpreter(num_threads=num_threads, **source)
        self._interpreter.allocate_tensors()
        self._input = self._interpreter.get_input_details()[0]
        self._output = self._interpreter.get_output_details()[0]
        self.input_shape = tuple(int(d) for d in self._input["shape"])

    def __call__(self, images):
        images = np.asarray(images, np.float32)
        if images.shape[1:] != self.input_shape[1:]:
            raise ValueError(f"This TFLite model takes images of shape {self.input_shape[1:]} (fixed at "
                             f"export); got {images.shape[1:]}. Resize/crop the inputs, or export "
                             "with input_size matching them.")
        outputs = []
        for image in images:
            self._interpreter.set_tensor(self._input["index"], image[np.newaxis])
            self._interpreter.invoke()
            outputs.append(self._interpreter.get_tensor(self._output["index"])[0])
        return np.stack(outputs)
