"""Small image datasets written by the tests themselves, for the data-pipeline tests.

Every pair has B = 255 - A (exactly, lossless formats), so after any correct crop /
flip / resize the pipeline's outputs satisfy A + B == 0 in [-1, 1]. With ``ids``
every image is uniform with value `id_value(i)`, so an output tells which example
it came from.
"""
import pathlib

import numpy as np
import pytest
from PIL import Image


def id_value(index: int) -> int:
    """Pixel value of example ``index`` in an ``ids`` dataset."""
    return 10 + 8 * index


def example_ids(batch: np.ndarray) -> list[int]:
    """Example indices of a batch [B, H, W, C] in [-1, 1] from an ``ids`` dataset."""
    values = (batch.reshape(batch.shape[0], -1).mean(axis=1) + 1.0) * 127.5
    return [int(round((v - 10) / 8)) for v in values]


def random_image(rng: np.random.Generator, height: int, width: int, channels: int = 3):
    """uint8 [H, W, C] uniform noise (C=1 squeezed to [H, W]), seeded by ``rng``."""
    image = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return image[..., 0] if channels == 1 else image


def write_image(path: pathlib.Path, image: np.ndarray) -> pathlib.Path:
    """Write a uint8 [H, W] or [H, W, 3] array; format from the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def make_dataset(root: pathlib.Path, layout: str, split: str = "train", n: int = 6,
                 size: tuple[int, int] = (24, 32), n_b: int | None = None, ids: bool = False,
                 ext_a: str = ".png", ext_b: str = ".png", seed: int = 0) -> pathlib.Path:
    """Write ``n`` examples (``n_b`` in domain B if unpaired) of ``size`` (H, W per image)
    in ``layout`` (aligned, folders, unpaired) under ``root``; returns ``root``."""
    rng = np.random.default_rng(seed)
    height, width = size

    def image(i):
        if ids:
            return np.full((height, width, 3), id_value(i), np.uint8)
        return random_image(rng, height, width)

    for i in range(n):
        a = image(i)
        name = f"img{i:03d}"
        if layout == "aligned":
            write_image(root / split / f"{name}{ext_a}", np.concatenate([a, 255 - a], axis=1))
        elif layout == "folders":
            write_image(root / split / "A" / f"{name}{ext_a}", a)
            write_image(root / split / "B" / f"{name}{ext_b}", 255 - a)
        else:
            write_image(root / f"{split}A" / f"{name}{ext_a}", a)
    if layout == "unpaired":
        for i in range(n if n_b is None else n_b):
            write_image(root / f"{split}B" / f"img{i:03d}{ext_b}", 255 - image(i))
    return root


@pytest.fixture(scope="session")
def demo_cache_dir(tmp_path_factory) -> pathlib.Path:
    """One demo cache for the whole test session (each task is built once)."""
    return tmp_path_factory.mktemp("itgc_tf_cache")


@pytest.fixture
def demo_cache(demo_cache_dir, monkeypatch) -> pathlib.Path:
    """Point ``$ITGC_TF_CACHE`` at the session's demo cache for one test."""
    monkeypatch.setenv("ITGC_TF_CACHE", str(demo_cache_dir))
    return demo_cache_dir
