"""Frozen VGG16 feature maps for the OMGD perceptual losses, from local weights only.

Layer names are Keras' (``keras.applications.VGG16``); each ``blockI_convJ``
conv has its ReLU built in, so its output is the post-ReLU activation that the
PyTorch code (torchvision ``vgg16().features``) calls ``reluI_J``:

    block1_conv2 = relu1_2   block2_conv2 = relu2_2
    block3_conv3 = relu3_3   block4_conv3 = relu4_3

Weights (never downloaded): ``weights_path`` (``--vgg_weights=PATH``), a Keras
``.h5`` / ``.weights.h5`` file of ``VGG16(include_top=False)``; or, when None, the
Keras cache file ``$KERAS_HOME/models/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5``
(KERAS_HOME defaults to ~/.keras).
"""

import keras
import tensorflow as tf
from absl import logging

from itgc_tf.keras_cache import keras_cache_file, weights_file

KERAS_CACHE_FILE = "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"
OMGD_VGG_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3", "block4_conv3")
PYTORCH_NAMES = {"block1_conv2": "relu1_2", "block2_conv2": "relu2_2",
                 "block3_conv3": "relu3_3", "block4_conv3": "relu4_3"}
# keras.applications.vgg16.preprocess_input ("caffe" mode): BGR channel means on [0, 255].
_CAFFE_BGR_MEAN = (103.939, 116.779, 123.68)
RANDOM_VGG_WARNING = (
    "RANDOM VGG16 WEIGHTS (allow_random_weights_for_testing=True): style/feature losses are "
    "meaningless; use this only in tests.")


def keras_cache_path():
    """Where Keras caches the ImageNet VGG16 no-top weights ($KERAS_HOME or ~/.keras)."""
    return keras_cache_file(KERAS_CACHE_FILE)


def _missing_weights_message():
    return (
        "No VGG16 ImageNet weights found for the OMGD style/feature losses (nothing is downloaded "
        "at run time). Either\n"
        f"  * put them at {keras_cache_path()}: on a machine with internet run\n"
        "      python -c \"import keras; keras.applications.VGG16(include_top=False)\"\n"
        f"    then copy ~/.keras/models/{KERAS_CACHE_FILE} to that path (or set KERAS_HOME); or\n"
        "  * pass --vgg_weights=PATH (weights_path=PATH) pointing at that file (any Keras "
        ".h5/.weights.h5 file of keras.applications.VGG16(include_top=False)).")


def caffe_preprocess(images):
    """[-1, 1] RGB [B, H, W, 3] -> what Keras' ImageNet VGG16 expects: [0, 255], BGR,
    minus the ImageNet BGR channel means (``keras.applications.vgg16.preprocess_input``)."""
    bgr = tf.reverse((images + 1.0) * 127.5, axis=[-1])
    return bgr - tf.constant(_CAFFE_BGR_MEAN, dtype=images.dtype)


@keras.saving.register_keras_serializable(package="itgc_tf")
class VGGFeatures(keras.Model):
    """Frozen VGG16 activations of images in one pass.

    Call: images [B, H, W, 1 or 3] in [-1, 1] (one channel is tiled to three;
    H, W >= 2**(number of pools before the deepest layer), e.g. >= 8 for
    block4_conv3) -> dict {layer name: float32 [B, H_l, W_l, C_l]} (post-ReLU
    for conv layers; see the module doc for the PyTorch names). Only the layers
    up to the deepest requested one are run.

    Attributes:
      layer_names: the requested layers, in order.
      is_random: True when built with random weights (testing only); trainers
        should tag every log line with ``RANDOM_VGG_WARNING`` then.
    """

    def __init__(self, layers=OMGD_VGG_LAYERS, weights_path=None,
                 allow_random_weights_for_testing=False, **kwargs):
        """Args:
          layers: Keras VGG16 layer names (e.g. ``block2_conv2``).
          weights_path: None (Keras cache) or a VGG16 notop ``.h5``/``.weights.h5`` file.
          allow_random_weights_for_testing: build random weights instead (logs a warning).
        Raises:
          FileNotFoundError: no weights file (message says where to put one).
          ValueError: unknown layer names, or a file that is not VGG16 notop weights.
        """
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        vgg = keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))
        known = [layer.name for layer in vgg.layers[1:]]
        self.layer_names = tuple(layers)
        unknown = [name for name in self.layer_names if name not in known]
        if not self.layer_names or unknown:
            raise ValueError(f"VGGFeatures: unknown or no VGG16 layers {unknown or list(layers)}; "
                             f"choose from {known} (OMGD uses {list(OMGD_VGG_LAYERS)}).")
        self.weights_path = weights_path
        self.is_random = bool(allow_random_weights_for_testing)
        if self.is_random:
            logging.warning(RANDOM_VGG_WARNING)
        else:
            self.weights_path = _load_vgg_weights(vgg, weights_path)
        self.extractor = keras.Model(
            vgg.input, {name: vgg.get_layer(name).output for name in self.layer_names},
            name="vgg16_features")
        self.trainable = False

    def call(self, images):
        channels = images.shape[-1]
        if images.shape.rank != 4 or channels not in (1, 3):
            raise ValueError(f"VGGFeatures takes [B, H, W, 1 or 3] images in [-1, 1]; got shape "
                             f"{tuple(images.shape)}. Convert to RGB (or grayscale) NHWC first.")
        images = tf.cast(images, tf.float32)
        if channels == 1:
            images = tf.tile(images, [1, 1, 1, 3])
        return self.extractor(caffe_preprocess(images), training=False)

    def get_config(self):
        return {"layers": list(self.layer_names), "weights_path": self.weights_path,
                "allow_random_weights_for_testing": self.is_random, "name": self.name}


def _load_vgg_weights(vgg, weights_path):
    """Load VGG16 notop weights into `vgg`; returns the path used."""
    weights_path = weights_file(weights_path, KERAS_CACHE_FILE, "vgg_weights",
                                _missing_weights_message())
    try:
        vgg.load_weights(weights_path)
    except Exception as e:  # h5py/Keras raise OSError, ValueError, KeyError... for bad files.
        raise ValueError(
            f"Could not load {weights_path!r} as keras.applications.VGG16(include_top=False) "
            f"weights ({type(e).__name__}: {e}). Point --vgg_weights at the Keras file "
            f"{KERAS_CACHE_FILE} (or a .weights.h5 saved from VGG16(include_top=False)).") from e
    return weights_path
