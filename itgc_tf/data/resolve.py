"""The source of a `DataConfig`: a folder, TFDS, TFRecord shards or the demo data."""
import dataclasses

from itgc_tf.data.config import DataConfig
from itgc_tf.data.sources import Source, folder_source
from itgc_tf.data.tfrecord import tfrecord_source


def resolve_source(config: DataConfig, split: str) -> Source:
    """The checked source of ``config.dataset``/``split`` (direction not yet applied).

    Raises FileNotFoundError / ValueError with the problem and its fix.
    """
    kind, value = config.source_kind
    if kind == "tfds":
        from itgc_tf.data.tfds_source import tfds_source  # TFDS is slow to import.
        return tfds_source(value, split, config)
    if kind == "tfrecord":
        return tfrecord_source(value, split, config)
    if kind == "demo":
        from itgc_tf.data.demo import demo_dir  # scikit-image is slow to import.
        source = folder_source(str(demo_dir(value)), split, config)
        return dataclasses.replace(source, description=f"demo:{value} ({source.description})")
    return folder_source(value, split, config)
