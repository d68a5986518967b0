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


def box_scenes(n: int, seed: int, size: int = 64) -> tuple[np.ndarray, list[np.ndarray]]:
    """Noisy images with 1-2 bright squares each, yellow (class 0) or cyan (class 1), and their
    boxes [k, 5] (x1, y1, x2, y2, class)."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 80, size=(n, size, size, 3), dtype=np.uint8)
    targets = []
    for i in range(n):
        rows = []
        for _ in range(int(rng.integers(1, 3))):
            side = int(rng.integers(size // 5, size // 2.5))
            top, left = (int(v) for v in rng.integers(0, size - side, size=2))
            cls = int(rng.integers(2))
            images[i, top:top + side, left:left + side] = (230, 200, 40) if cls == 0 else (40, 210, 230)
            rows.append((left, top, left + side, top + side, cls))
        targets.append(np.asarray(rows, dtype=np.float32))
    return images, targets


def write_coco_folder(folder: Path, images: np.ndarray, targets: list[np.ndarray],
                      names=("yellow", "cyan")) -> str:
    """images/ + annotations.json (COCO: bbox as x, y, width, height; category ids from 1)."""
    import json

    from PIL import Image

    (Path(folder) / "images").mkdir(parents=True, exist_ok=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(names)]}
    for i, (image, boxes) in enumerate(zip(images, targets)):
        Image.fromarray(image).save(Path(folder) / "images" / f"{i}.png")
        doc["images"].append({"id": i + 1, "file_name": f"{i}.png", "width": image.shape[1], "height": image.shape[0]})
        for x1, y1, x2, y2, cls in boxes:
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": i + 1, "category_id": int(cls) + 1,
                                       "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                                       "area": float((x2 - x1) * (y2 - y1)), "iscrowd": 0})
    (Path(folder) / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return str(folder)
