"""absl flags for every `DataConfig` field, and the config they describe.

    from absl import flags
    from itgc_tf.data import flags as data_flags
    data_flags.define_flags()
    ...
    config = data_flags.config_from_flags(flags.FLAGS)
"""
import dataclasses

from absl import flags

from itgc_tf.data.config import DIRECTIONS, LAYOUTS, PREPROCESS_MODES, DataConfig

_DEFAULTS = {f.name: f.default for f in dataclasses.fields(DataConfig)}

_HELP = {
    "dataset": "Training images: a folder, tfds:NAME[/CONFIG] (e.g. tfds:cycle_gan/horse2zebra), "
               "tfrecord:DIR_OR_GLOB (written by scripts/make_tfrecords.py) or "
               "demo:enhance|edges2photo|unpaired|labels2photo (built-in, made from scikit-image "
               "photos).",
    "layout": "Folder layout: aligned (SPLIT/*.png with A|B side by side), folders (SPLIT/A/ and "
              "SPLIT/B/ with matching names), unpaired (SPLITA/ and SPLITB/), labels "
              "(SPLIT/labels/ class-id PNGs, SPLIT/images/ photos, optional SPLIT/instances/) "
              "or auto (detect).",
    "direction": "AtoB: translate A into B; BtoA: the reverse (swaps A and B).",
    "load_size": "Images are resized to this size (scale_width_and_crop: this width) before "
                 "cropping.",
    "crop_size": "Side of the square crops the model sees, in training and evaluation.",
    "preprocess": "resize_and_crop: resize to load_size^2, random crop (evaluation: resize to "
                  "crop_size^2); scale_width_and_crop: width to load_size keeping the aspect, "
                  "random crop (evaluation: centre crop); crop: random crop at the stored size "
                  "(evaluation: centre crop).",
    "no_flip": "Do not flip training images horizontally at random.",
    "input_nc": "Channels of A, the input: 1 (grayscale) or 3 (RGB); images are converted.",
    "output_nc": "Channels of B, the target: 1 (grayscale) or 3 (RGB); images are converted.",
    "batch_size": "GLOBAL batch size, split across replicas under a distribution strategy.",
    "shuffle_buffer": "Examples held by the shuffle of TFDS and TFRecord sources (folders "
                      "shuffle their whole file list).",
    "cache": "Keep the encoded images in memory after the first epoch (small datasets, slow "
             "disks).",
    "deterministic": "Produce elements in a fixed order (reproducible with --seed); "
                     "--nodeterministic lets parallel decoding reorder them for speed.",
    "drop_remainder": "Drop the last partial batch of each training epoch, so every batch has "
                      "the same shape (evaluation keeps every example).",
    "seed": "Seed of shuffling and of the random crops and flips.",
    "tfds_data_dir": "Folder with prepared TFDS datasets (default: TFDS's own, ~/tensorflow_"
                     "datasets); nothing is downloaded at run time.",
    "tfds_keys": "Image features of a TFDS dataset as A_KEY,B_KEY: two different names for "
                 "paired data, one name twice for unpaired data over splits SPLITA/SPLITB. "
                 "Needed when the dataset has more than one image feature.",
    "aspect_ratio": "Width / height of the crops: crops are crop_size/aspect_ratio x crop_size "
                    "(HxW), e.g. 2 for Cityscapes at 256x512.",
    "label_nc": "Number of classes of a label-map dataset (--layout=labels; ids 0..label_nc-1; "
                "35 for Cityscapes labelIds). 0: not a label-map dataset.",
    "contain_dontcare_label": "Label maps use id 255 for unlabelled pixels: it gets its own "
                              "input channel (label-map datasets).",
    "no_instance": "Ignore instance maps: no instance-edge input channel (label-map "
                   "datasets).",
}

_ENUMS = {"layout": LAYOUTS, "direction": DIRECTIONS, "preprocess": PREPROCESS_MODES}


def define_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Define ``--dataset``, ``--layout``, ... (one per `DataConfig` field) in
    ``flag_values``; flags that already exist are left as they are, so calling this
    twice (or from several CLIs) is harmless."""
    for name, default in _DEFAULTS.items():
        if name in flag_values:
            continue
        default = None if default is dataclasses.MISSING else default
        kwargs = {"help": _HELP[name], "flag_values": flag_values}
        if name in _ENUMS:
            flags.DEFINE_enum(name, default, _ENUMS[name], **kwargs)
        elif name == "tfds_keys":
            flags.DEFINE_list(name, default, **kwargs)
        elif isinstance(default, bool):
            flags.DEFINE_bool(name, default, **kwargs)
        elif isinstance(default, int):
            flags.DEFINE_integer(name, default, **kwargs)
        elif isinstance(default, float):
            flags.DEFINE_float(name, default, **kwargs)
        else:
            flags.DEFINE_string(name, default, **kwargs)


def config_from_flags(flag_values: flags.FlagValues = flags.FLAGS) -> DataConfig:
    """The validated `DataConfig` the parsed flags describe (ValueError if invalid)."""
    values = {name: flag_values[name].value for name in _DEFAULTS}
    if values["dataset"] is None:
        values["dataset"] = ""  # DataConfig.validate explains what to pass.
    if values["tfds_keys"] is not None:
        values["tfds_keys"] = tuple(values["tfds_keys"])
    return DataConfig(**values)
