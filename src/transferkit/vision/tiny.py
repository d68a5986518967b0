"""Tiny learnable image data: what the contract tests of image tasks run on."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def colour_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Reddish vs bluish noisy 24x24 squares: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 90, size=(n, 24, 24, 3), dtype=np.uint8)
    y = np.arange(n) % 2
    X[y == 0, ..., 0] = 230
    X[y == 1, ..., 2] = 230
    return X, np.where(y == 0, "red", "blue")


def write_image_folder(folder: Path, images: np.ndarray, labels: np.ndarray) -> str:
    """An ImageFolder (one sub-folder of PNGs per class)."""
    from PIL import Image

    for i, (image, label) in enumerate(zip(images, labels)):
        (Path(folder) / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(Path(folder) / str(label) / f"{i}.png")
    return str(folder)


def square_scenes(n: int, seed: int, size: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Noisy images with one bright square each and its mask (0 background, 1 square)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(n, size, size, 3), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    for i in range(n):
        side = int(rng.integers(size // 4, size // 2))
        top, left = rng.integers(0, size - side, size=2)
        images[i, top:top + side, left:left + side] = (230, 200, 40)
        masks[i, top:top + side, left:left + side] = 1
    return images, masks


def write_mask_folder(folder: Path, images: np.ndarray, masks: np.ndarray, names=("background", "square")) -> str:
    """images/ + masks/ (PNG class indices, same file names) + classes.txt."""
    from PIL import Image

    for sub in ("images", "masks"):
        (Path(folder) / sub).mkdir(parents=True, exist_ok=True)
    for i, (image, mask) in enumerate(zip(images, masks)):
        Image.fromarray(image).save(Path(folder) / "images" / f"{i}.png")
        Image.fromarray(mask).save(Path(folder) / "masks" / f"{i}.png")
    (Path(folder) / "classes.txt").write_text("\n".join(names) + "\n", encoding="utf-8")
    return str(folder)
