"""Input pipelines: image folders, TFDS, TFRecord shards and the built-in demo data, as tf.data.

    config = DataConfig(dataset="demo:enhance", load_size=72, crop_size=64, batch_size=4)
    ds = build_dataset(config)               # {"A": [4, 64, 64, 3], "B": [4, 64, 64, 3]}
    steps = dataset_info(config).num_examples // config.batch_size
"""
from itgc_tf import lazy

# Public name -> its module, imported at first use (`itgc_tf.lazy`): `itgc_tf.data.config`
# (and so every command's configuration and --help) loads without TensorFlow.
_EXPORTS = {"DataConfig": "config", "demo_dir": "demo", "IMAGE_EXTENSIONS": "images",
            "load_image": "images", "DatasetInfo": "pipeline", "build_dataset": "pipeline",
            "dataset_info": "pipeline", "first_images": "pipeline", "write_tfrecords": "tfrecord_writer"}

__all__ = sorted(_EXPORTS)
__getattr__ = lazy.exports(__name__, _EXPORTS)
