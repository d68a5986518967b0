"""Decoding images once: every image as a uint8 square at the backbone's resize size.

An unreadable image is found here, before training (skipped with one counted warning, or an
error naming the file), never in the middle of an epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data.files import decode_each
from ..errors import DataError
from .images import IMAGES, ImageExamples


@dataclass
class DecodedImages:
    """What the engine batches: uint8 squares [N, S, S, C] (C = 1 when every image is grayscale)."""

    pixels: np.ndarray
    labels: np.ndarray | None
    names: list[str]

    @property
    def lengths(self) -> np.ndarray:  # every image costs the same
        return np.ones(len(self.pixels), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pixels)


_RESAMPLE = {"bilinear": 2, "bicubic": 3, "nearest": 0}  # PIL.Image.Resampling values


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("images need Pillow, which is not installed; pip install 'transferkit[image]'") from None
    return Image


def to_pil(item):
    """A PIL image (mode L or RGB) from a path, an array [H, W(, C)] (uint8, or floats in [0, 1]) or PIL image."""
    Image = _pil()

    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as img:
            img.load()  # decode now: a truncated file fails here, inside the caller's try
            return _to_mode(img)
    if isinstance(item, Image.Image):
        return _to_mode(item)
    arr = np.asarray(item)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an image array [H, W] or [H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).round().astype(np.uint8)
    return _to_mode(Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr))


def _to_mode(img):
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit/float grayscale: scale, do not clip
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if arr.max(initial=0) > 255 else 1.0
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8))
    if img.mode in ("L", "1", "LA"):
        return img.convert("L")
    return img.convert("RGB")


def fit_square(img, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """Shorter side resized to `size`, centre square kept: the eval crop's frame, stored once."""
    from PIL import ImageOps

    fitted = ImageOps.fit(img, (size, size), method=_RESAMPLE.get(interpolation, 2))
    arr = np.asarray(fitted, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def decode(examples: ImageExamples, size: int, interpolation: str = "bilinear", bad_images: str = "skip") -> DecodedImages:
    """Every image as a `size` square; unreadable ones skipped (one warning with the count) or an error."""
    _pil()  # a missing Pillow is an install problem, not a thousand unreadable images
    kept, arrays = decode_each(examples, lambda item: fit_square(to_pil(item), size, interpolation), IMAGES,
                               bad_images, "--bad-images")
    channels = max(a.shape[-1] for a in arrays)
    pixels = np.empty((len(arrays), size, size, channels), dtype=np.uint8)
    for j, a in enumerate(arrays):
        pixels[j] = a  # grayscale broadcasts to 3 channels when the set mixes both
    labels = None if examples.labels is None else examples.labels[np.asarray(kept, dtype=np.int64)]
    names = examples.names
    return DecodedImages(pixels, labels, [names[i] for i in kept])
