"""Built-in demo datasets made from the photographs that ship with scikit-image.

No download: `demo_dir(task)` builds the task's folder at first use (a few seconds)
from the photos in `DEMO_PHOTOS`, downscaled so the shorter side is 256 px and cut
into 128x128 crops at seeded positions, and caches it under
``$ITGC_TF_CACHE/demo/<version>/<task>`` (default cache ``~/.cache/itgc_tf``). The
photos in `TEST_PHOTOS` form the test split (grayscale photos are used as RGB), the rest the train split, so no photo
contributes to both. Folders use the layouts user data uses:

- ``enhance`` (folders: ``split/A``, ``split/B``): A = the clean crop degraded as a
  cheap camera would (slight lens blur, sensor noise, a JPEG round trip; seeded per
  crop), B = clean.
- ``edges2photo`` (aligned: ``split/*.png`` = A|B): A = Canny edges, dark on white,
  3 channels; B = the photo.
- ``unpaired`` (``splitA``, ``splitB``): A = crops from the left half of each photo,
  B = sepia-graded crops from its right half (disjoint pixels).
- ``labels2photo`` (labels: ``split/labels``, ``split/instances``, ``split/images``):
  SLIC superpixels of each crop are the instances; each superpixel's class is the
  nearest of `LABEL_COLOURS` to its mean colour (``LABEL_NC`` = 6 classes, ids 0-5).
"""
import functools
import io
import json
import os
import pathlib
import shutil
import tempfile

import numpy as np
import skimage.data
import skimage.feature
import skimage.filters
import skimage.segmentation
import skimage.transform
from PIL import Image

from itgc_tf.data import errors
from itgc_tf.data.config import DEMO_TASKS

DEMO_VERSION = "v3"
DEMO_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "motorcycle_left",
               "motorcycle_right", "hubble_deep_field", "immunohistochemistry", "retina",
               "camera", "coins", "moon", "brick")
TEST_PHOTOS = ("chelsea", "coffee", "rocket")
CROP = 128
CROPS_PER_PHOTO = 16
SHORT_SIDE = 256
LABEL_COLOURS = np.array([[20, 20, 20], [235, 235, 235], [150, 60, 50], [60, 120, 50],
                          [70, 100, 170], [190, 160, 110]], float)  # dark, light, red,
LABEL_NC = len(LABEL_COLOURS)                                      # green, blue, tan
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


@functools.lru_cache(maxsize=None)
def demo_photo(name: str) -> np.ndarray:
    """uint8 [H, W, 3] demo photo ``name`` (one of DEMO_PHOTOS), shorter side SHORT_SIDE px.

    Cached: do not modify the returned array."""
    if name.startswith("motorcycle_"):
        left, right, _ = skimage.data.stereo_motorcycle()
        image = left if name == "motorcycle_left" else right
    else:
        image = getattr(skimage.data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=-1)
    height, width = image.shape[:2]
    scale = SHORT_SIDE / min(height, width)
    size = (round(height * scale), round(width * scale))
    image = skimage.transform.resize(image[..., :3], size, anti_aliasing=True)
    return np.round(image * 255).astype(np.uint8)


def _crops(photo: np.ndarray, rng: np.random.Generator, count: int,
           columns: tuple[int, int]) -> list[np.ndarray]:
    """``count`` CROP x CROP crops at seeded positions with left edge in ``columns``."""
    tops = rng.integers(0, photo.shape[0] - CROP + 1, count)
    lefts = rng.integers(columns[0], columns[1] - CROP + 1, count)
    return [photo[t:t + CROP, l:l + CROP] for t, l in zip(tops, lefts)]


def _degrade(clean: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cheap camera: slight blur (sigma 0.5-1 px), sensor noise (std 10-20 levels) and
    JPEG (quality 30-50): about 25 dB PSNR, mostly noise a small network can remove (a
    stronger blur destroys detail that no network restores in the demo's minutes)."""
    blurred = skimage.filters.gaussian(clean / 255.0, sigma=rng.uniform(0.5, 1.0),
                                       channel_axis=-1)
    noisy = blurred + rng.normal(0.0, rng.uniform(10, 20) / 255.0, clean.shape)
    image = Image.fromarray(np.round(np.clip(noisy, 0, 1) * 255).astype(np.uint8))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=int(rng.integers(30, 51)))
    return np.asarray(Image.open(buffer).convert("RGB"))


def held_out_photos() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """The ``enhance`` task's test photos whole: [(name, degraded, clean)], uint8 [H, W, 3]
    at the demo resolution (shorter side SHORT_SIDE), degraded as the crops are (seeded
    per photo), for pictures at native resolution (`itgc_tf.eval.comparison`)."""
    photos = []
    for name in TEST_PHOTOS:
        clean = demo_photo(name)
        rng = np.random.default_rng([DEMO_PHOTOS.index(name), len(DEMO_TASKS)])
        photos.append((name, _degrade(clean, rng), clean))
    return photos


def _edges(photo: np.ndarray) -> np.ndarray:
    """Canny edges of a uint8 RGB crop: black lines on white, uint8 [H, W, 3]."""
    gray = photo @ np.array([0.299, 0.587, 0.114]) / 255.0
    edges = skimage.feature.canny(gray, sigma=2.0)
    return np.repeat(np.where(edges, 0, 255).astype(np.uint8)[..., None], 3, axis=-1)


def _sepia(photo: np.ndarray) -> np.ndarray:
    """A warm sepia grade (35% original, 65% sepia) of a uint8 RGB crop."""
    graded = 0.35 * photo + 0.65 * (photo @ _SEPIA.T)
    return np.round(np.clip(graded, 0, 255)).astype(np.uint8)


def _labels(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(class ids uint8 [H, W] in 0..LABEL_NC-1, superpixel ids uint8 [H, W]) of a crop."""
    segments = skimage.segmentation.slic(photo, n_segments=48, compactness=10,
                                         start_label=0)
    means = np.stack([photo[segments == k].mean(axis=0) for k in range(segments.max() + 1)])
    classes = np.argmin(((means[:, None] - LABEL_COLOURS[None]) ** 2).sum(-1), axis=1)
    return classes[segments].astype(np.uint8), segments.astype(np.uint8)


def _save(folder: pathlib.Path, name: str, image: np.ndarray) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(folder / f"{name}.png")


def _build(task: str, root: pathlib.Path) -> None:
    for index, photo_name in enumerate(DEMO_PHOTOS):
        split = "test" if photo_name in TEST_PHOTOS else "train"
        photo = demo_photo(photo_name)
        width = photo.shape[1]
        rng = np.random.default_rng([index, DEMO_TASKS.index(task)])
        if task == "unpaired":
            halves = ((0, width // 2), (width - width // 2, width))
            for domain, columns, grade in (("A", halves[0], None), ("B", halves[1], _sepia)):
                for k, crop in enumerate(_crops(photo, rng, CROPS_PER_PHOTO, columns)):
                    _save(root / f"{split}{domain}", f"{photo_name}_{k:02d}",
                          grade(crop) if grade else crop)
            continue
        for k, crop in enumerate(_crops(photo, rng, CROPS_PER_PHOTO, (0, width))):
            name = f"{photo_name}_{k:02d}"
            if task == "labels2photo":
                labels, instances = _labels(crop)
                _save(root / split / "labels", name, labels)
                _save(root / split / "instances", name, instances)
                _save(root / split / "images", name, crop)
            elif task == "enhance":
                _save(root / split / "A", name, _degrade(crop, rng))
                _save(root / split / "B", name, crop)
            else:
                _save(root / split, name, np.concatenate([_edges(crop), crop], axis=1))
    info = {"task": task, "version": DEMO_VERSION, "photos": DEMO_PHOTOS,
            "test_photos": TEST_PHOTOS, "crop": CROP, "crops_per_photo": CROPS_PER_PHOTO}
    (root / "demo.json").write_text(json.dumps(info, indent=1))


def cache_root() -> pathlib.Path:
    """``$ITGC_TF_CACHE`` if set, else ``~/.cache/itgc_tf``."""
    return pathlib.Path(os.environ.get("ITGC_TF_CACHE") or
                        pathlib.Path.home() / ".cache" / "itgc_tf")


def demo_dir(task: str) -> pathlib.Path:
    """Folder of demo ``task`` (enhance, edges2photo, unpaired, labels2photo), built at
    first use.

    The build writes to a temporary folder that is renamed into place, so an
    interrupted build never leaves a partial dataset.
    """
    if task not in DEMO_TASKS:
        raise errors.unknown_demo(task, DEMO_TASKS)
    final = cache_root() / "demo" / DEMO_VERSION / task
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix=f".{task}-", dir=final.parent))
    try:
        _build(task, staging)
        staging.rename(final)
    except OSError:
        if not final.is_dir():  # Lost a race with a concurrent build: use the winner's.
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final
