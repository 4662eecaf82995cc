"""mIoU: confusion matrix and IoU against an independent NumPy computation, id maps,
SavedModel segmenter loading, and an end-to-end report with a segmenter trained here."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from itgc_tf.eval.miou import (CITYSCAPES_TRAIN_IDS, Segmenter, confusion_matrix,
                               load_segmenter, mean_iou, per_class_iou)
from itgc_tf.eval.report import evaluate, format_table


def _numpy_confusion(labels, preds, n):
    out = np.zeros((n, n), np.int64)
    for g, p in zip(labels.ravel(), preds.ravel()):
        if g != 255 and 0 <= g < n:
            out[g, p] += 1
    return out


def _numpy_miou(labels, preds, n):
    ious = []
    for c in range(n):
        keep = labels != 255
        g, p = (labels == c) & keep, (preds == c) & keep
        union = (g | p).sum()
        if union:
            ious.append((g & p).sum() / union)
    return np.mean(ious)


def test_confusion_and_miou_match_numpy_with_ignore_and_absent_classes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, (3, 10, 12))  # class 4 never in the ground truth
    labels[0, :2] = 255
    preds = rng.integers(0, 4, (3, 10, 12))
    preds[1, 0, :5] = 4  # class 4 only predicted: IoU 0, counted
    # class 5 absent from both: excluded from the mean
    cm = confusion_matrix(labels, preds, 6)
    np.testing.assert_array_equal(cm, _numpy_confusion(labels, preds, 6))
    iou = per_class_iou(cm)
    assert iou[4] == 0 and np.isnan(iou[5])
    assert mean_iou(cm) == pytest.approx(_numpy_miou(labels, preds, 6), abs=1e-12)


def test_perfect_prediction_gives_one_and_cityscapes_ids_map_to_train_ids():
    labels = np.array([[0, 1], [2, 255]])
    assert mean_iou(confusion_matrix(labels, np.array([[0, 1], [2, 0]]), 3)) == 1.0
    seg = Segmenter(lambda x: x, 19, CITYSCAPES_TRAIN_IDS)
    mapped = seg.ground_truth(tf.constant([[7, 26, 33, 0, 255]])).numpy()
    np.testing.assert_array_equal(mapped, [[0, 13, 18, 255, 255]])


def test_load_segmenter_errors_name_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="No SavedModel.*Fix:"):
        load_segmenter(str(tmp_path / "missing"))


PALETTE = np.array([[-1, -1, -1], [1, 1, 1], [1, -1, -1], [-1, 1, -1]], np.float32)


def _train_segmenter(path):
    """A 1x1-conv segmenter of the palette colours, trained on noisy pixels."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 4, (64, 8, 8))
    images = PALETTE[ids] + rng.normal(0, 0.2, (64, 8, 8, 3)).astype(np.float32)
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(16, 1),
                              keras.layers.ReLU(), keras.layers.Conv2D(4, 1)])
    model.compile(keras.optimizers.Adam(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(images, ids, epochs=20, batch_size=16, verbose=0)
    model.export(path, verbose=False)


def _colour_generator(kernel, name):
    """[B, H, W, 4] one-hot -> [B, H, W, 3]: a 1x1 conv with a fixed kernel."""
    model = keras.Sequential([keras.Input((16, 16, 4)),
                              keras.layers.Conv2D(3, 1, use_bias=False)], name=name)
    model.layers[-1].set_weights([kernel[None, None]])
    return model


def test_report_miou_end_to_end_with_a_trained_segmenter(tmp_path):
    path = str(tmp_path / "segmenter")
    _train_segmenter(path)
    segmenter = load_segmenter(path)
    assert segmenter.num_classes == 4
    ids = np.random.default_rng(1).integers(0, 4, (4, 16, 16))
    ids[0, :4] = 255
    data = tf.data.Dataset.from_tensor_slices(
        {"A": np.eye(4, dtype=np.float32)[np.minimum(ids, 3)],
         "B": PALETTE[np.minimum(ids, 3)], "label": ids}).batch(2)
    student = _colour_generator(PALETTE, "student")  # paints the true colours
    teacher = _colour_generator(np.zeros((4, 3), np.float32), "teacher")  # all grey
    report = evaluate(student, teacher, data, paired=True, image_size=16, latency_runs=1,
                      latency_warmup=0, segmenter=segmenter)
    assert report["student.miou"] > 0.99 and report["real.miou"] > 0.99
    assert report["teacher.miou"] < 0.3
    assert report["miou.num_classes"] == 4 and report["miou.segmenter"].endswith("segmenter")
    assert "mIoU" in format_table(report)
    with pytest.raises(ValueError, match="needs label maps.*Fix:"):
        evaluate(student, teacher, data.map(lambda b: {"A": b["A"], "B": b["B"]}), paired=True,
                 image_size=16, latency_runs=1, latency_warmup=0, segmenter=segmenter)
