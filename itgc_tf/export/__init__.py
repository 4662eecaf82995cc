"""Export of trained generators: SavedModel for TF Serving and TFLite."""
