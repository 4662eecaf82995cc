"""Semantic-label examples (``labels`` layout): label map + optional instance map +
photo -> GauGAN input (one-hot classes + instance edges), target photo and class ids.

Label PNGs hold 8-bit class ids 0..label_nc-1 (255: don't care), instance PNGs 8- or
16-bit instance ids (Cityscapes ``*_instanceIds.png``). Labels and instances are
resized with nearest neighbours, the photo bicubic; all three share one crop and flip.
"""
import numpy as np
import tensorflow as tf
from PIL import Image

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.images import LUMA, decode
from itgc_tf.data.preprocess import crop_and_flip, resize, stack_same_size

DONTCARE = 255


def check_label_ids(path: str, config: DataConfig) -> None:
    """Raise ValueError naming ``path`` unless it is an 8-bit grayscale PNG of ids
    < label_nc (255 allowed with ``contain_dontcare_label``)."""
    with tf.io.gfile.GFile(path, "rb") as f, Image.open(f) as image:
        if image.mode != "L":
            raise errors.bad_label_mode(path, image.mode)
        ids = np.unique(np.asarray(image))
    bad = [int(i) for i in ids if i >= config.label_nc
           and not (config.contain_dontcare_label and i == DONTCARE)]
    if bad:
        raise errors.label_out_of_range(path, bad, config.label_nc,
                                        config.contain_dontcare_label)


def instance_edges(instances: tf.Tensor) -> tf.Tensor:
    """SPADE's edge map: 1 where a pixel's instance id differs from a 4-neighbour's.
    [..., H, W] -> float32 [..., H, W] in {0, 1}."""
    dx = tf.cast(instances[..., :, 1:] != instances[..., :, :-1], tf.float32)
    dy = tf.cast(instances[..., 1:, :] != instances[..., :-1, :], tf.float32)
    pad = [[0, 0]] * (len(instances.shape) - 2)
    edges = (tf.pad(dx, pad + [[0, 0], [0, 1]]) + tf.pad(dx, pad + [[0, 0], [1, 0]])
             + tf.pad(dy, pad + [[0, 1], [0, 0]]) + tf.pad(dy, pad + [[1, 0], [0, 0]]))
    return tf.minimum(edges, 1.0)


def semantic_map(labels: tf.Tensor, instances: tf.Tensor | None, config: DataConfig) -> tf.Tensor:
    """int32 ids [..., H, W] (+ instance ids, unused with ``no_instance``) -> float32
    [..., H, W, semantic_nc]: one-hot over label_nc (+ don't care, id 255) classes, then
    the instance-edge channel."""
    classes = config.label_nc + int(config.contain_dontcare_label)
    if config.contain_dontcare_label:
        labels = tf.where(labels == DONTCARE, config.label_nc, labels)
    channels = [tf.one_hot(labels, classes, dtype=tf.float32)]
    if not config.no_instance:
        channels.append(instance_edges(instances)[..., None])
    return tf.concat(channels, axis=-1)


def label_example(element: dict, config: DataConfig, training: bool, seed: tf.Tensor) -> dict:
    """Encoded ``{"label", "image"[, "instance"]}`` (an instance map unless ``no_instance``)
    -> ``{"A": float32 [h, w, semantic_nc], "B": float32 [h, w, output_nc] in [-1, 1],
    "label": int32 [h, w] class ids as stored}`` (h, w: `DataConfig.crop_shape`)."""
    label = tf.io.decode_png(element["label"], channels=1)
    parts = [resize(decode(element["image"]), config, training),
             resize(label, config, training, "nearest")]
    if "instance" in element:
        instance = tf.io.decode_png(element["instance"], channels=1, dtype=tf.uint16)
        parts.append(resize(instance, config, training, "nearest"))
    stacked = crop_and_flip(stack_same_size(parts, config), config, training, seed)
    crop = config.crop_shape
    image = stacked[..., :3]
    if config.output_nc == 1:
        image = tf.tensordot(image, tf.constant(LUMA), axes=1)[..., None]
    labels = tf.cast(stacked[..., 3], tf.int32)
    instances = tf.cast(stacked[..., 4], tf.int32) if "instance" in element else None
    return {"A": tf.ensure_shape(semantic_map(labels, instances, config),
                                 [*crop, config.semantic_nc]),
            "B": tf.ensure_shape(image / 127.5 - 1.0, [*crop, config.output_nc]),
            "label": tf.ensure_shape(labels, crop)}


# One fixed colour per class id 0..255 in [-1, 1] (for showing label maps only).
PALETTE = np.random.default_rng(0).uniform(-1.0, 1.0, (256, 3)).astype("float32")


def shown_input(batch: dict) -> tf.Tensor:
    """The input of a batch as an image [B, H, W, C] in [-1, 1]: ``A`` itself, or for a
    label-map batch (it has ``"label"``) the class ids drawn in `PALETTE` colours."""
    if "label" not in batch:
        return batch["A"]
    return tf.gather(PALETTE, tf.cast(batch["label"], tf.int32))
