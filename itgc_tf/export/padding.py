"""Any input size for a network that needs H, W divisible by a multiple: reflect-pad
the input up to the next multiple inside the serving signature, crop the output back.

The network states what it needs with `SizeCheck` layers (``multiple``, ``minimum``),
e.g. a U-Net of depth d needs multiples of 2**d. The padding is split between the two
sides (top/left get the smaller half) and is a mirror reflection without repeating the
edge pixel (``tf.pad(mode="REFLECT")``, ``np.pad(mode="reflect")``); a pad wider than the
image minus one, which ``tf.pad`` refuses, keeps reflecting back and forth as
``np.pad`` does, and a 1-pixel side is repeated.
"""
import math

import tensorflow as tf

from itgc_tf.models.layers import SizeCheck


def size_rule(model):
    """(multiple, minimum) the model's `SizeCheck` layers require of H and W
    (their least common multiple and largest minimum); (1, 1) without any."""
    checks = [layer for layer in _all_layers(model) if isinstance(layer, SizeCheck)]
    return (math.lcm(1, *(c.multiple for c in checks)),
            max([1, *(c.minimum for c in checks)]))


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def padded_size(size, multiple, minimum=1):
    """The least size >= max(``size``, ``minimum``) divisible by ``multiple`` (int or
    int tensor)."""
    return -(-tf.maximum(size, minimum) // multiple) * multiple


def reflect_indices(size, before, total):
    """int32 [total]: source index in [0, size) of each position -before … total-before-1
    of the reflect-padded axis (reflection repeated for pads >= size; size 1 repeats)."""
    period = tf.maximum(2 * (size - 1), 1)
    position = tf.math.floormod(tf.range(total) - before, period)
    return tf.where(position >= size, period - position, position)


def pad_to_multiple(images, multiple, minimum=1):
    """Reflect-pads float/uint8 [N, H, W, C] to [N, H', W', C] with H', W' =
    `padded_size`; returns (padded, crop) where ``crop(outputs)`` cuts [N, H', W', C']
    back to [N, H, W, C'] (both the identity when ``multiple`` and ``minimum`` are 1)."""
    if multiple == 1 and minimum == 1:
        return images, lambda outputs: outputs
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    target = (padded_size(height, multiple, minimum), padded_size(width, multiple, minimum))
    before = ((target[0] - height) // 2, (target[1] - width) // 2)

    def pad():
        padded = tf.gather(images, reflect_indices(height, before[0], target[0]), axis=1)
        return tf.gather(padded, reflect_indices(width, before[1], target[1]), axis=2)

    fits = tf.logical_and(tf.equal(target[0], height), tf.equal(target[1], width))
    images = tf.cond(fits, lambda: tf.identity(images), pad)  # a fixed fitting size folds to no op

    def crop(outputs):
        return tf.cond(fits, lambda: tf.identity(outputs), lambda: outputs[
            :, before[0]:before[0] + height, before[1]:before[1] + width])

    return images, crop
