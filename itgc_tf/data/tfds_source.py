"""TFDS datasets as sources, read from a local data_dir (never downloaded here).

Unpaired (CycleGAN style, e.g. ``cycle_gan/horse2zebra``): one image feature, splits
``{split}A`` and ``{split}B``. Paired: two image features named by ``--tfds_keys``.
Images are read still encoded (``SkipDecoding``) and decoded by the shared pipeline.
"""
import difflib

import tensorflow as tf
import tensorflow_datasets as tfds

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.preprocess import check_size
from itgc_tf.data.sources import Source, Stream


class TfdsStream(Stream):
    """One TFDS split of dataset ``name``; ``features`` maps the stream's keys to TFDS
    image feature names."""

    def __init__(self, builder, name: str, split, features: tuple[tuple[str, str], ...]):
        self.builder, self.name, self.split, self.features = builder, name, split, features
        self.keys = tuple(key for key, _ in features)
        self.num_examples = self._count()

    def _dataset(self, training: bool = False, seed: int = 0) -> tf.data.Dataset:
        decoders = {name: tfds.decode.SkipDecoding() for _, name in self.features}
        ds = self.builder.as_dataset(split=self.split, decoders=decoders, shuffle_files=training,
                                     read_config=tfds.ReadConfig(shuffle_seed=seed))
        return ds.map(lambda ex: {key: ex[name] for key, name in self.features})

    def _count(self) -> int:
        try:
            return self.builder.info.splits[self.split].num_examples
        except (KeyError, ValueError):  # Split sizes unknown (e.g. tfds.testing.mock_data).
            try:
                return int(self._dataset().reduce(0, lambda n, _: n + 1))
            except (AssertionError, FileNotFoundError, tf.errors.NotFoundError) as e:
                raise errors.tfds_not_prepared(self.name, self.builder.data_dir,
                                               str(e).splitlines()[0]) from None

    def shard(self, index: int, count: int) -> "TfdsStream":
        return TfdsStream(self.builder, self.name, tfds.even_splits(self.split, n=count)[index],
                          self.features)

    def elements(self, training: bool, seed: int) -> tf.data.Dataset:
        return self._dataset(training, seed)


def _builder(name: str, data_dir: str | None):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except ValueError as e:  # DatasetNotFoundError, unknown config, unparsable name.
        close = difflib.get_close_matches(name.split("/")[0], tfds.list_builders(), n=3)
        raise errors.unknown_tfds(name, str(e).splitlines()[0], close) from None


def tfds_source(name: str, split: str, config: DataConfig) -> Source:
    """The TFDS dataset ``name`` (``NAME`` or ``NAME/CONFIG``) as a checked `Source`."""
    builder = _builder(name, config.tfds_data_dir)
    features = builder.info.features
    image_keys = [k for k, f in features.items() if isinstance(f, tfds.features.Image)]
    keys = config.tfds_keys
    if keys is None:
        if len(image_keys) != 1:
            raise errors.tfds_ambiguous_keys(name, image_keys)
        keys = (image_keys[0], image_keys[0])
    for key in keys:
        if key not in image_keys:
            raise errors.tfds_missing_key(name, key, image_keys)
        shape = features[key].shape
        if shape[0] is not None and shape[1] is not None:
            check_size(shape[0], shape[1], f"every {name} image ({key})", config)
    paired = keys[0] != keys[1]
    splits = [split] if paired else [split + "A", split + "B"]
    known = list(builder.info.splits.keys())
    for wanted in splits:
        if known and wanted not in known:
            raise errors.tfds_missing_split(name, wanted, known)
    description = f"tfds:{name} (split {split}, data_dir {builder.data_dir})"
    if paired:
        streams = (TfdsStream(builder, name, split, (("A", keys[0]), ("B", keys[1]))),)
    else:
        streams = tuple(TfdsStream(builder, name, s, (("image", keys[0]),)) for s in splits)
    return Source(paired, "paired" if paired else "unpaired", description, streams)
