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
