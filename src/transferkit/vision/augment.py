"""Batch image transforms in torch, every random draw from one numpy Generator.

The training loop hands `collate` a Generator seeded by (seed, epoch, batch, process), so a
resumed run draws exactly the same crops, flips and mixes as an uninterrupted one. Geometric
steps (random resized crop, flip, RandAugment's rotate/shear/translate) are folded into one
affine map per image and applied with a single `grid_sample` over the batch; colour steps are
per-image factors applied to the whole batch at once. Inputs are the stored uint8 squares
[B, S, S, C]; outputs float [B, 3, size, size] in [0, 1], normalised by `normalise`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

GEOMETRIC = ("rotate", "shear_x", "shear_y", "translate_x", "translate_y")
COLOUR = ("brightness", "contrast", "color", "sharpness", "posterize", "solarize", "autocontrast")
RAND_OPS = ("identity", *GEOMETRIC, *COLOUR)
GRAY = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)


@dataclass(frozen=True)
class AugmentSettings:
    crop_scale: float = 0.35  # smallest crop area (fraction) of the random resized crop; 1: no crop
    hflip: bool = True
    color_jitter: float = 0.2  # brightness/contrast/saturation factors drawn from [1 - j, 1 + j]
    randaugment: int = 0  # RandAugment ops per image (0: off)
    magnitude: float = 5.0  # of 10: "light"
    mixup: float = 0.0  # Beta(alpha, alpha) of mixup (0: off)
    cutmix: float = 0.0  # Beta(alpha, alpha) of cutmix (0: off); with mixup, one of the two per batch


def to_float(pixels: torch.Tensor) -> torch.Tensor:
    """uint8 [B, H, W, C] -> float [B, 3, H, W] in [0, 1]; grayscale is repeated to 3 channels."""
    x = pixels.permute(0, 3, 1, 2).float().div_(255)
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def center_crop(pixels: torch.Tensor, size: int) -> torch.Tensor:
    """The evaluation transform: the centre `size` square of the stored frame."""
    x = to_float(pixels)
    h, w = x.shape[-2:]
    if size > min(h, w):
        return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    top, left = (h - size) // 2, (w - size) // 2
    return x[..., top:top + size, left:left + size]


def normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    return (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def _crop_boxes(n: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """[n, 4] (half-width, half-height, centre x, centre y) in [-1, 1] coordinates (torchvision's sampling)."""
    boxes = np.tile([1.0, 1.0, 0.0, 0.0], (n, 1))
    if scale >= 1:
        return boxes
    for i in range(n):
        for _ in range(10):
            area = rng.uniform(scale, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            w, h = math.sqrt(area * ratio), math.sqrt(area / ratio)
            if w <= 1 and h <= 1:
                boxes[i] = (w, h, rng.uniform(-(1 - w), 1 - w), rng.uniform(-(1 - h), 1 - h))
                break
    return boxes


def _rand_ops(n: int, settings: AugmentSettings, rng: np.random.Generator) -> list[dict[str, float]]:
    """Per image: RandAugment op -> signed strength in [-1, 1] (scaled by magnitude / 10)."""
    ops: list[dict[str, float]] = [{} for _ in range(n)]
    if settings.randaugment <= 0:
        return ops
    level = settings.magnitude / 10
    choice = rng.integers(len(RAND_OPS), size=(n, settings.randaugment))
    signs = rng.choice([-1.0, 1.0], size=(n, settings.randaugment))
    for i in range(n):
        for op, sign in zip(choice[i], signs[i]):
            ops[i][RAND_OPS[op]] = sign * level
    return ops


def _affine(boxes: np.ndarray, flips: np.ndarray, ops: list[dict[str, float]]) -> torch.Tensor:
    """[n, 2, 3] maps from output to input coordinates: crop/flip after rotate/shear/translate."""
    thetas = np.zeros((len(boxes), 2, 3))
    for i, ((w, h, cx, cy), flip, op) in enumerate(zip(boxes, flips, ops)):
        crop = np.array([[w * (-1 if flip else 1), 0, cx], [0, h, cy], [0, 0, 1]])
        angle = math.radians(30 * op.get("rotate", 0))
        geo = np.array([[math.cos(angle), -math.sin(angle), 0], [math.sin(angle), math.cos(angle), 0], [0, 0, 1]])
        geo = geo @ np.array([[1, 0.3 * op.get("shear_x", 0), 0], [0.3 * op.get("shear_y", 0), 1, 0], [0, 0, 1]])
        geo[0, 2], geo[1, 2] = 0.9 * op.get("translate_x", 0), 0.9 * op.get("translate_y", 0)
        thetas[i] = (crop @ geo)[:2]
    return torch.from_numpy(thetas).float()


def _per_image(values, default: float = 1.0) -> torch.Tensor:
    return torch.tensor([default if v is None else v for v in values], dtype=torch.float32).view(-1, 1, 1, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * GRAY).sum(1, keepdim=True)


def _colour(x: torch.Tensor, ops: list[dict[str, float]], jitter: float, rng: np.random.Generator) -> torch.Tensor:
    n = len(x)
    if jitter > 0:
        b, c, s = (torch.from_numpy(rng.uniform(1 - jitter, 1 + jitter, n)).float().view(-1, 1, 1, 1) for _ in range(3))
        x = (x * b).clamp(0, 1)
        mean = _gray(x).mean(dim=(2, 3), keepdim=True)
        x = ((x - mean) * c + mean).clamp(0, 1)
        gray = _gray(x)
        x = ((x - gray) * s + gray).clamp(0, 1)
    if not any(ops):
        return x
    strength = {name: [op.get(name) for op in ops] for name in COLOUR}
    if any(v is not None for v in strength["brightness"]):
        x = (x * (1 + 0.9 * _per_image(strength["brightness"], 0.0))).clamp(0, 1)
    if any(v is not None for v in strength["contrast"]):
        mean = _gray(x).mean(dim=(2, 3), keepdim=True)
        x = ((x - mean) * (1 + 0.9 * _per_image(strength["contrast"], 0.0)) + mean).clamp(0, 1)
    if any(v is not None for v in strength["color"]):
        gray = _gray(x)
        x = ((x - gray) * (1 + 0.9 * _per_image(strength["color"], 0.0)) + gray).clamp(0, 1)
    if any(v is not None for v in strength["sharpness"]):
        blurred = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
        x = (blurred + (x - blurred) * (1 + 0.9 * _per_image(strength["sharpness"], 0.0))).clamp(0, 1)
    masks = {name: torch.tensor([v is not None for v in strength[name]]).view(-1, 1, 1, 1) for name in COLOUR[4:]}
    if masks["posterize"].any():  # keep 6 bits at magnitude 5
        bits = 8 - 4 * abs(next(v for v in strength["posterize"] if v is not None))
        step = 2 ** (8 - int(round(bits)))
        x = torch.where(masks["posterize"], torch.floor(x * 255 / step) * step / 255, x)
    if masks["solarize"].any():  # invert the pixels above a threshold (0.5 at magnitude 5)
        threshold = 1 - abs(next(v for v in strength["solarize"] if v is not None))
        x = torch.where(masks["solarize"] & (x >= threshold), 1 - x, x)
    if masks["autocontrast"].any():
        lo, hi = x.amin(dim=(2, 3), keepdim=True), x.amax(dim=(2, 3), keepdim=True)
        x = torch.where(masks["autocontrast"], ((x - lo) / (hi - lo).clamp_min(1e-3)).clamp(0, 1), x)
    return x


def train_batch(pixels: torch.Tensor, size: int, settings: AugmentSettings, rng: np.random.Generator) -> torch.Tensor:
    """Augmented float images [B, 3, size, size] in [0, 1] from stored uint8 squares."""
    x = to_float(pixels)
    n = len(x)
    boxes = _crop_boxes(n, settings.crop_scale, rng)
    flips = rng.random(n) < 0.5 if settings.hflip else np.zeros(n, dtype=bool)
    ops = _rand_ops(n, settings, rng)
    grid = F.affine_grid(_affine(boxes, flips, ops), [n, 3, size, size], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return _colour(x, ops, settings.color_jitter, rng)


def _crop_grid(n: int, size: int, scale: float, hflip: bool, rng: np.random.Generator):
    """One random resized crop and flip per image: (crops, flips, the sampling grid)."""
    crops = _crop_boxes(n, scale, rng)
    flips = rng.random(n) < 0.5 if hflip else np.zeros(n, dtype=bool)
    grid = F.affine_grid(_affine(crops, flips, [{} for _ in range(n)]), [n, 3, size, size], align_corners=False)
    return crops, flips, grid


def joint_batch(pixels: torch.Tensor, masks: torch.Tensor, scale: float, hflip: bool,
                rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Dense tasks: one random resized crop and flip per image applied to its pixels (bilinear) and
    its mask (nearest, so class indices stay classes). uint8 [B, S, S, C], [B, S, S] ->
    float [B, 3, S, S] in [0, 1], long [B, S, S]."""
    x = to_float(pixels)
    _, _, grid = _crop_grid(len(x), x.shape[-1], scale, hflip, rng)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    m = F.grid_sample(masks[:, None].float(), grid, mode="nearest", padding_mode="border", align_corners=False)
    return x, m[:, 0].round().long()


def box_batch(pixels: torch.Tensor, boxes: list[np.ndarray], labels: list[np.ndarray], scale: float, hflip: bool,
              rng: np.random.Generator) -> tuple[torch.Tensor, list[np.ndarray], list[np.ndarray]]:
    """Detection: one random resized crop and flip per image, its boxes moved with it, clipped to the
    crop, and dropped when less than a third of a box stays in view (or it gets thinner than 2 px)."""
    x = to_float(pixels)
    size = x.shape[-1]
    crops, flips, grid = _crop_grid(len(x), size, scale, hflip, rng)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out_boxes, out_labels = [], []
    for (w, h, cx, cy), flip, b, y in zip(crops, flips, boxes, labels):
        u = b / size * 2 - 1  # to [-1, 1], then through the inverse of the crop's map
        o = np.stack([(u[:, 0] - cx) / w, (u[:, 1] - cy) / h, (u[:, 2] - cx) / w, (u[:, 3] - cy) / h], 1)
        if flip:
            o[:, [0, 2]] = -o[:, [2, 0]]
        moved = (o + 1) / 2 * size
        clipped = np.clip(moved, 0, size)
        area = lambda c: (c[:, 2] - c[:, 0]).clip(0) * (c[:, 3] - c[:, 1]).clip(0)
        keep = (area(clipped) >= area(moved) / 3) & (clipped[:, 2] - clipped[:, 0] >= 2) & \
            (clipped[:, 3] - clipped[:, 1] >= 2)
        out_boxes.append(clipped[keep].astype(np.float32))
        out_labels.append(y[keep])
    return x, out_boxes, out_labels


def mix(x: torch.Tensor, labels: torch.Tensor, num_classes: int, settings: AugmentSettings,
        rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Mixup or cutmix of a batch with a shuffled copy of itself: (images, soft targets) or (x, None)."""
    kinds = [k for k, alpha in (("mixup", settings.mixup), ("cutmix", settings.cutmix)) if alpha > 0]
    if not kinds or len(x) < 2:
        return x, None
    kind = kinds[int(rng.integers(len(kinds)))]
    lam = float(rng.beta(getattr(settings, kind), getattr(settings, kind)))
    perm = torch.from_numpy(rng.permutation(len(x)))
    if kind == "mixup":
        x = lam * x + (1 - lam) * x[perm]
    else:
        h, w = x.shape[-2:]
        ch, cw = int(h * math.sqrt(1 - lam)), int(w * math.sqrt(1 - lam))
        cy, cx = int(rng.integers(h)), int(rng.integers(w))
        y0, y1, x0, x1 = max(cy - ch // 2, 0), min(cy + ch // 2, h), max(cx - cw // 2, 0), min(cx + cw // 2, w)
        x = x.clone()
        x[..., y0:y1, x0:x1] = x[perm][..., y0:y1, x0:x1]
        lam = 1 - (y1 - y0) * (x1 - x0) / (h * w)  # the area actually pasted
    onehot = F.one_hot(labels, num_classes).float()
    return x, lam * onehot + (1 - lam) * onehot[perm]


def eval_batch(pixels: torch.Tensor, spec) -> torch.Tensor:
    """What a model sees at evaluation: the centre crop of the stored squares, normalised, NHWC.

    channels_last: PyTorch's CPU kernels for depthwise/1x1 convs are several times faster in NHWC."""
    x = normalise(center_crop(pixels, spec.image_size), spec.mean, spec.std)
    return x.contiguous(memory_format=torch.channels_last)
