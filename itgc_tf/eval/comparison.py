"""A picture a person can judge: degraded input | teacher | student | ground truth.

``write_comparison`` runs the teacher and the student on whole photos at their
native resolution (padded by reflection to the size the network needs and
cropped back), labels every panel with its PSNR / SSIM against the ground truth
and adds a zoomed inset of the photo's most detailed region (the same region in
every panel of a row, marked by a box). Drawn with Pillow: no plotting library.
"""
import dataclasses

import numpy as np
import tensorflow as tf
from PIL import Image, ImageDraw, ImageFont

from itgc_tf.eval.image_metrics import psnr, ssim
from itgc_tf.artifacts.atomic import atomic_output
from itgc_tf.models.layers import SizeCheck

COLUMNS = ("degraded input", "teacher", "student", "ground truth")
LABEL_HEIGHT = 40   # px above each panel: column name, then PSNR / SSIM
GAP = 6             # px between panels
ZOOM_REGION = 48    # side of the zoomed region, in image pixels
ZOOM = 3            # inset magnification
FONT_SIZE = 14


@dataclasses.dataclass(frozen=True)
class Comparison:
    """What ``write_comparison`` drew.

    ``metrics[r][c]`` = {"psnr": dB, "ssim": ...} of row r (photo), column c
    (``COLUMNS``) against the ground truth (the ground-truth column: inf / 1).
    ``panels[r][c]`` = (left, top, width, height) of that panel's image in the
    picture; ``size`` = (width, height) of the PNG.
    """
    path: str
    metrics: list
    panels: list
    size: tuple


def required_multiple(model):
    """The multiple H and W must be of for ``model`` (its ``SizeCheck`` layers; 1 if none)."""
    multiples = [layer.multiple for layer in model._flatten_layers()
                 if isinstance(layer, SizeCheck)]
    return max(multiples, default=1)


def run_native(model, image):
    """``model`` on one image [H, W, C] float32 in [-1, 1] of any size -> [H, W, C_out].

    The image is padded by reflection (bottom / right) to the next multiple the
    model needs, then the output is cropped back to H x W.
    """
    height, width = image.shape[:2]
    multiple = required_multiple(model)
    pad_h, pad_w = -height % multiple, -width % multiple
    padded = np.pad(image, ((0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    output = model(tf.constant(padded[None], tf.float32), training=False)
    return np.asarray(output, np.float32)[0, :height, :width]


def _to_uint8(image):
    return np.round((np.clip(image, -1.0, 1.0) + 1.0) * 127.5).astype(np.uint8)


def _detail_region(clean):
    """(top, left) of the ZOOM_REGION² window with the most gradient energy."""
    gray = clean.mean(axis=-1)
    energy = np.zeros_like(gray)
    energy[:-1] += np.diff(gray, axis=0) ** 2
    energy[:, :-1] += np.diff(gray, axis=1) ** 2
    size = min(ZOOM_REGION, *gray.shape)
    integral = np.pad(energy.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = (integral[size:, size:] - integral[:-size, size:]
            - integral[size:, :-size] + integral[:-size, :-size])
    top, left = np.unravel_index(np.argmax(sums), sums.shape)
    return int(top), int(left), size


def _panel(image, region, font, title, metrics):
    """One labelled panel (uint8 image [H, W, 3]) with the inset of ``region``."""
    top, left, size = region
    height, width = image.shape[:2]
    picture = Image.fromarray(image).convert("RGB")
    inset_side = min(size * ZOOM, height // 2, width // 2)
    inset = picture.crop((left, top, left + size, top + size)).resize(
        (inset_side, inset_side), Image.NEAREST)
    draw = ImageDraw.Draw(picture)
    draw.rectangle((left, top, left + size - 1, top + size - 1), outline=(255, 220, 0))
    corner = (width - inset_side - 2, height - inset_side - 2)
    picture.paste(inset, corner)
    draw.rectangle((corner[0] - 1, corner[1] - 1, width - 2, height - 2),
                   outline=(255, 220, 0))
    panel = Image.new("RGB", (width, height + LABEL_HEIGHT), "white")
    panel.paste(picture, (0, LABEL_HEIGHT))
    label = ImageDraw.Draw(panel)
    label.text((2, 2), title, fill="black", font=font)
    numbers = ("PSNR / SSIM (reference)" if np.isinf(metrics["psnr"]) else
               f"PSNR {metrics['psnr']:.2f} dB / SSIM {metrics['ssim']:.3f}")
    label.text((2, 2 + FONT_SIZE + 4), numbers, fill="black", font=font)
    return panel


def comparison_rows(teacher, student, pairs):
    """[(input, teacher, student, target)] float32 [H, W, C] in [-1, 1] per pair, and
    their metrics against the target. ``pairs``: [(degraded, clean)] of [H, W, C]
    arrays in [-1, 1] (any size per pair)."""
    return model_rows([teacher, student], pairs)


def model_rows(models, pairs):
    """[(input, *outputs of ``models``, target)] float32 [H, W, C] in [-1, 1] per pair
    (see `comparison_rows`), and their metrics against the target."""
    rows, metrics = [], []
    for degraded, clean in pairs:
        degraded = np.asarray(degraded, np.float32)
        clean = np.asarray(clean, np.float32)
        images = (degraded, *(run_native(model, degraded) for model in models), clean)
        rows.append(images)
        metrics.append([{"psnr": float(psnr(x[None], clean[None])[0]),
                         "ssim": float(ssim(x[None], clean[None])[0])} for x in images])
    return rows, metrics


def write_comparison(path, teacher, student, pairs, overwrite=True):
    """Write the comparison PNG of ``pairs`` (see ``comparison_rows``) to ``path``.

    One row per pair, the columns of ``COLUMNS``; each panel is the image at its
    native size under a label with its PSNR / SSIM against the ground truth, with
    a ZOOM× inset of the row's most detailed ZOOM_REGION² window. Written
    all-or-nothing. Returns a ``Comparison``.
    """
    return write_model_comparison(path, {COLUMNS[1]: teacher, COLUMNS[2]: student}, pairs,
                                  overwrite, input_title=COLUMNS[0])


def write_model_comparison(path, models, pairs, overwrite=True, input_title=COLUMNS[0]):
    """`write_comparison` with one column per entry of ``models`` ({title: generator}),
    between the input and the ground truth (e.g. the students of several runs)."""
    if not pairs:
        raise ValueError("write_comparison needs at least one (degraded, clean) pair. "
                         "Fix: pass the held-out photos to compare on.")
    rows, metrics = model_rows(list(models.values()), pairs)
    titles = (input_title, *models, COLUMNS[-1])
    font = ImageFont.load_default(size=FONT_SIZE)
    row_images = []
    for images, row_metrics in zip(rows, metrics):
        region = _detail_region(images[-1])
        row_images.append([_panel(_to_uint8(image), region, font, title, m)
                           for image, title, m in zip(images, titles, row_metrics)])
    width = max(sum(p.width for p in row) + GAP * (len(row) + 1) for row in row_images)
    height = sum(row[0].height for row in row_images) + GAP * (len(row_images) + 1)
    canvas = Image.new("RGB", (width, height), "white")
    panels, y = [], GAP
    for row in row_images:
        x, boxes = GAP, []
        for panel in row:
            canvas.paste(panel, (x, y))
            boxes.append((x, y + LABEL_HEIGHT, panel.width, panel.height - LABEL_HEIGHT))
            x += panel.width + GAP
        panels.append(boxes)
        y += row[0].height + GAP
    with atomic_output(path, overwrite=overwrite) as tmp:
        canvas.save(tmp, format="PNG")
    return Comparison(str(path), metrics, panels, canvas.size)
