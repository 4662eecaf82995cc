"""mIoU of generated images: a segmentation network labels them and its labels are
compared with the ground-truth label maps (GauGAN / pix2pix Cityscapes protocol; GAN
Compression uses DRN-D-105).

Standard Cityscapes evaluation: a confusion matrix over ``num_classes`` classes
(rows: ground truth, columns: prediction), pixels whose ground truth is the ignore
label (255) or outside 0..num_classes-1 skipped; IoU_c = TP / (TP + FP + FN); classes
absent from both ground truth and predictions (0 / 0) excluded from the mean.

The segmenter is any SavedModel (`load_segmenter`) whose ``serve`` (or
``serving_default``) signature maps float32 images [B, H, W, 3] in [-1, 1] to class
scores [B, h, w, C]: scores are resized bilinearly to the label size, then argmax.
Nothing is downloaded.
"""
import dataclasses
import os
from collections.abc import Callable, Iterable, Sequence

import numpy as np
import tensorflow as tf

IGNORE_LABEL = 255
# Cityscapes labelIds (0..33) -> trainIds (0..18, 255 ignored), cityscapesScripts'
# labels.py: the 19 evaluated classes of DRN-D-105 and GAN Compression's table.
CITYSCAPES_TRAIN_IDS = tuple(
    {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11,
     25: 12, 26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}.get(i, IGNORE_LABEL)
    for i in range(256))


def confusion_matrix(labels, predictions, num_classes: int,
                     ignore_label: int = IGNORE_LABEL) -> np.ndarray:
    """int64 [num_classes, num_classes]: entry (g, p) counts pixels with ground truth g
    predicted as p. labels, predictions: integer arrays of one shape; ground-truth pixels
    equal to ``ignore_label`` or outside 0..num_classes-1 are skipped."""
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    predictions = tf.reshape(tf.cast(predictions, tf.int64), [-1])
    keep = (labels != ignore_label) & (labels >= 0) & (labels < num_classes)
    return tf.math.confusion_matrix(tf.boolean_mask(labels, keep),
                                    tf.boolean_mask(predictions, keep),
                                    num_classes=num_classes, dtype=tf.int64).numpy()


def per_class_iou(confusion: np.ndarray) -> np.ndarray:
    """float64 [C]: TP / (TP + FP + FN) per class, NaN for classes absent from both."""
    confusion = np.asarray(confusion, np.float64)
    tp = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - tp
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """Mean of `per_class_iou` over the classes present (NaN if none is)."""
    iou = per_class_iou(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


@dataclasses.dataclass
class Segmenter:
    """A segmentation network for mIoU.

    fn: images [B, H, W, 3] in [-1, 1] -> class scores [B, h, w, num_classes].
    id_map: 256 ints mapping dataset label ids to the segmenter's classes
      (e.g. `CITYSCAPES_TRAIN_IDS`; 255 = ignored); None: ids used as they are.
    """

    fn: Callable
    num_classes: int
    id_map: Sequence[int] | None = None
    name: str = "segmenter"
    owner: object = dataclasses.field(default=None, repr=False)  # keeps a SavedModel alive

    def predict(self, images) -> tf.Tensor:
        """int32 [B, H, W] class predictions at the images' size."""
        scores = tf.convert_to_tensor(self.fn(tf.convert_to_tensor(images, tf.float32)))
        scores = tf.image.resize(tf.cast(scores, tf.float32), tf.shape(images)[1:3],
                                 method="bilinear")
        return tf.argmax(scores, axis=-1, output_type=tf.int32)

    def ground_truth(self, labels) -> tf.Tensor:
        """Dataset ids [B, H, W] -> the segmenter's class ids (255 ignored)."""
        labels = tf.cast(labels, tf.int32)
        if self.id_map is None:
            return labels
        return tf.gather(tf.constant(self.id_map, tf.int32), tf.clip_by_value(labels, 0, 255))


def load_segmenter(path: str, id_map: Sequence[int] | None = None) -> Segmenter:
    """The `Segmenter` of the SavedModel at ``path`` (see the module docstring); its class
    count is read from one call on a 32x32 probe image. Raises FileNotFoundError /
    ValueError with a fix when the path or the signature is wrong."""
    if not tf.io.gfile.isdir(path) or not tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        raise FileNotFoundError(
            f"No SavedModel at --segmenter={path!r}. Fix: export the segmentation network "
            f"with model.export(PATH) (or tf.saved_model.save) and pass that folder.")
    loaded = tf.saved_model.load(path)
    fn = getattr(loaded, "serve", None) or loaded.signatures.get("serving_default")
    if fn is None:
        raise ValueError(f"The SavedModel at {path} has no 'serve' function or "
                         f"'serving_default' signature. Fix: export it with "
                         f"keras.Model.export(PATH).")

    def call(images):
        out = fn(images)
        return next(iter(out.values())) if isinstance(out, dict) else out

    probe = call(tf.zeros([1, 32, 32, 3]))
    if len(probe.shape) != 4:
        raise ValueError(f"The segmenter at {path} returns shape {probe.shape}; mIoU needs "
                         f"class scores [B, h, w, C]. Fix: export a network whose output is "
                         f"per-pixel class scores.")
    return Segmenter(call, int(probe.shape[-1]), id_map, name=os.path.abspath(path),
                     owner=loaded)


def segmentation_confusion(segmenter: Segmenter, batches: Iterable) -> np.ndarray:
    """Confusion matrix of ``segmenter`` over ``(images, labels)`` batches: images
    [B, H, W, 3] in [-1, 1], labels dataset ids [B, H, W]."""
    total = np.zeros([segmenter.num_classes] * 2, np.int64)
    for images, labels in batches:
        total += confusion_matrix(segmenter.ground_truth(labels), segmenter.predict(images),
                                  segmenter.num_classes)
    return total
