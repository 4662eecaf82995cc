"""Input pipelines: image folders, TFDS, TFRecord shards and the built-in demo data, as tf.data."""
