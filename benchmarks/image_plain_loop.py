"""Images, whole process: `transferkit finetune` against the plain PyTorch loop a user would write.

    .venv/bin/python benchmarks/image_plain_loop.py                      # 4,000 Fashion-MNIST images, 3 seeds
    .venv/bin/python benchmarks/image_plain_loop.py --seeds 42 --train-limit 2000

Both contenders fine-tune the same packaged ImageNet MobileNetV2 (transferkit's in-project module,
torchvision's parameter names: what `torchvision.models.mobilenet_v2(weights=...)` would give, which
cannot be installed next to CPU torch here) on the same split (image_fashion_mnist.splits: a
stratified subset, 1,000 validation and 2,000 test images), at 64 px, 1 epoch, batch 64, AdamW lr
2e-3, weight decay 0.05, 5 % warmup then cosine, and evaluate validation and test once at the end.

- plain: the PyTorch tutorial's shape: a `Dataset` whose `__getitem__` makes a PIL image, resizes it
  to 64 px, flips it at random, normalises it into a CHW tensor; `DataLoader(shuffle=True)`;
  NCHW fp32; `model.train()` / `loss.backward()` / `opt.step()` / `sched.step()`.
- transferkit: `transferkit.finetune(...)` with the same settings, the rest its defaults (images
  decoded once, channels-last, random resized crops).

Each runs as its own process, timed from outside (imports and data loading included), alternated
seed by seed. Results: benchmarks/results/image_plain_loop.json (medians and the ratio).
Needs the Debian package dataset-fashion-mnist.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _common import save

SETTINGS = {"image_size": 64, "epochs": 1, "batch_size": 64, "lr": 2e-3, "weight_decay": 0.05, "warmup_ratio": 0.05}


def plain(args) -> dict:
    import math

    import numpy as np
    import torch
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset

    from image_fashion_mnist import splits
    from transferkit.vision.backbones import backbone_for

    torch.manual_seed(args.seed)
    (tr_x, tr_y), (va_x, va_y), (te_x, te_y) = splits(args.train_limit, args.test_limit, args.seed)
    classes = sorted(set(tr_y))
    mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
    size = SETTINGS["image_size"]

    class Images(Dataset):
        def __init__(self, images, labels, train):
            self.images, self.labels, self.train = images, [classes.index(y) for y in labels], train

        def __len__(self):
            return len(self.images)

        def __getitem__(self, i):
            image = Image.fromarray(self.images[i]).convert("RGB").resize((size, size), Image.BILINEAR)
            if self.train and torch.rand(()) < 0.5:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
            x = (np.asarray(image, np.float32) / 255 - mean) / std
            return torch.from_numpy(x.transpose(2, 0, 1).copy()), self.labels[i]

    train = DataLoader(Images(tr_x, tr_y, True), batch_size=SETTINGS["batch_size"], shuffle=True,
                       num_workers=args.workers)
    model = backbone_for("mobilenet-v2", True, len(classes), 0.2)
    opt = torch.optim.AdamW(model.parameters(), lr=SETTINGS["lr"], weight_decay=SETTINGS["weight_decay"])
    total = len(train) * SETTINGS["epochs"]
    warmup = max(1, int(SETTINGS["warmup_ratio"] * total))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: (s + 1) / warmup if s < warmup else
                                              0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup))))
    model.train()
    for _ in range(SETTINGS["epochs"]):
        for x, y in train:
            loss = torch.nn.functional.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()

    def accuracy(images, labels):
        model.eval()
        right = 0
        with torch.no_grad():
            for x, y in DataLoader(Images(images, labels, False), batch_size=256, num_workers=args.workers):
                right += int((model(x).argmax(1) == y).sum())
        return right / len(images)

    return {"validation_accuracy": accuracy(va_x, va_y), "test_accuracy": accuracy(te_x, te_y)}


def transferkit_run(args) -> dict:
    import transferkit as tk
    from image_fashion_mnist import splits

    train, validation, test = splits(args.train_limit, args.test_limit, args.seed)
    run = tk.finetune("mobilenet-v2", train, validation, test, task="image-classification", seed=args.seed,
                      progress=False, **SETTINGS, **json.loads(args.tk_settings))
    return {"validation_accuracy": run.metrics["validation"]["accuracy"],
            "test_accuracy": run.metrics["test"]["accuracy"], "train_seconds": run.info["train_seconds"]}


def child(contender: str, args) -> dict:
    """One contender as a whole process, timed from here."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--contender", contender, "--seed", str(args.seed),
           "--train-limit", str(args.train_limit), "--test-limit", str(args.test_limit), "--workers", str(args.workers),
           "--tk-settings", args.tk_settings]
    t0 = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=Path(__file__).parent)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise SystemExit(f"{contender} failed:\n{done.stderr[-3000:]}")
    return {"contender": contender, "seed": args.seed, "whole_process_s": round(wall, 1),
            **json.loads(done.stdout.strip().splitlines()[-1])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--seed", type=int, default=42, help=argparse.SUPPRESS)
    ap.add_argument("--train-limit", type=int, default=4000)
    ap.add_argument("--test-limit", type=int, default=2000)
    ap.add_argument("--workers", type=int, default=0, help="plain loop DataLoader workers (2 cores: 0)")
    ap.add_argument("--tk-settings", default="{}", help='transferkit: more settings, JSON (e.g. \'{"crop_scale": 1}\')')
    ap.add_argument("--only", nargs="+", default=["plain", "transferkit"], choices=["plain", "transferkit"])
    ap.add_argument("--contender", choices=["plain", "transferkit"], help=argparse.SUPPRESS)
    ap.add_argument("--name", default="image_plain_loop")
    args = ap.parse_args()
    if args.contender:
        print(json.dumps((plain if args.contender == "plain" else transferkit_run)(args)))
        return
    rows = []
    for seed in args.seeds:
        args.seed = seed
        for contender in args.only:
            rows.append(child(contender, args))
            print(rows[-1], flush=True)
    summary = {}
    for contender in args.only:
        mine = [r for r in rows if r["contender"] == contender]
        summary[contender] = {key: statistics.median(r[key] for r in mine)
                              for key in ("whole_process_s", "validation_accuracy", "test_accuracy")}
    if len(summary) < 2:
        save(args.name, {"settings": {**SETTINGS, **json.loads(args.tk_settings)}, "rows": rows, "median": summary})
        return
    summary["speedup_whole_process"] = round(summary["plain"]["whole_process_s"]
                                             / summary["transferkit"]["whole_process_s"], 2)
    summary["test_accuracy_delta_pt"] = round(100 * (summary["transferkit"]["test_accuracy"]
                                                     - summary["plain"]["test_accuracy"]), 2)
    save(args.name, {"settings": {**SETTINGS, "transferkit": json.loads(args.tk_settings), "train": args.train_limit,
                                  "test": args.test_limit, "seeds": args.seeds, "workers": args.workers},
                     "rows": rows, "median": summary})


if __name__ == "__main__":
    main()
