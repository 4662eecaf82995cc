"""Export of trained generators: SavedModel for TF Serving and TFLite (fp32/fp16/int8)."""
from itgc_tf.export.saved_model import export_saved_model
from itgc_tf.export.tflite import TFLiteExport, ParityError, QuantizationError, export_tflite

__all__ = ["export_saved_model", "export_tflite", "TFLiteExport", "ParityError",
           "QuantizationError"]
