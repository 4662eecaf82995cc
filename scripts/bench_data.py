"""Input-pipeline throughput of every source at 256x256 (load 286, random crop 256, flip).

    python scripts/bench_data.py [--num_examples=64] [--repeats=3]

Writes 256x256 crops of the scikit-image photos as an aligned folder, a paired A/B
folder, an unpaired folder, TFRecord shards and a locally prepared TFDS dataset (all
in a temporary folder), plus the built-in demo:enhance data (128x128 files), and
prints examples/s (one example = an A and a B image) for batch sizes 1 and 4: the
median of --repeats training epochs after one warm-up epoch.
"""
import pathlib
import statistics
import tempfile
import time

import numpy as np
import tensorflow_datasets as tfds
from absl import app, flags, logging
from PIL import Image

from itgc_tf.data import DataConfig, build_dataset, dataset_info, write_tfrecords
from itgc_tf.data.demo import DEMO_PHOTOS, demo_photo

flags.DEFINE_integer("num_examples", 64, "Examples written per source.")
flags.DEFINE_integer("repeats", 5, "Timed epochs per measurement (the median is printed).")
FLAGS = flags.FLAGS
SIZE = 256


def _crops(n: int) -> list[np.ndarray]:
    """``n`` SIZE x SIZE crops, cycling over the demo photos at seeded positions."""
    rng = np.random.default_rng(0)
    crops = []
    for i in range(n):
        photo = demo_photo(DEMO_PHOTOS[i % len(DEMO_PHOTOS)])
        left = rng.integers(0, photo.shape[1] - SIZE + 1)
        crops.append(photo[:SIZE, left:left + SIZE])
    return crops


def _write(root: pathlib.Path, crops: list[np.ndarray]) -> None:
    for folder in ("aligned/train", "paired/train/A", "paired/train/B", "unpaired/trainA",
                   "unpaired/trainB"):
        (root / folder).mkdir(parents=True)
    for i, a in enumerate(crops):
        b = 255 - a
        Image.fromarray(np.concatenate([a, b], axis=1)).save(root / f"aligned/train/{i:04d}.png")
        for folder, image in (("paired/train/A", a), ("paired/train/B", b),
                              ("unpaired/trainA", a), ("unpaired/trainB", b)):
            Image.fromarray(image).save(root / f"{folder}/{i:04d}.png")


class ItgcBenchPairs(tfds.core.GeneratorBasedBuilder):
    """The paired bench folder as a TFDS dataset (features ``a`` and ``b``)."""

    VERSION = tfds.core.Version("1.0.0")
    folder: pathlib.Path = None

    def _info(self):
        image = tfds.features.Image(shape=(None, None, 3))
        return tfds.core.DatasetInfo(builder=self,
                                     features=tfds.features.FeaturesDict({"a": image, "b": image}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for path in sorted((self.folder / "A").glob("*.png")):
            yield path.stem, {"a": path, "b": self.folder / "B" / path.name}


def _throughput(config: DataConfig) -> float:
    """Median examples/s over FLAGS.repeats training epochs, after one warm-up epoch."""
    ds = build_dataset(config)
    num = dataset_info(config).num_examples
    rates = []
    for epoch in range(FLAGS.repeats + 1):
        start = time.perf_counter()
        for batch in ds:
            batch["A"].numpy()
        if epoch:
            seen = num // config.batch_size * config.batch_size
            rates.append(seen / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    tfds.disable_progress_bar()
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        _write(root, _crops(FLAGS.num_examples))
        write_tfrecords(DataConfig(dataset=str(root / "aligned")), str(root / "tfrecord"), 4)
        ItgcBenchPairs.folder = root / "paired" / "train"
        tfds.builder("itgc_bench_pairs", data_dir=str(root / "tfds")).download_and_prepare()
        sources = {
            "folder aligned": {"dataset": str(root / "aligned")},
            "folder A/B": {"dataset": str(root / "paired")},
            "folder unpaired": {"dataset": str(root / "unpaired")},
            "tfrecord (4 shards)": {"dataset": f"tfrecord:{root / 'tfrecord'}"},
            "tfds (local)": {"dataset": "tfds:itgc_bench_pairs", "tfds_keys": ("a", "b"),
                             "tfds_data_dir": str(root / "tfds")},
            "demo:enhance (128px files)": {"dataset": "demo:enhance"},
        }
        print(f"examples/s (A+B pairs), load 286 -> random crop 256 + flip, median of "
              f"{FLAGS.repeats} epochs")
        print(f"{'source':28s} {'batch 1':>9s} {'batch 4':>9s}")
        for name, options in sources.items():
            rates = [_throughput(DataConfig(**options, batch_size=b)) for b in (1, 4)]
            print(f"{name:28s} {rates[0]:9.1f} {rates[1]:9.1f}", flush=True)


if __name__ == "__main__":
    app.run(main)
