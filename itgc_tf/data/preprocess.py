"""Resize, crop, flip, channel conversion and scaling to [-1, 1], shared by all sources.

Images of one example (A and B of a pair) are stacked along channels, cropped and
flipped once, and split again, so they stay pixel-aligned. Randomness comes from
stateless ops keyed by a per-element seed, so a fixed seed reproduces exactly.
"""
import tensorflow as tf

from itgc_tf.data import errors
from itgc_tf.data.config import DataConfig
from itgc_tf.data.images import LUMA


def resized_size(height: int, width: int, config: DataConfig, training: bool) -> tuple[int, int]:
    """(H, W) of an image after the resize step of ``config.preprocess`` (Python ints)."""
    if config.preprocess == "resize_and_crop":
        side = config.load_size if training else config.crop_size
        return _with_aspect(side, config), side
    if config.preprocess == "scale_width_and_crop":
        return int(height * config.load_size / width + 0.5), config.load_size
    return height, width


def _with_aspect(width: int, config: DataConfig) -> int:
    """Height of a width-``width`` image of ``config.aspect_ratio``."""
    return max(1, round(width / config.aspect_ratio))


def check_size(height: int, width: int, where: str, config: DataConfig) -> tuple[int, int]:
    """Resized (H, W) of an image, after checking it still holds a crop in train and test mode.

    Raises ValueError naming ``where`` if it does not.
    """
    for training in (True, False):
        size = resized_size(height, width, config, training)
        if size[0] < config.crop_shape[0] or size[1] < config.crop_shape[1]:
            raise errors.too_small(where, (height, width), size, config.crop_size,
                                   config.preprocess, config.load_size)
    return resized_size(height, width, config, training=True)


def resize(image: tf.Tensor, config: DataConfig, training: bool,
           method: str = "bicubic") -> tf.Tensor:
    """[H, W, C] -> float32 [H', W', C], H', W' as in `resized_size`; ``bicubic``
    (antialiased, clipped to [0, 255]) or ``nearest`` (label and instance maps)."""
    image = tf.cast(image, tf.float32)
    if config.preprocess == "crop":
        return image
    if config.preprocess == "resize_and_crop":
        side = config.load_size if training else config.crop_size
        size = tf.constant([_with_aspect(side, config), side])
    else:
        shape = tf.cast(tf.shape(image), tf.float64)
        height = tf.floor(shape[0] * config.load_size / shape[1] + 0.5)
        size = tf.cast(tf.stack([height, config.load_size]), tf.int32)
    if method == "nearest":
        return tf.image.resize(image, size, method="nearest")
    image = tf.image.resize(image, size, method="bicubic", antialias=True)
    return tf.clip_by_value(image, 0.0, 255.0)


def _to_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    if channels == 3:
        return image
    return tf.tensordot(image, tf.constant(LUMA), axes=1)[..., None]


def crop_and_flip(stacked: tf.Tensor, config: DataConfig, training: bool,
                  seed: tf.Tensor | None = None) -> tf.Tensor:
    """Crop ``config.crop_shape`` out of [H, W, C] (random when ``training``, else
    centred) and, when training and not ``no_flip``, flip it horizontally at random.
    seed: int64 [2] stateless seed, required when ``training``."""
    shape = tf.shape(stacked)
    crop_h, crop_w = config.crop_shape
    with tf.control_dependencies([tf.debugging.assert_greater_equal(
            shape[:2], [crop_h, crop_w],
            message=errors.too_small_at_run_time(config.crop_size, config.preprocess))]):
        room = shape[:2] - [crop_h, crop_w]
    if training:
        seeds = tf.random.experimental.stateless_split(seed, num=3)
        top = tf.random.stateless_uniform([], seeds[0], 0, room[0] + 1, dtype=tf.int32)
        left = tf.random.stateless_uniform([], seeds[1], 0, room[1] + 1, dtype=tf.int32)
    else:
        top, left = room[0] // 2, room[1] // 2
    stacked = stacked[top:top + crop_h, left:left + crop_w]
    if training and not config.no_flip:
        flip = tf.random.stateless_uniform([], seeds[2]) < 0.5
        stacked = tf.cond(flip, lambda: tf.reverse(stacked, axis=[1]), lambda: stacked)
    return stacked


def stack_same_size(resized: list[tf.Tensor], config: DataConfig) -> tf.Tensor:
    """Concatenate [H, W, C_i] tensors along channels after checking one H, W."""
    checks = [tf.debugging.assert_equal(
        tf.shape(x)[:2], tf.shape(resized[0])[:2],
        message=errors.pair_size_mismatch_at_run_time(config.preprocess)) for x in resized[1:]]
    with tf.control_dependencies(checks):
        return tf.concat(resized, axis=-1) if len(resized) > 1 else resized[0]


def transform(images: list[tf.Tensor], channels: list[int], config: DataConfig,
              training: bool, seed: tf.Tensor | None = None) -> list[tf.Tensor]:
    """Preprocess the images of one example with one shared crop and flip.

    images: uint8 [H_i, W_i, 3] tensors (sizes may differ before the resize).
    channels: output channels (1 or 3) of each image.
    seed: int64 [2] stateless seed, required when ``training``.
    Returns float32 [crop_h, crop_w, channels_i] tensors in [-1, 1] (`DataConfig.crop_shape`).
    """
    stacked = stack_same_size([resize(image, config, training) for image in images], config)
    stacked = crop_and_flip(stacked, config, training, seed)
    outputs = tf.split(stacked, [3] * len(images), axis=-1)
    return [tf.ensure_shape(_to_channels(x, nc) / 127.5 - 1.0, [*config.crop_shape, nc])
            for x, nc in zip(outputs, channels)]
