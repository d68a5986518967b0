"""Segmentation on synthetic scenes: a pretrained backbone vs the same architecture from random init.

    .venv/bin/python benchmarks/segmentation_scenes.py                    # 1,000 train / 200 val / 300 test
    .venv/bin/python benchmarks/segmentation_scenes.py --train 200 --epochs 2   # quick
    .venv/bin/python benchmarks/segmentation_scenes.py --decoders lraspp aspp unet --name segmentation_decoders

No segmentation dataset ships on the package index that we know of, so scenes are made here,
deterministic from the seed: 1-4 Fashion-MNIST objects (Debian `dataset-fashion-mnist`; the test
scenes use the *test* images) pasted at random scales (28-72 px) and positions on a textured
background (smoothed colour noise with stripes), later objects over earlier ones; each object is
tinted a random colour and its mask is its own silhouette (pixels above a threshold), so masks are
exact. Classes: background + the 10 garment classes. Images 128 px.

Contenders at the same training budget (epochs, batch, lr; the defaults otherwise):
`finetune mobilenet-v2 --task segmentation` with the packaged ImageNet weights, and with
`--no-pretrained`. mIoU, pixel accuracy, training and inference images/s, model size.
JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import in_child, peak_rss_mb, save

SIZE = 128
GARMENTS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")


def _background(rng: np.random.Generator) -> np.ndarray:
    from PIL import Image, ImageFilter

    noise = rng.integers(0, 256, size=(SIZE // 8, SIZE // 8, 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(noise).resize((SIZE, SIZE), Image.Resampling.BICUBIC)
                      .filter(ImageFilter.GaussianBlur(2)), dtype=np.float32)
    period, angle = rng.uniform(6, 20), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    stripes = 30 * np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period)
    return np.clip(0.6 * base + stripes[..., None] + 40, 0, 255)


def scene(objects: np.ndarray, classes: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    image, mask = _background(rng), np.zeros((SIZE, SIZE), np.uint8)
    for _ in range(int(rng.integers(1, 5))):
        k = int(rng.integers(len(objects)))
        side = int(rng.integers(28, 73))
        glyph = np.asarray(Image.fromarray(objects[k]).resize((side, side), Image.Resampling.BILINEAR), np.float32)
        top, left = rng.integers(0, SIZE - side, size=2)
        alpha = np.clip(glyph / 255 * 1.6, 0, 1)[..., None]
        tint = rng.uniform(80, 255, size=3)
        region = image[top:top + side, left:left + side]
        image[top:top + side, left:left + side] = (1 - alpha) * region + alpha * tint * (0.4 + 0.6 * glyph[..., None] / 255)
        mask[top:top + side, left:left + side][glyph > 60] = int(classes[k]) + 1
    return image.astype(np.uint8), mask


def make_split(folder: Path, count: int, objects, classes, seed: int) -> str:
    from PIL import Image

    rng = np.random.default_rng(seed)
    for sub in ("images", "masks"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for i in range(count):
        image, mask = scene(objects, classes, rng)
        Image.fromarray(image).save(folder / "images" / f"{i:05d}.png")
        Image.fromarray(mask).save(folder / "masks" / f"{i:05d}.png")
    (folder / "classes.txt").write_text("\n".join(("background", *GARMENTS)) + "\n", encoding="utf-8")
    return str(folder)


def make_data(work: Path, sizes: dict, seed: int, make_split=make_split) -> dict:
    """Scenes for each split (`make_split` writes one: masks here, boxes in detection_scenes.py)."""
    from transferkit.vision.images import load_images

    t0 = time.perf_counter()
    train, test = load_images("fashion_mnist:train"), load_images("fashion_mnist:test")
    pools = {"train": train, "validation": train, "test": test}
    paths = {}
    for i, (split, n) in enumerate(sizes.items()):
        ex = pools[split]
        items = np.stack([np.asarray(x) for x in ex.items]) if not isinstance(ex.items, np.ndarray) else ex.items
        paths[split] = make_split(work / split, n, items, np.asarray(ex.labels), seed + i)
    print(f"made {sum(sizes.values())} scenes in {time.perf_counter() - t0:.0f} s", flush=True)
    return paths


def train_and_test(paths: dict, out: str, task: str, pretrained: bool, epochs: float, batch_size: int,
                   lr: float | None, **settings) -> tuple[object, dict, dict]:
    """Fine-tune mobilenet-v2 for `task`, score the saved run on the test scenes: (run, test metrics, timings)."""
    from transferkit.methods.finetune import finetune
    from transferkit.runs import load_run

    extra = {"lr": lr} if lr else {}
    t0 = time.perf_counter()
    result = finetune("mobilenet-v2", paths["train"], paths["validation"], task=task, output=out,
                      epochs=epochs, batch_size=batch_size, pretrained=pretrained, overwrite=True, progress=False,
                      report=False, **extra, **settings)
    train_wall = time.perf_counter() - t0
    loaded = load_run(out)
    t1 = time.perf_counter()
    metrics = loaded.evaluate(paths["test"])
    test_wall = time.perf_counter() - t1
    n_train, n_test = len(list(Path(paths["train"], "images").glob("*.png"))), metrics["n"]
    size = sum(p.stat().st_size for p in Path(out, "model").iterdir())
    return result, metrics, {
        "train_seconds": result.info["train_seconds"], "whole_process_s": round(train_wall, 1),
        "train_images_per_s": round(n_train * epochs / result.info["train_seconds"], 1),
        "inference_images_per_s": round(n_test / test_wall, 1), "model_mb": round(size / 1e6, 2),
        "lr": result.config.lr, "image_size": result.config.image_size, "peak_rss_mb": peak_rss_mb()}


def run(paths: dict, out: str, pretrained: bool, epochs: float, batch_size: int, lr: float | None,
        decoder: str = "lraspp") -> dict:
    result, metrics, timings = train_and_test(paths, out, "segmentation", pretrained, epochs, batch_size, lr,
                                              decoder=decoder)
    return {"test_miou": metrics["miou"], "test_pixel_accuracy": metrics["pixel_accuracy"],
            "per_class_iou": metrics["per_class_iou"], "validation_miou": result.metrics["validation"]["miou"],
            **timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000)
    parser.add_argument("--validation", type=int, default=200)
    parser.add_argument("--test", type=int, default=300)
    parser.add_argument("--epochs", type=float, default=5)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--lr", type=float, default=None, help="both contenders (default: the task's default)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="segmentation_scenes")
    parser.add_argument("--decoders", nargs="+", default=None, choices=["lraspp", "aspp", "unet"],
                        help="instead: the pretrained backbone with each of these decoders")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="seg-scenes-"))
    try:
        paths = make_data(work, {"train": args.train, "validation": args.validation, "test": args.test}, args.seed)
        results = {}
        if args.decoders:
            for decoder in args.decoders:
                t0 = time.perf_counter()
                results[decoder] = in_child(run, paths, str(work / decoder), True, args.epochs, args.batch_size,
                                            args.lr, decoder)
                print(f"{decoder}: {results[decoder]} ({time.perf_counter() - t0:.0f} s)", flush=True)
                save(args.name, {"settings": vars(args), "results": results})
            return
        for name, pretrained in (("pretrained", True), ("random_init", False)):
            t0 = time.perf_counter()
            results[name] = in_child(run, paths, str(work / name), pretrained, args.epochs, args.batch_size, args.lr)
            print(f"{name}: {results[name]} ({time.perf_counter() - t0:.0f} s)", flush=True)
            gain = None
            if "random_init" in results:
                gain = round(100 * (results["pretrained"]["test_miou"] - results["random_init"]["test_miou"]), 2)
            save(args.name, {"settings": vars(args), "results": results, "miou_gain_points": gain})
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
