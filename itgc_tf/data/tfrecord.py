"""Sharded TFRecords, the reader (``--dataset=tfrecord:DIR``; the writer: `tfrecord_writer`).

``DIR/{split}.json`` describes one split; its shards are
``DIR/{split}-{part}-{i:05d}-of-{n:05d}.tfrecord`` with part ``pairs`` (paired data) or
``A`` / ``B`` (the two domains of unpaired data). Each record holds the encoded image
bytes as stored (no re-encoding) under the stream keys (``AB``, ``A`` + ``B`` or
``image``). All paths go through tf.io.gfile, so any TF filesystem works.
"""
import json
import posixpath

import tensorflow as tf

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.preprocess import resized_size
from itgc_tf.data.sources import Source, Stream

FORMAT = "itgc_tf.tfrecord/1"


class TFRecordStream(Stream):
    """Records of ``files`` (with ``counts`` records each); shards split the files when
    there are enough of them, else every ``count``-th record (``element_shard``)."""

    def __init__(self, keys: tuple[str, ...], files: tuple[str, ...], counts: tuple[int, ...],
                 element_shard: tuple[int, int] = (0, 1)):
        self.keys, self.files, self.counts = keys, files, counts
        self.element_shard = element_shard
        index, count = element_shard
        self.num_examples = len(range(index, sum(counts), count))

    def shard(self, index: int, count: int) -> "TFRecordStream":
        if len(self.files) >= count:
            return TFRecordStream(self.keys, self.files[index::count], self.counts[index::count])
        return TFRecordStream(self.keys, self.files, self.counts, (index, count))

    def elements(self, training: bool, seed: int) -> tf.data.Dataset:
        files = tf.data.Dataset.from_tensor_slices(list(self.files))
        index, count = self.element_shard
        if training and count == 1:  # Element shards need the same file order everywhere.
            files = files.shuffle(len(self.files), seed=seed, reshuffle_each_iteration=True)
        ds = files.interleave(tf.data.TFRecordDataset, cycle_length=min(len(self.files), 4),
                              num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.shard(count, index)
        spec = {k: tf.io.FixedLenFeature([], tf.string) for k in self.keys}
        return ds.map(lambda record: tf.io.parse_single_example(record, spec),
                      num_parallel_calls=tf.data.AUTOTUNE)


def _check_sizes(metadata_path: str, sizes: dict, config: DataConfig) -> None:
    """Raise if the smallest stored images cannot hold a crop (sizes from the writer)."""
    for domain, size in sizes.items():
        # Scaling the width keeps the aspect ratio, so the flattest image is the limit.
        smallest = ((size["min_aspect"], 1.0) if config.preprocess == "scale_width_and_crop"
                    else (size["min_height"], size["min_width"]))
        for training in (True, False):
            resized = resized_size(*smallest, config, training)
            if resized[0] < config.crop_shape[0] or resized[1] < config.crop_shape[1]:
                raise errors.tfrecord_too_small(metadata_path, domain, resized,
                                                config.crop_size, config.preprocess,
                                                config.load_size)


def tfrecord_source(spec: str, split: str, config: DataConfig) -> Source:
    """The shards of ``split`` in folder ``spec`` (or the shards a glob ``spec`` matches)."""
    if tf.io.gfile.isdir(spec):
        folder, selected = spec.rstrip("/"), None
    else:
        selected = sorted(tf.io.gfile.glob(spec))
        if not selected:
            raise errors.no_tfrecord_files(spec)
        folder = posixpath.dirname(spec)
    metadata_path = posixpath.join(folder, f"{split}.json")
    if not tf.io.gfile.exists(metadata_path):
        raise errors.missing_tfrecord_metadata(metadata_path)
    with tf.io.gfile.GFile(metadata_path) as f:
        metadata = json.load(f)
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise errors.foreign_tfrecord_metadata(metadata_path, FORMAT)
    shards = metadata["shards"]
    if selected is not None:
        listed = {posixpath.join(folder, name) for part in shards.values() for name in part}
        foreign = [f for f in selected if f not in listed]
        if foreign:
            raise errors.foreign_tfrecord_files(foreign, metadata_path)
        shards = {part: {n: c for n, c in names.items()
                         if posixpath.join(folder, n) in selected}
                  for part, names in shards.items()}
    for names in shards.values():
        for name in names:
            if not tf.io.gfile.exists(posixpath.join(folder, name)):
                raise errors.no_tfrecord_files(posixpath.join(folder, name))
    _check_sizes(metadata_path, metadata["sizes"], config)
    keys = tuple(metadata["keys"])
    streams = []
    for part in ("pairs",) if metadata["paired"] else ("A", "B"):
        names = sorted(shards[part])
        if not names:
            raise errors.no_tfrecord_files(f"{spec} ({split} part {part})")
        streams.append(TFRecordStream(keys, tuple(posixpath.join(folder, n) for n in names),
                                      tuple(shards[part][n] for n in names)))
    description = f"tfrecord:{spec} (split {split}, from {metadata['source']})"
    return Source(metadata["paired"], metadata["layout"], description, tuple(streams))
