"""Distillation on Fashion-MNIST: a fine-tuned EfficientNet-Lite2 teacher -> MobileNetV2, against the control.

    .venv/bin/python benchmarks/distill_fashion_mnist.py                         # 10k train images, 64 px
    .venv/bin/python benchmarks/distill_fashion_mnist.py --train-limit 60000 --epochs 2

Same splits as image_fashion_mnist.py (a stratified train subset, 1000 validation images, the
full 10k test set). The teacher is fine-tuned first, for `--teacher-epochs` (a teacher weaker
than the student's own fine-tuning has nothing to teach: with one epoch Lite2 at 64 px scores
below MobileNetV2 trained alone); the student (`--student`, a registry
model) is distilled with soft labels from the teacher judging each augmented view the student
sees (`--teacher-outputs live`) or cached on the un-augmented images (`cached`); the control is
the same student fine-tuned on labels alone, same budget. Needs dataset-fashion-mnist (Debian).
Results: benchmarks/results/distill_fashion_mnist.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from image_fashion_mnist import splits

from _common import in_child, peak_rss_mb, save


def settings(args) -> dict:
    return dict(image_size=args.image_size, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                schedule="cosine", warmup_ratio=0.05, weight_decay=0.05, crop_scale=0.6, color_jitter=0.1,
                seed=args.seed, precision="fp32", progress=False, eval_batch_size=256, overwrite=True)


def train_teacher(args) -> dict:
    import torch

    import transferkit as tk

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    run = tk.finetune(args.teacher, *splits(args.train_limit, None, args.seed), task="image-classification",
                      output=str(Path(args.workdir) / "teacher"), **{**settings(args), "epochs": args.teacher_epochs})
    return {"model": args.teacher, "train_seconds": run.info["train_seconds"],
            "total_seconds": round(time.perf_counter() - t0, 1), "test_accuracy": run.metrics["test"]["accuracy"],
            "run_dir": str(run.run_dir), "peak_rss_mb": peak_rss_mb()}


def distil(args, teacher_dir: str) -> dict:
    import torch

    import transferkit as tk

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    run = tk.distill(teacher_dir, args.student, *splits(args.train_limit, None, args.seed),
                     output=str(Path(args.workdir) / "student"), temperature=args.temperature, alpha=args.alpha,
                     teacher_outputs=args.teacher_outputs, **settings(args))
    return {"comparison": run.comparison, "info": {k: run.info[k] for k in ("transfer_set", "train_seconds",
                                                                            "teacher_outputs")},
            "total_seconds": round(time.perf_counter() - t0, 1), "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--teacher", default="efficientnet-lite2")
    ap.add_argument("--student", default="mobilenet-v2")
    ap.add_argument("--train-limit", type=int, default=10000)
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--teacher-epochs", type=int, default=3, help="a teacher worth learning from trains longer")
    ap.add_argument("--epochs", type=int, default=1, help="student (and control) epochs")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--temperature", type=float, default=2.0)
    ap.add_argument("--alpha", type=float, default=0.5)
    ap.add_argument("--teacher-outputs", default="live", choices=["live", "cached"])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--workdir", default="/tmp/transferkit-distill-fmnist")
    ap.add_argument("--name", default="distill_fashion_mnist")
    args = ap.parse_args()

    result: dict = {"settings": vars(args)}
    result["teacher"] = in_child(train_teacher, args)
    print("teacher", result["teacher"], flush=True)
    result["distill"] = in_child(distil, args, result["teacher"]["run_dir"])
    save(args.name, result)


if __name__ == "__main__":
    main()
