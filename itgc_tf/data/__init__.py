"""Input pipelines: image folders, TFDS, TFRecord shards and the built-in demo data, as tf.data.

    config = DataConfig(dataset="demo:enhance", load_size=72, crop_size=64, batch_size=4)
    ds = build_dataset(config)               # {"A": [4, 64, 64, 3], "B": [4, 64, 64, 3]}
    steps = dataset_info(config).num_examples // config.batch_size
"""
from itgc_tf.data.config import DataConfig
from itgc_tf.data.demo import demo_dir
from itgc_tf.data.images import IMAGE_EXTENSIONS, load_image
from itgc_tf.data.pipeline import DatasetInfo, build_dataset, dataset_info
from itgc_tf.data.tfrecord_writer import write_tfrecords

__all__ = ["DataConfig", "DatasetInfo", "IMAGE_EXTENSIONS", "build_dataset", "dataset_info",
           "demo_dir", "load_image", "write_tfrecords"]
