"""Detection on synthetic scenes: a pretrained backbone vs the same architecture from random init.

    .venv/bin/python benchmarks/detection_scenes.py                    # 1,000 train / 200 val / 300 test
    .venv/bin/python benchmarks/detection_scenes.py --train 200 --epochs 2   # quick

No detection dataset ships on the package index that we know of, so scenes are made here,
deterministic from the seed, with segmentation_scenes.py's backgrounds: 1-4 Fashion-MNIST objects
(Debian `dataset-fashion-mnist`; test scenes use the *test* images) pasted at random scales
(28-72 px) on a 128 px textured background, tinted; each box is the tight box of the object's
silhouette (pixels above a threshold), and a placement that would hide more than a third of an
earlier box is drawn again, so every box stays mostly visible. COCO JSON (annotations.json).

Contenders at the same training budget (epochs, batch, lr; the defaults otherwise):
`finetune mobilenet-v2 --task detection` with the packaged ImageNet weights, and with
`--no-pretrained`. COCO mAP@[.5:.95] and mAP@.5 (pycocotools), training and inference images/s,
model size. JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from segmentation_scenes import GARMENTS, SIZE, _background, make_data, train_and_test

from _common import in_child, save


def _overlap(a, b) -> float:
    """The share of box b that box a covers."""
    w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    return w * h / max((b[2] - b[0]) * (b[3] - b[1]), 1)


def scene(objects: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, list]:
    from PIL import Image

    image, boxes = _background(rng), []
    for _ in range(int(rng.integers(1, 5))):
        k = int(rng.integers(len(objects)))
        side = int(rng.integers(28, 73))
        glyph = np.asarray(Image.fromarray(objects[k]).resize((side, side), Image.Resampling.BILINEAR), np.float32)
        ys, xs = np.nonzero(glyph > 60)
        if len(xs) == 0:
            continue
        for _ in range(20):
            top, left = (int(v) for v in rng.integers(0, SIZE - side, size=2))
            box = [left + xs.min(), top + ys.min(), left + xs.max() + 1, top + ys.max() + 1]
            if all(_overlap(box, b[:4]) < 1 / 3 for b in boxes):
                break
        else:
            continue
        alpha = np.clip(glyph / 255 * 1.6, 0, 1)[..., None]
        tint = rng.uniform(80, 255, size=3)
        region = image[top:top + side, left:left + side]
        image[top:top + side, left:left + side] = (1 - alpha) * region + alpha * tint * (0.4 + 0.6 * glyph[..., None] / 255)
        boxes.append([*box, int(classes[k])])
    return image.astype(np.uint8), boxes


def make_split(folder: Path, count: int, objects, classes, seed: int) -> str:
    from PIL import Image

    rng = np.random.default_rng(seed)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    doc = {"images": [], "annotations": [], "categories": [{"id": i + 1, "name": n} for i, n in enumerate(GARMENTS)]}
    for i in range(count):
        image, boxes = scene(objects, classes, rng)
        Image.fromarray(image).save(folder / "images" / f"{i:05d}.png")
        doc["images"].append({"id": i + 1, "file_name": f"{i:05d}.png", "width": SIZE, "height": SIZE})
        for x1, y1, x2, y2, c in boxes:
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": i + 1, "category_id": c + 1,
                                       "bbox": [float(x1), float(y1), float(x2 - x1), float(y2 - y1)],
                                       "area": float((x2 - x1) * (y2 - y1)), "iscrowd": 0})
    (folder / "annotations.json").write_text(json.dumps(doc), encoding="utf-8")
    return str(folder)


def run(paths: dict, out: str, pretrained: bool, epochs: float, batch_size: int, lr: float | None) -> dict:
    result, metrics, timings = train_and_test(paths, out, "detection", pretrained, epochs, batch_size, lr)
    return {"test_map": metrics["map"], "test_map_50": metrics["map_50"], "test_map_75": metrics["map_75"],
            "per_class_ap50": metrics["per_class_ap50"], "validation_map": result.metrics["validation"]["map"],
            "test_objects": metrics["objects"], **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=8)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=None, help="both contenders (default: the task's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="detection_scenes")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="det-scenes-"))
    try:
        paths = make_data(work, {"train": args.train, "validation": args.validation, "test": args.test}, args.seed,
                          make_split)
        results = {}
        for name, pretrained in (("pretrained", True), ("random_init", False)):
            t0 = time.perf_counter()
            results[name] = in_child(run, paths, str(work / name), pretrained, args.epochs, args.batch_size, args.lr)
            print(f"{name}: {results[name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
            gains = None
            if "random_init" in results:
                gains = {m: round(100 * (results["pretrained"][f"test_{m}"] - results["random_init"][f"test_{m}"]), 2)
                         for m in ("map", "map_50")}
            save(args.name, {"settings": vars(args), "results": results, "gain_points": gains})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
