"""Export of trained generators: SavedModel for TF Serving (its model/version layout,
any input size) and TFLite (fp32/fp16/int8) for the LiteRT runtime."""
from itgc_tf import lazy

# Public name -> its module, imported at first use (`itgc_tf.lazy`): `itgc_tf.export.config`
# (and so itgc-export's --help) loads without TensorFlow.
_EXPORTS = {"export_generator": "bundle", "ServingExport": "bundle", "next_version": "bundle",
            "export_saved_model": "saved_model", "export_tflite": "tflite",
            "TFLiteExport": "tflite", "ParityError": "tflite", "QuantizationError": "tflite"}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy.exports(__name__, _EXPORTS)
