"""Tiny generators and images shared by the eval and export tests."""
import keras
import numpy as np
import tensorflow as tf


def tiny_generator(input_nc=3, output_nc=3, spatial=(None, None), ngf=8):
    """Functional conv net [N, H, W, input_nc] in [-1, 1] → [N, H, W, output_nc] in
    [-1, 1] (tanh); H, W even. Has a norm layer, a stride-2 conv and a transposed conv."""
    images = keras.Input(shape=(*spatial, input_nc))
    h = keras.layers.Conv2D(ngf, 3, padding="same")(images)
    h = keras.layers.GroupNormalization(groups=ngf)(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Conv2D(2 * ngf, 3, strides=2, padding="same", activation="relu")(h)
    h = keras.layers.Conv2DTranspose(ngf, 3, strides=2, padding="same", activation="relu")(h)
    return keras.Model(images, keras.layers.Conv2D(output_nc, 3, padding="same", activation="tanh")(h))


def smooth_images(n, size=32, channels=3, seed=0):
    """n smooth random images [n, size, size, channels] float32 in [-1, 1]."""
    coarse = np.random.default_rng(seed).uniform(-1, 1, (n, 8, 8, channels)).astype(np.float32)
    return tf.image.resize(coarse, [size, size], method="bilinear").numpy()
