"""SavedModel export of a generator for TF Serving.

Signatures (inspect them with `saved_model_cli show --all --dir DIR`):

| name | input | output |
| --- | --- | --- |
| `serving_default` | `images`: float32 [N, H, W, input_nc] in [-1, 1] | `outputs`: float32 [N, H, W, output_nc] in [-1, 1] |
| `uint8` | `images`: uint8 [N, H, W, input_nc], 0–255 | `outputs`: uint8 [N, H, W, output_nc], 0–255 (rounded) |
| `encoded` | `image_bytes`: string, scalar or [N], PNG/JPEG/BMP/GIF bytes | `png_bytes`: string, same shape, PNG |
| `tflite` | as `serving_default` | as `serving_default` |

N, H and W are dynamic unless the generator fixes them (its functional input
shape). Any H, W is served: when the network needs H, W divisible by a multiple
(its `SizeCheck` layers, e.g. 2**depth for a U-Net), the signatures reflect-pad
the input up to it and crop the output back (`itgc_tf.export.padding`); the
Keras model itself still refuses such sizes. The encoded signature decodes every
image separately, so a batch may mix sizes; it exists when input_nc and output_nc
are 1, 3 or 4 (PNG channel counts). For TF Serving's REST API send
`{"signature_name": "encoded", "instances": [{"b64": ...}]}`.

Instance norms: the serving signatures run them with TF's fused batch-norm kernel on
large activations (`itgc_tf.models.layers.kernel_choice`; same values to float
rounding): with a fixed H, W each norm chooses by its size, with dynamic ones images of
at least `PER_IMAGE_MIN_PIXELS` pixels fuse every norm; a batch of dynamic size N of
such images runs image by image. `tflite` always uses the portable form, whose ops
TFLite runs in XNNPACK (float and int8): it is what `itgc_tf.export.tflite` converts,
where the fused op would become the slow SUB/SQUARED_DIFFERENCE path. Likewise the
output convolution to RGB (`itgc_tf.models.layers.PixelBlockConv2D`) runs on 2×2 pixel
blocks in the serving signatures and as a plain convolution in `tflite`.

A generator of label maps (GauGAN / SPADE, ``label_maps``: the data's `DataConfig`)
takes semantic maps, not images; its signatures are instead:

| name | input | output |
| --- | --- | --- |
| `serving_default` | `semantic_map`: float32 [N, H, W, semantic_nc], one-hot classes (+ don't care) + instance edges, in {0, 1} | `outputs`: float32 [N, H, W, output_nc] in [-1, 1] |
| `labels` | `labels`: int32 [N, H, W] class ids (255: don't care); `instances`: int32 [N, H, W] instance ids (unless the data has ``no_instance``) | `outputs`: uint8 [N, H, W, output_nc], 0–255 |
| `tflite` | as `serving_default` | as `serving_default` |

(`labels` builds the semantic map as training did: `itgc_tf.data.labels.semantic_map`.)
"""
import logging
import os

import tensorflow as tf

from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.data.labels import semantic_map
from itgc_tf.export.padding import pad_to_multiple, size_rule
from itgc_tf.models.layers import InstanceNorm, auto_uses_fast_kernels, kernel_choice

_IMAGE_CHANNELS = (1, 3, 4)
TFLITE_SIGNATURE = "tflite"
# Fewest pixels (H * W) of an image whose instance norms the serving signatures fuse
# where H, W are dynamic, and of the images of a dynamic-size batch served image by
# image: below it the fused kernel's fixed cost per call (and the per-image loop) cost
# more than they save (docs/PERFORMANCE.md, student).
PER_IMAGE_MIN_PIXELS = 192 * 192


def _input_shape(generator, input_nc):
    """[N, H, W, input_nc] with the generator's own fixed dims where it has them."""
    shape = [None, None, None, input_nc]
    inputs = getattr(generator, "inputs", None)
    if inputs:
        known = list(inputs[0].shape)
        if len(known) != 4 or known[-1] not in (None, input_nc):
            raise ValueError(f"The generator takes inputs of shape {tuple(known)} but input_nc="
                             f"{input_nc}; pass the generator's input channel count as input_nc.")
        shape[:3] = known[:3]
    return shape


def _to_float(images_uint8):
    return tf.cast(images_uint8, tf.float32) / 127.5 - 1.0


def _to_uint8(images):
    return tf.cast(tf.round((tf.clip_by_value(images, -1.0, 1.0) + 1.0) * 127.5), tf.uint8)


def _serve(generator, images, fused):
    """generator(images) for the serving signatures: float32 [N, H, W, C] -> float32
    outputs (cast: also under mixed precision). ``fused``: with static H, W each instance
    norm chooses its kernel ("auto"); with dynamic H, W one tf.cond per call runs images
    of at least `PER_IMAGE_MIN_PIXELS` pixels under "fast" (every norm fused), smaller
    ones under "auto" (on dynamic shapes: portable norms). A dynamic N of such images
    runs image by image (the fused kernel needs a static batch; one image is a loop of
    one). `PixelBlockConv2D` runs on blocks under both. Not ``fused``: "portable" (the
    plain forms only)."""
    def run(batch, kind):
        with kernel_choice(kind):
            return tf.cast(generator(batch, training=False), tf.float32)

    def by_image(kind):
        if images.shape[0] is not None:
            return run(images, kind)
        return tf.map_fn(lambda image: run(image[tf.newaxis], kind)[0], images,
                         fn_output_signature=tf.float32, parallel_iterations=1)

    if not fused or not auto_uses_fast_kernels() or not any(
            isinstance(layer, InstanceNorm) for layer in generator._flatten_layers()):
        return run(images, "auto" if fused else "portable")
    height, width = images.shape[1:3]
    if None not in (height, width):
        return by_image("auto") if height * width >= PER_IMAGE_MIN_PIXELS else run(images, "auto")
    shape = tf.shape(images)
    return tf.cond(shape[1] * shape[2] >= PER_IMAGE_MIN_PIXELS, lambda: by_image("fast"),
                   lambda: run(images, "auto"))


def _check_label_maps(input_shape, label_maps):
    if input_shape[-1] != label_maps.semantic_nc:
        raise ValueError(f"The generator takes {input_shape[-1]} input channels but the label "
                         f"maps give {label_maps.semantic_nc} (--label_nc, "
                         "--contain_dontcare_label, --no_instance). Fix: pass the label options "
                         "the generator was trained with.")


def _add_labels_endpoint(archive, translate, input_shape, label_maps):
    """The label-map generator's `labels` signature (module docstring)."""
    ids = tf.TensorSpec(input_shape[:3], tf.int32, name="labels")
    if label_maps.no_instance:
        archive.add_endpoint("labels", lambda labels: {"outputs": _to_uint8(translate(
            semantic_map(labels, None, label_maps)))}, [ids])
    else:
        archive.add_endpoint("labels", lambda labels, instances: {"outputs": _to_uint8(translate(
            semantic_map(labels, instances, label_maps)))},
            [ids, tf.TensorSpec(input_shape[:3], tf.int32, name="instances")])


def _add_image_endpoints(archive, translate, input_shape, input_nc, output_nc):
    """The `uint8` and `encoded` signatures (module docstring)."""
    def serve_encoded(image_bytes):
        def translate_one(one_image_bytes):
            image = tf.io.decode_image(one_image_bytes, channels=input_nc, expand_animations=False)
            image = tf.ensure_shape(image[tf.newaxis], [1, *input_shape[1:]])  # a fixed H, W
            return tf.io.encode_png(_to_uint8(translate(_to_float(image)))[0])

        png = tf.map_fn(translate_one, tf.reshape(image_bytes, [-1]), fn_output_signature=tf.string)
        return {"png_bytes": tf.reshape(png, tf.shape(image_bytes))}

    archive.add_endpoint("uint8", lambda images: {"outputs": _to_uint8(translate(_to_float(images)))},
                         [tf.TensorSpec(input_shape, tf.uint8, name="images")])
    if input_nc in _IMAGE_CHANNELS and output_nc in _IMAGE_CHANNELS:
        archive.add_endpoint("encoded", serve_encoded,
                             [tf.TensorSpec(None, tf.string, name="image_bytes")])
    else:
        logging.warning("No 'encoded' signature: PNG holds 1, 3 or 4 channels, the generator maps "
                        "%d to %d.", input_nc, output_nc)


class _Signatures:
    """The signatures of a SavedModel, each traced once: name -> concrete function.

    Saved as `signatures=` of a module holding only the variables they use, so
    `tf.saved_model.save` traces nothing again (it retraces every tf.function it
    finds on the saved object inside its save context, which is part of tf.function's
    cache key: Keras' `ExportArchive` traced each endpoint twice, and the tracked
    model's default signature once more)."""

    def __init__(self):
        self.functions = {}

    def add_endpoint(self, name, fn, input_signature):
        """Traces ``fn`` on ``input_signature`` as signature ``name``; returns it."""
        self.functions[name] = tf.function(fn, autograph=False).get_concrete_function(
            *input_signature)
        return self.functions[name]

    def write_out(self, path):
        module = tf.Module()
        module.variables_used = list({id(v): v for f in self.functions.values()
                                      for v in f.variables}.values())
        tf.saved_model.save(module, path, signatures=self.functions)


def export_saved_model(generator, export_dir, *, input_nc, output_nc, label_maps=None,
                       overwrite=False):
    """Write `generator` as a SavedModel with the signatures in the module docstring.

    The SavedModel is written to a temporary directory beside `export_dir` and
    renamed into place, so a crash never leaves a partial export.

    Args:
      generator: Keras model mapping float32 [N, H, W, input_nc] in [-1, 1] to
        [N, H, W, output_nc] in [-1, 1] (called with training=False).
      export_dir: target directory (must not exist unless `overwrite`).
      input_nc, output_nc: channel counts of the generator's input and output.
      label_maps: None (image to image), or the `DataConfig` of label-map data
        (label_nc, contain_dontcare_label, no_instance) for a generator of semantic
        maps (input_nc = its semantic_nc): the label-map signatures.
      overwrite: replace an existing `export_dir`.

    Returns:
      The absolute export directory.

    Raises:
      FileExistsError: `export_dir` exists and `overwrite` is False.
      ValueError: channel counts that do not match the generator.
    """
    input_shape = _input_shape(generator, input_nc)
    multiple, minimum = size_rule(generator) if None in input_shape[1:3] else (1, 1)

    def generate(images, fused=True):
        padded, crop = pad_to_multiple(images, multiple, minimum)
        outputs = _serve(generator, padded, fused)
        if outputs.shape[-1] != output_nc:
            raise ValueError(f"The generator outputs {outputs.shape[-1]} channels but output_nc="
                             f"{output_nc}; pass the generator's output channel count as output_nc.")
        return crop(outputs)

    if label_maps is not None:
        _check_label_maps(input_shape, label_maps)
    floats = [tf.TensorSpec(input_shape, tf.float32,
                            name="images" if label_maps is None else "semantic_map")]
    with atomic_output(export_dir, overwrite=overwrite, directory=True) as tmp:
        archive = _Signatures()
        served = archive.add_endpoint("serving_default", lambda images: {
            "outputs": generate(images)}, floats)
        archive.add_endpoint(TFLITE_SIGNATURE, lambda images: {
            "outputs": generate(images, fused=False)}, floats)

        def translate(images):  # the other signatures call serving_default's graph
            return served(images)["outputs"]

        if label_maps is None:
            _add_image_endpoints(archive, translate, input_shape, input_nc, output_nc)
        else:
            _add_labels_endpoint(archive, translate, input_shape, label_maps)
        archive.write_out(tmp)
    return os.path.abspath(export_dir)
