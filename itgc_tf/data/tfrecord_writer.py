"""Sharded TFRecords, the writer: any source -> ``DIR/{split}.json`` + shards that
`itgc_tf.data.tfrecord` reads (format described there)."""
import dataclasses
import json
import posixpath

import tensorflow as tf

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.images import header_from_bytes
from itgc_tf.data.resolve import resolve_source
from itgc_tf.data.tfrecord import FORMAT


def _record(example: dict) -> bytes:
    feature = {k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v]))
               for k, v in example.items()}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _size_stats(stats: dict, domain: str, height: int, width: int) -> None:
    entry = stats.setdefault(domain, {"min_height": height, "min_width": width,
                                      "min_aspect": height / width})
    entry["min_height"] = min(entry["min_height"], height)
    entry["min_width"] = min(entry["min_width"], width)
    entry["min_aspect"] = min(entry["min_aspect"], height / width)


def write_tfrecords(config: DataConfig, output_dir: str, num_shards: int,
                    split: str = "train") -> dict:
    """Convert ``split`` of ``config.dataset`` (any source) into ``num_shards`` shards per
    stream under ``output_dir`` plus ``{split}.json``; returns that metadata.

    Images are stored as encoded; each is header-checked on the way (ValueError naming
    a bad one). Direction and preprocessing options are applied when reading.
    """
    if isinstance(num_shards, bool) or not isinstance(num_shards, int) or num_shards < 1:
        raise errors.bad_num_shards(num_shards)
    source = resolve_source(dataclasses.replace(config, direction="AtoB"), split)
    tf.io.gfile.makedirs(output_dir)
    parts = ("pairs",) if source.paired else ("A", "B")
    shards, sizes = {}, {}
    for part, stream in zip(parts, source.streams):
        num = min(num_shards, stream.num_examples)
        names = [f"{split}-{part}-{i:05d}-of-{num:05d}.tfrecord" for i in range(num)]
        writers = [tf.io.TFRecordWriter(posixpath.join(output_dir, n)) for n in names]
        counts = [0] * num
        ds = stream.elements(training=False, seed=0)
        if stream.reads_files:
            ds = ds.map(lambda e: {k: tf.io.read_file(v) for k, v in e.items()})
        for i, element in enumerate(ds.as_numpy_iterator()):
            for key, data in element.items():
                header = header_from_bytes(data, f"{source.description} example {i} ({key})")
                if key == "AB":
                    if header.width % 2:
                        raise errors.odd_aligned_width(header.path, header.width)
                    for domain in "AB":
                        _size_stats(sizes, domain, header.height, header.width // 2)
                else:
                    _size_stats(sizes, part if key == "image" else key, header.height,
                                header.width)
            shard = i * num // stream.num_examples
            writers[shard].write(_record(element))
            counts[shard] += 1
        for writer in writers:
            writer.close()
        shards[part] = dict(zip(names, counts))
    metadata = {"format": FORMAT, "source": config.dataset, "split": split,
                "paired": source.paired, "layout": source.layout,
                "keys": list(source.streams[0].keys), "shards": shards, "sizes": sizes}
    path = posixpath.join(output_dir, f"{split}.json")
    with tf.io.gfile.GFile(path + ".tmp", "w") as f:
        json.dump(metadata, f, indent=1)
    tf.io.gfile.rename(path + ".tmp", path, overwrite=True)
    return metadata
