"""`DataConfig`: every option of the input pipeline, validated on construction."""
import dataclasses

from itgc_tf.data import errors
from itgc_tf.options import option

LAYOUTS = ("auto", "aligned", "folders", "unpaired", "labels")
DIRECTIONS = ("AtoB", "BtoA")
PREPROCESS_MODES = ("resize_and_crop", "scale_width_and_crop", "crop")
DEMO_TASKS = ("enhance", "edges2photo", "unpaired", "labels2photo")
SOURCE_PREFIXES = ("tfds", "tfrecord", "demo")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where the images come from and how they become model inputs.

    dataset: a folder, ``tfds:NAME[/CONFIG]``, ``tfrecord:DIR_OR_GLOB`` or
      ``demo:enhance|edges2photo|unpaired|labels2photo``.
    layout: folder layout, ``aligned`` (``split/`` of A|B side-by-side images),
      ``folders`` (``split/A/`` + ``split/B/``, matched by file name), ``unpaired``
      (``splitA/`` + ``splitB/``), ``labels`` (``split/labels/`` class-id PNGs,
      ``split/images/`` photos, optional ``split/instances/`` instance-id PNGs, matched by
      file name) or ``auto`` (detected). Other sources know their own.
    direction: ``AtoB`` or ``BtoA`` (swaps the roles of A and B).
    preprocess (training / evaluation):
      ``resize_and_crop``: resize to load_size², random crop / resize to crop_size²;
      ``scale_width_and_crop``: scale the width to load_size (keep aspect), random
        crop / centre crop;
      ``crop``: no resizing, random crop / centre crop.
    Training also flips horizontally unless ``no_flip``; evaluation has no randomness.
    aspect_ratio: width / height of the crops (and of resize_and_crop's resize):
      crops are round(crop_size / aspect_ratio) x crop_size (HxW); 2 for Cityscapes.
    input_nc / output_nc: channels of A / B (1 or 3, converted as needed).
    batch_size: GLOBAL batch size. shuffle_buffer: elements held by the shuffle of
    streamed sources (folders shuffle their whole file list). cache: keep the encoded
    images in memory after the first epoch. deterministic: fixed element order
    (reproducible) instead of the fastest order. drop_remainder: drop the last
    partial training batch (static batch shape); evaluation never drops examples.
    seed: seeds shuffling and augmentation. tfds_data_dir: TFDS data folder.
    tfds_keys: names of the A and B image features of a TFDS dataset (two different
    names: paired; the same name twice: unpaired over splits ``{split}A``/``{split}B``).
    label_nc, contain_dontcare_label, no_instance (``labels`` layout only): class ids are
    0..label_nc-1 (255 = don't care, its own channel with ``contain_dontcare_label``);
    A becomes the one-hot map plus, unless ``no_instance``, an instance-edge channel
    (``semantic_nc`` channels in all); batches also carry the ids as ``"label"``.
    """

    flag_group = "data"

    dataset: str = option(
        help="Training images: a folder, tfds:NAME[/CONFIG] (e.g. tfds:cycle_gan/horse2zebra), "
             "tfrecord:DIR_OR_GLOB (written by scripts/make_tfrecords.py) or "
             "demo:enhance|edges2photo|unpaired|labels2photo (built-in, made from scikit-image "
             "photos).",
        kind="str")
    layout: str = option("auto", "Folder layout: aligned (SPLIT/*.png with A|B side by side), "
                         "folders (SPLIT/A/ and SPLIT/B/ with matching names), unpaired (SPLITA/ "
                         "and SPLITB/), labels (SPLIT/labels/ class-id PNGs, SPLIT/images/ photos, "
                         "optional SPLIT/instances/) or auto (detect).", choices=LAYOUTS)
    direction: str = option("AtoB", "AtoB: translate A into B; BtoA: the reverse (swaps A and "
                            "B).", choices=DIRECTIONS)
    load_size: int = option(286, "Images are resized to this size (scale_width_and_crop: this "
                            "width) before cropping.")
    crop_size: int = option(256, "Side of the square crops the model sees, in training and "
                            "evaluation.")
    preprocess: str = option(
        "resize_and_crop", "resize_and_crop: resize to load_size^2, random crop (evaluation: "
        "resize to crop_size^2); scale_width_and_crop: width to load_size keeping the aspect, "
        "random crop (evaluation: centre crop); crop: random crop at the stored size "
        "(evaluation: centre crop).", choices=PREPROCESS_MODES)
    no_flip: bool = option(False, "Do not flip training images horizontally at random.")
    input_nc: int = option(3, "Channels of A, the input: 1 (grayscale) or 3 (RGB); images are "
                           "converted.")
    output_nc: int = option(3, "Channels of B, the target: 1 (grayscale) or 3 (RGB); images "
                            "are converted.")
    batch_size: int = option(1, "GLOBAL batch size, split across replicas under a "
                             "distribution strategy.")
    shuffle_buffer: int = option(1024, "Examples held by the shuffle of TFDS and TFRecord "
                                 "sources (folders shuffle their whole file list).")
    cache: bool = option(False, "Keep the encoded images in memory after the first epoch "
                         "(small datasets, slow disks).")
    deterministic: bool = option(True, "Produce elements in a fixed order (reproducible with "
                                 "--seed); --nodeterministic lets parallel decoding reorder "
                                 "them for speed.")
    drop_remainder: bool = option(True, "Drop the last partial batch of each training epoch, "
                                  "so every batch has the same shape (evaluation keeps every "
                                  "example).")
    seed: int = option(0, "Seed of the run: weights, Langevin chains, shuffling and the random "
                       "crops and flips.")
    tfds_data_dir: str | None = option(None, "Folder with prepared TFDS datasets (default: "
                                       "TFDS's own, ~/tensorflow_datasets); nothing is "
                                       "downloaded at run time.", kind="str")
    tfds_keys: tuple[str, str] | None = option(
        None, "Image features of a TFDS dataset as A_KEY,B_KEY: two different names for paired "
        "data, one name twice for unpaired data over splits SPLITA/SPLITB. Needed when the "
        "dataset has more than one image feature.", kind="list")
    aspect_ratio: float = option(1.0, "Width / height of the crops: crops are "
                                 "crop_size/aspect_ratio x crop_size (HxW), e.g. 2 for "
                                 "Cityscapes at 256x512.")
    label_nc: int = option(0, "Number of classes of a label-map dataset (--layout=labels; ids "
                           "0..label_nc-1; 35 for Cityscapes labelIds). 0: not a label-map "
                           "dataset.")
    contain_dontcare_label: bool = option(False, "Label maps use id 255 for unlabelled pixels: "
                                          "it gets its own input channel (label-map datasets).")
    no_instance: bool = option(False, "Ignore instance maps: no instance-edge input channel "
                               "(label-map datasets).")

    def __post_init__(self):
        if isinstance(self.tfds_keys, list):
            object.__setattr__(self, "tfds_keys", tuple(self.tfds_keys))
        self.validate()

    @property
    def crop_shape(self) -> tuple[int, int]:
        """(H, W) of the crops: round(crop_size / aspect_ratio) x crop_size."""
        return max(1, round(self.crop_size / self.aspect_ratio)), self.crop_size

    @property
    def semantic_nc(self) -> int:
        """Channels of a label map input: label_nc, + 1 don't care, + 1 instance edge."""
        return self.label_nc + int(self.contain_dontcare_label) + int(not self.no_instance)

    @property
    def source_kind(self) -> tuple[str, str]:
        """(kind, value): kind is ``folder``, ``tfds``, ``tfrecord`` or ``demo``."""
        prefix, sep, rest = self.dataset.partition(":")
        if sep and prefix in SOURCE_PREFIXES:
            return prefix, rest
        return "folder", self.dataset

    def validate(self) -> "DataConfig":
        """Raise ValueError naming the first bad option and its fix; return self."""
        if self.dataset is None or (isinstance(self.dataset, str) and not self.dataset.strip()):
            raise errors.empty_dataset_spec()
        if not isinstance(self.dataset, str):
            raise errors.bad_type("dataset", self.dataset, "a string")
        kind, value = self.source_kind
        if kind != "folder" and not value.strip():
            raise errors.empty_dataset_name(kind)
        if kind == "demo" and value not in DEMO_TASKS:
            raise errors.unknown_demo(value, DEMO_TASKS)
        for name, allowed in (("layout", LAYOUTS), ("direction", DIRECTIONS),
                              ("preprocess", PREPROCESS_MODES)):
            if getattr(self, name) not in allowed:
                raise errors.bad_choice(name, getattr(self, name), allowed)
        for name in ("load_size", "crop_size", "batch_size", "shuffle_buffer"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise errors.not_positive(name, value)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise errors.negative("seed", self.seed)
        for name in ("input_nc", "output_nc"):
            if getattr(self, name) not in (1, 3) or isinstance(getattr(self, name), bool):
                raise errors.bad_channels(name, getattr(self, name))
        if isinstance(self.aspect_ratio, bool) or not isinstance(self.aspect_ratio, (int, float)) \
                or not self.aspect_ratio > 0:
            raise errors.bad_aspect_ratio(self.aspect_ratio)
        if isinstance(self.label_nc, bool) or not isinstance(self.label_nc, int) \
                or not 0 <= self.label_nc <= 255:
            raise errors.bad_label_nc(self.label_nc)
        if (self.layout == "labels" or self.dataset == "demo:labels2photo") and not self.label_nc:
            raise errors.labels_need_label_nc(self.dataset)
        if self.preprocess != "crop" and self.crop_size > self.load_size:
            raise errors.crop_larger_than_load(self.crop_size, self.load_size, self.preprocess)
        if self.tfds_keys is not None and (
                not isinstance(self.tfds_keys, tuple) or len(self.tfds_keys) != 2
                or not all(isinstance(k, str) and k.strip() for k in self.tfds_keys)):
            raise errors.bad_tfds_keys(self.tfds_keys)
        return self
