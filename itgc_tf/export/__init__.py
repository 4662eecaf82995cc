"""Export of trained generators: SavedModel for TF Serving (its model/version layout,
any input size) and TFLite (fp32/fp16/int8) for the LiteRT runtime."""
from itgc_tf.export.bundle import ServingExport, export_generator, next_version
from itgc_tf.export.saved_model import export_saved_model
from itgc_tf.export.tflite import TFLiteExport, ParityError, QuantizationError, export_tflite

__all__ = ["export_generator", "ServingExport", "next_version", "export_saved_model",
           "export_tflite", "TFLiteExport", "ParityError", "QuantizationError"]
