"""`build_dataset` and `dataset_info`: one call from a `DataConfig` to batched tensors."""
import dataclasses

import tensorflow as tf

from itgc_tf.data.config import DataConfig
from itgc_tf.data.images import decode
from itgc_tf.data.labels import label_example
from itgc_tf.data.preprocess import _to_channels, transform
from itgc_tf.data.resolve import resolve_source
from itgc_tf.data.sources import Source, Stream

AUTOTUNE = tf.data.AUTOTUNE


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Size and kind of one split. num_examples: examples per epoch (for unpaired data
    the larger of num_a and num_b); source: a readable description of where it lives."""

    paired: bool
    num_examples: int
    num_a: int
    num_b: int
    source: str
    layout: str


def _oriented(config: DataConfig, split: str) -> Source:
    """The checked source, with the unpaired domains swapped for ``direction=BtoA``."""
    source = resolve_source(config, split)
    if not source.paired and config.direction == "BtoA":
        source = dataclasses.replace(source, streams=source.streams[::-1])
    return source


def _info(source: Source) -> DatasetInfo:
    counts = [s.num_examples for s in source.streams]
    num_a, num_b = (counts[0], counts[0]) if source.paired else counts
    return DatasetInfo(source.paired, max(num_a, num_b), num_a, num_b, source.description,
                       source.layout)


def dataset_info(config: DataConfig, split: str = "train") -> DatasetInfo:
    """Counts and kind of ``split``, after the same eager checks as `build_dataset`."""
    return _info(_oriented(config, split))


def _read_files(element: dict) -> dict:
    return {k: tf.io.read_file(v) for k, v in element.items()}


def _examples(stream: Stream, config: DataConfig, training: bool, total: int,
              salt: int) -> tf.data.Dataset:
    """``total`` (element, random int64) tuples of one stream: cached, shuffled and cycled
    as asked; elements hold encoded image bytes."""
    seed = config.seed * 2 + salt
    ds = stream.elements(training, seed)
    reads_files = stream.reads_files
    if config.cache:
        if reads_files:
            ds = ds.map(_read_files, num_parallel_calls=AUTOTUNE)
        ds, reads_files = ds.cache(), False
    if training:
        buffer = stream.num_examples if reads_files else min(config.shuffle_buffer,
                                                              stream.num_examples)
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if total > stream.num_examples:
        ds = ds.repeat()
    ds = ds.take(total).apply(tf.data.experimental.assert_cardinality(total))
    if reads_files:
        ds = ds.map(_read_files, num_parallel_calls=AUTOTUNE)
    if training:
        randoms = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
    else:
        randoms = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64)).repeat()
    return tf.data.Dataset.zip(ds, randoms)


def _pair_images(element: dict, direction: str) -> list[tf.Tensor]:
    """Decoded uint8 [A, B] of a paired element, after ``direction``."""
    if "AB" in element:
        ab = decode(element["AB"])
        half = tf.shape(ab)[1] // 2
        images = [ab[:, :half], ab[:, half:2 * half]]
    else:
        images = [decode(element["A"]), decode(element["B"])]
    return images[::-1] if direction == "BtoA" else images


def build_dataset(config: DataConfig, split: str = "train", training: bool = True,
                  input_context: tf.distribute.InputContext | None = None) -> tf.data.Dataset:
    """Batches ``{"A": float32 [B, crop_h, crop_w, input_nc], "B": float32 [B, crop_h,
    crop_w, output_nc]}`` in [-1, 1] for ``split`` of ``config.dataset``
    (crop_h, crop_w = ``config.crop_shape``). The ``labels`` layout gives A = the semantic
    map [B, crop_h, crop_w, semantic_nc] in {0, 1} and adds ``"label"``: int32 class ids
    [B, crop_h, crop_w] (`itgc_tf.data.labels`).

    Paired data: B is the target of A. Unpaired data: A and B are independent
    samples of the two domains; one epoch covers the larger domain once while the
    smaller one is cycled. ``training``: one shuffled, augmented epoch per iteration
    (random crop + flip, reshuffled and re-randomised each iteration; call
    ``.repeat()`` for a stream), batches of the GLOBAL ``config.batch_size``
    (``drop_remainder`` honoured). ``training=False``: fixed order, no randomness
    (see `DataConfig` for the resize), every example kept. With ``input_context``
    only that input pipeline's shard is read, in per-replica batches, for
    ``strategy.distribute_datasets_from_function``; without one, tf.distribute
    auto-shards by data. All file and option checks run here, eagerly.
    """
    source = _oriented(config, split)
    batch_size = config.batch_size
    if input_context is not None:
        source = source.shard(input_context.input_pipeline_id,
                              input_context.num_input_pipelines)
        batch_size = input_context.get_per_replica_batch_size(config.batch_size)
    total = _info(source).num_examples
    if source.layout == "labels":
        def make_example(element, random):
            return label_example(element, config, training, tf.stack([random, 0]))

        ds = _examples(source.streams[0], config, training, total, salt=0)
    elif source.paired:
        def make_example(element, random):
            a, b = transform(_pair_images(element, config.direction),
                             [config.input_nc, config.output_nc], config, training,
                             tf.stack([random, 0]))
            return {"A": a, "B": b}

        ds = _examples(source.streams[0], config, training, total, salt=0)
    else:
        def make_example(example_a, example_b):
            return {domain: transform([decode(element["image"])], [nc], config, training,
                                      tf.stack([random, salt]))[0]
                    for domain, nc, salt, (element, random) in (
                        ("A", config.input_nc, 0, example_a),
                        ("B", config.output_nc, 1, example_b))}

        ds = tf.data.Dataset.zip(*(_examples(stream, config, training, total, salt)
                                   for salt, stream in enumerate(source.streams)))
    ds = ds.map(make_example, num_parallel_calls=AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=training and config.drop_remainder)
    options = tf.data.Options()
    options.deterministic = config.deterministic
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.OFF if input_context is not None
        else tf.data.experimental.AutoShardPolicy.DATA)
    return ds.prefetch(AUTOTUNE).with_options(options)


def first_images(config: DataConfig, split: str, count: int):
    """The first ``count`` (fewer if the split is smaller) inputs A of ``split``,
    unaugmented: float32 NumPy [count, crop_h, crop_w, input_nc] in [-1, 1]."""
    return next(iter(build_dataset(config, split, training=False).unbatch()
                     .batch(count)))["A"].numpy()


def native_pairs(config: DataConfig, split: str = "test", count: int = 3) -> list:
    """The first ``count`` (A, B) pairs of paired ``split`` at their stored resolution (no
    resize, crop or flip): float32 [H, W, input_nc] and [H, W, output_nc] numpy arrays in
    [-1, 1], for whole-image pictures (`itgc_tf.eval.comparison`). Raises ValueError on unpaired data."""
    source = _oriented(config, split)
    if not source.paired:
        raise ValueError(f"{source.description} is unpaired: a comparison with the ground truth "
                         "needs paired data (aligned A|B images or A/ B/ folders). Fix: use a "
                         "paired dataset, or leave the comparison out.")
    stream = source.streams[0]
    elements = stream.elements(training=False, seed=0).take(count)
    if stream.reads_files:
        elements = elements.map(_read_files)
    pairs = []
    for element in elements:
        a, b = _pair_images(element, config.direction)
        pairs.append(tuple((_to_channels(tf.cast(x, tf.float32), nc) / 127.5 - 1.0).numpy()
                           for x, nc in ((a, config.input_nc), (b, config.output_nc))))
    return pairs
