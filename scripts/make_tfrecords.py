"""Convert one split of any dataset (folder, tfds:, demo:) into sharded TFRecords.

    python scripts/make_tfrecords.py --dataset=datasets/facades --output=/data/facades_tfr \
        --num_shards=8 --split=train

Read them back with --dataset=tfrecord:/data/facades_tfr. Paths may be on any TF
filesystem (gs://, ...). Images are stored as encoded; resizing, cropping and the
direction are applied when reading.
"""
from absl import app, flags

from itgc_tf import options
from itgc_tf.data import DataConfig, write_tfrecords

options.define_flags(DataConfig)
flags.DEFINE_string("output", None, "Folder to write the shards and {split}.json into.")
flags.DEFINE_integer("num_shards", 8, "Shards per stream (unpaired data: per domain).")
flags.DEFINE_string("split", "train", "Split to convert (train, test, ...).")
flags.mark_flags_as_required(["dataset", "output"])
FLAGS = flags.FLAGS


def main(argv):
    del argv
    metadata = write_tfrecords(options.from_flags(DataConfig), FLAGS.output,
                               FLAGS.num_shards, FLAGS.split)
    for part, shards in metadata["shards"].items():
        print(f"{part}: {sum(shards.values())} examples in {len(shards)} shards")
    print(f"wrote {FLAGS.output}/{FLAGS.split}.json; read with --dataset=tfrecord:{FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
