"""What an image backbone expects of its input, without torch (an exported run preprocesses with numpy)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class InputSpec:
    """What a backbone expects: a square `image_size` crop of an image whose shorter side was
    resized to `resize_size`, pixels in [0, 1] normalised per channel with mean/std."""

    image_size: int = 224
    resize_size: int = 256
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    interpolation: str = "bilinear"  # bilinear | bicubic | nearest

    @classmethod
    def from_image_input(cls, inputs: Any) -> InputSpec:
        """From a `transferkit.sources.ImageInput` (the catalog's spec) or any object with its fields."""
        return cls(image_size=int(inputs.image_size), resize_size=int(inputs.resize_size),
                   mean=tuple(float(v) for v in inputs.mean), std=tuple(float(v) for v in inputs.std),
                   interpolation=str(inputs.interpolation))

    @property
    def crop_pct(self) -> float:
        return self.image_size / self.resize_size

    def resized(self, image_size: int | None) -> InputSpec:
        """The same preprocessing at another crop size (same crop fraction): e.g. 64 px for 28 px digits."""
        if not image_size or image_size == self.image_size:
            return self
        return replace(self, image_size=int(image_size), resize_size=int(round(image_size / self.crop_pct)))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> InputSpec:
        return cls(int(d["image_size"]), int(d["resize_size"]), tuple(d["mean"]), tuple(d["std"]),
                   str(d.get("interpolation", "bilinear")))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["mean"], d["std"] = list(self.mean), list(self.std)
        return d


def eval_arrays(pixels: np.ndarray, spec: InputSpec) -> np.ndarray:
    """`augment.eval_batch` in numpy: the centre crop of stored uint8 squares [B, H, W, C] as
    normalised float32 [B, 3, size, size] (grayscale repeated to 3 channels)."""
    size, (h, w) = spec.image_size, pixels.shape[1:3]
    if size > min(h, w):  # a frame smaller than the crop (not what decode stores): resize it
        from .decode import _pil

        image = _pil()
        pixels = np.stack([np.asarray(image.fromarray(p.squeeze(-1) if p.shape[-1] == 1 else p).resize(
            (size, size), image.BILINEAR)).reshape(size, size, -1) for p in pixels])
        h = w = size
    top, left = (h - size) // 2, (w - size) // 2
    x = pixels[:, top:top + size, left:left + size].astype(np.float32).transpose(0, 3, 1, 2) / np.float32(255)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    mean = np.asarray(spec.mean, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(spec.std, dtype=np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)
