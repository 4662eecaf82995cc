"""Inception-v3 pool features for FID / KID, from local weights only (never downloads).

Weight sources, first match wins:

1. `weights_path` (the `--inception_weights=PATH` flag):
   - a SavedModel directory of the standard FID Inception network (TTUR's
     `pt_inception-2015-12-05` graph / pytorch-fid's `FIDInceptionA..E` network
     ported to TF). Its signature (`serving_default`, or the only one) must take
     one float32 image tensor [N, 299, 299, 3] and return the pool3 features
     [N, 2048] (or [N, 1, 1, 2048]; with several outputs, the one whose name
     contains "pool"). Its expected pixel range is `saved_model_input_range`,
     default (0, 255) as in TTUR's graph; use (0, 1) for pytorch-fid style
     networks, (-1, 1) for TF-GAN's. Only this source gives FIDs comparable to
     published numbers.
   - a Keras `.weights.h5` / `.h5` weights file of
     `keras.applications.InceptionV3(include_top=False, pooling="avg")`.
2. The Keras cache file
   `$KERAS_HOME/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`
   (KERAS_HOME defaults to ~/.keras): the ImageNet InceptionV3 weights.
3. Otherwise a FileNotFoundError says where to put the weights and how to get them.
"""
import hashlib
import logging
import os
import warnings

import h5py
import keras
import numpy as np
import tensorflow as tf

from itgc_tf.keras_cache import keras_cache_file, weights_file

FEATURE_DIM = 2048
INPUT_SIZE = 299
KERAS_CACHE_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"


def keras_cache_path():
    """Where Keras caches the ImageNet InceptionV3 no-top weights ($KERAS_HOME or ~/.keras)."""
    return keras_cache_file(KERAS_CACHE_FILE)


def _missing_weights_message():
    return (
        "No Inception-v3 weights found for FID/KID (nothing is downloaded at run time). Either\n"
        "  * pass --inception_weights=PATH (inception_weights=PATH): a SavedModel directory of the "
        "standard FID Inception network (pool3 features, [N, 299, 299, 3] -> [N, 2048]) or a Keras "
        "InceptionV3(include_top=False, pooling='avg') .weights.h5/.h5 file; or\n"
        f"  * put the Keras ImageNet weights at {keras_cache_path()}: on a machine with internet run\n"
        "      python -c \"import keras; keras.applications.InceptionV3(include_top=False, "
        "weights='imagenet')\"\n"
        f"    then copy ~/.keras/models/{KERAS_CACHE_FILE} to that path (or set KERAS_HOME).")


def _content_hash(paths):
    """Short sha256 of the contents of the given files (in order)."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _saved_model_files(directory):
    files = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names
             if name == "saved_model.pb" or os.path.basename(root) == "variables"]
    return sorted(files)


def _keras_inception(input_size, weights):
    return keras.applications.InceptionV3(include_top=False, pooling="avg", weights=weights,
                                          input_shape=(input_size, input_size, 3))


class InceptionFeatures:
    """Inception-v3 pool features: images [N, H, W, 1 or 3] in [-1, 1], any size
    (bilinearly resized to 299×299; one channel is repeated to three) →
    float32 [N, 2048].

    Attributes:
      network_id: which network computed the features: `fid_inception_savedmodel:<hash>:in[lo,hi]`
        (standard FID network; FIDs comparable to papers), `keras_inception_v3_imagenet:<hash>`
        (Keras ImageNet weights; comparable only within this toolkit) or `random-testing:...`.
      is_standard_fid_network: True for the SavedModel source only.
    """

    def __init__(self, weights_path=None, saved_model_input_range=(0.0, 255.0)):
        """Args:
          weights_path: None (Keras cache) or a SavedModel directory / .h5 weights file.
          saved_model_input_range: (lo, hi) pixel range the SavedModel expects.
        Raises:
          FileNotFoundError: no weights at `weights_path` nor in the Keras cache.
          ValueError: a file/SavedModel of the wrong kind.
        """
        weights_path = weights_file(weights_path, KERAS_CACHE_FILE, "inception_weights",
                                    _missing_weights_message(), directories=True)
        if os.path.isdir(weights_path):
            self._init_saved_model(weights_path, saved_model_input_range)
        elif weights_path.endswith(".h5"):
            self._init_keras(weights_path)
        else:
            raise ValueError(f"--inception_weights={weights_path!r} is neither a SavedModel directory "
                             "nor a Keras .weights.h5/.h5 file.\n" + _missing_weights_message())

    def _setup(self, model, input_range, input_size, network_id, is_standard_fid_network):
        """model maps [N, input_size, input_size, 3] in input_range to pool features."""
        self._model = model
        self._in_range = tuple(float(v) for v in input_range)
        self.input_size = input_size
        self.network_id = network_id
        self.is_standard_fid_network = is_standard_fid_network
        self._embed = tf.function(self._embed_fn, input_signature=[
            tf.TensorSpec([None, None, None, 3], tf.float32)])

    def _init_keras(self, path):
        expected = "keras.applications.InceptionV3(include_top=False, pooling='avg') weights"
        if not h5py.is_hdf5(path):
            raise ValueError(f"{path!r} is not an HDF5 file; --inception_weights=*.h5 must hold {expected}.")
        try:
            model = _keras_inception(INPUT_SIZE, path)
        except (ValueError, OSError, KeyError) as e:
            raise ValueError(f"Could not load {path!r} as {expected}: {e}") from e
        # keras.applications.inception_v3.preprocess_input maps pixels to [-1, 1].
        self._setup(model, (-1.0, 1.0), INPUT_SIZE,
                    f"keras_inception_v3_imagenet:{_content_hash([path])}", False)

    def _init_saved_model(self, directory, input_range):
        if not os.path.isfile(os.path.join(directory, "saved_model.pb")):
            raise ValueError(f"--inception_weights={directory!r} is a directory without "
                             "saved_model.pb; point it at the FID Inception SavedModel directory.")
        loaded = tf.saved_model.load(directory)
        names = list(loaded.signatures.keys())
        name = "serving_default" if "serving_default" in names else (names[0] if len(names) == 1 else None)
        if name is None:
            raise ValueError(f"The SavedModel {directory!r} has signatures {names} and none is "
                             "'serving_default'; export the FID network with one serving signature.")
        signature = loaded.signatures[name]
        inputs = signature.structured_input_signature[1]
        if len(inputs) != 1:
            raise ValueError(f"The FID SavedModel signature {name!r} must take one image tensor; it "
                             f"takes {sorted(inputs)}.")
        input_key = next(iter(inputs))
        outputs = signature.structured_outputs
        pool = [k for k in outputs if "pool" in k.lower()]
        output_key = next(iter(outputs)) if len(outputs) == 1 else (pool[0] if len(pool) == 1 else None)
        if output_key is None:
            raise ValueError(f"The FID SavedModel signature {name!r} has outputs {sorted(outputs)}; "
                             "cannot tell which is the pool3 feature (name it '...pool...').")
        self._loaded = loaded  # keeps the signature's variables alive

        def model(images):
            return signature(**{input_key: images})[output_key]

        probe = model(tf.zeros([1, INPUT_SIZE, INPUT_SIZE, 3]))
        if int(np.prod(probe.shape[1:])) != FEATURE_DIM:
            raise ValueError(f"The SavedModel {directory!r} output {output_key!r} has shape "
                             f"{probe.shape}; FID needs the [N, {FEATURE_DIM}] pool3 features.")
        lo, hi = input_range
        self._setup(model, input_range, INPUT_SIZE,
                    f"fid_inception_savedmodel:{_content_hash(_saved_model_files(directory))}"
                    f":in[{lo:g},{hi:g}]", True)

    @classmethod
    def random_for_testing(cls, seed=0, input_size=75):
        """Randomly initialised Inception-v3 (deterministic given `seed`), for tests
        only: its features are meaningless for FID. `input_size` >= 75."""
        message = ("InceptionFeatures.random_for_testing(): RANDOM Inception weights. FID/KID values "
                   "are meaningless; use this only in tests.")
        warnings.warn(message, stacklevel=2)
        logging.warning(message)
        self = cls.__new__(cls)
        model = _keras_inception(input_size, None)
        rng = np.random.default_rng(seed)
        for variable in model.weights:
            if variable.path.endswith("kernel"):  # He-normal keeps activations O(1) through ReLUs.
                fan_in = int(np.prod(variable.shape[:-1]))
                variable.assign(rng.normal(0.0, np.sqrt(2.0 / fan_in), variable.shape).astype(np.float32))
        self._setup(model, (-1.0, 1.0), input_size, f"random-testing:seed={seed}:size={input_size}", False)
        return self

    def _embed_fn(self, images):
        images = tf.image.resize(images, [self.input_size, self.input_size], method="bilinear")
        lo, hi = self._in_range
        features = self._model(lo + (images + 1.0) * (0.5 * (hi - lo)))
        return tf.reshape(features, [-1, FEATURE_DIM])

    def __call__(self, images):
        """Features of one batch: [N, H, W, 1|3] in [-1, 1] → tf.float32 [N, 2048]."""
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape.rank != 4 or images.shape[-1] not in (1, 3):
            raise ValueError(f"InceptionFeatures takes [N, H, W, 1 or 3] images in [-1, 1]; got shape "
                             f"{tuple(images.shape)}. Convert to RGB (or grayscale) NHWC first.")
        if images.shape[-1] == 1:
            images = tf.repeat(images, 3, axis=-1)
        return self._embed(images)

    def features(self, images, max_images=None):
        """Features of an iterable of image batches (e.g. a tf.data.Dataset of
        [B, H, W, C] in [-1, 1]), stopping after `max_images`: float32 [N, 2048]."""
        chunks, count = [], 0
        for batch in images:
            if max_images is not None and count >= max_images:
                break
            if max_images is not None:
                batch = batch[:max_images - count]
            chunks.append(self(batch).numpy())
            count += chunks[-1].shape[0]
        if not chunks:
            raise ValueError("InceptionFeatures.features got no images; check the dataset is not empty.")
        return np.concatenate(chunks, axis=0)
