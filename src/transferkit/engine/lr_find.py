"""The learning-rate range test (Smith 2015; fastai's `lr_find`): train a few hundred steps with the
learning rate growing exponentially, watch the smoothed loss, suggest where it falls fastest.

The model is trained on real batches of the run's own training data, with the run's strategy
(what trains, per-group LR scales) and precision; its weights are put back afterwards, so the
real training starts from the same initialisation. The suggestion is fastai's "valley": the
point a third of the way into the longest stretch of falling loss, which lands on the steep
part of the curve before it flattens or diverges (`steep`, the steepest point, is recorded too).
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

from .batching import length_grouped_batches
from .device import autocast
from .inference import to_device
from .optim import build_optimizer


@dataclass
class LRFinderResult:
    lrs: list[float]
    losses: list[float]  # smoothed (exponential moving average, bias-corrected)
    raw_losses: list[float]
    suggestion: float  # the valley
    steep: float  # where the smoothed loss falls fastest
    stopped: str  # "diverged", "end of range" or "out of data"
    settings: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


def valley(losses: list[float]) -> int:
    """Index a third into the longest run of decreasing loss (fastai's `valley`)."""
    n = len(losses)
    longest = [1] * n
    for i in range(1, n):
        for j in range(i):
            if losses[i] < losses[j] and longest[i] < longest[j] + 1:
                longest[i] = longest[j] + 1
    end = int(np.argmax(longest))
    start = end - longest[end] + 1
    third = (end - start) / 3
    return min(n - 1, start + int(third) + int(third / 2))


def steepest(lrs: list[float], losses: list[float]) -> int:
    slopes = np.gradient(np.asarray(losses), np.log10(np.asarray(lrs)))
    return int(np.argmin(slopes))


def find_lr(task, model, train_set, strategy, cfg, device: torch.device, dtype=None, *, start_lr: float = 1e-7,
            end_lr: float = 1.0, steps: int = 100, beta: float = 0.98, diverge: float = 4.0) -> LRFinderResult:
    """Run the range test on `model` (restored afterwards) and return the curve and suggestion."""
    saved = copy.deepcopy(model.state_dict())
    trainable = {name: p.requires_grad for name, p in model.named_parameters()}
    model.to(device).train()
    strategy.update(model, 0, 0)
    groups = strategy.param_groups(model)
    base = cfg.lr if isinstance(cfg.lr, (int, float)) else 1.0
    scales = [group["lr"] / base for group in groups]  # layer-wise decay, a faster head: kept as ratios
    optimizer = build_optimizer(groups, base)
    rng = np.random.default_rng([cfg.seed, 977])
    budget = getattr(cfg, "batch_tokens", None)
    batches = length_grouped_batches(train_set.lengths, cfg.batch_size, rng, max_tokens=budget)
    lrs, raw, smooth, best, average, stopped = [], [], [], math.inf, 0.0, "end of range"
    try:
        for i in range(steps):
            if i >= len(batches):
                batches += length_grouped_batches(train_set.lengths, cfg.batch_size, rng, max_tokens=budget)
            lr = start_lr * (end_lr / start_lr) ** (i / max(1, steps - 1))
            for group, scale in zip(optimizer.param_groups, scales):
                group["lr"] = lr * scale
            batch = to_device(task.collate(train_set, batches[i], rng=np.random.default_rng([cfg.seed, i])), device)
            with autocast(device, dtype):
                loss = task.loss(model, batch)
            loss.backward()
            if cfg.max_grad_norm:
                torch.nn.utils.clip_grad_norm_([p for g in optimizer.param_groups for p in g["params"]],
                                               cfg.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            value = float(loss.detach())
            average = beta * average + (1 - beta) * value
            smoothed = average / (1 - beta ** (i + 1))
            lrs.append(lr)
            raw.append(value)
            smooth.append(smoothed)
            best = min(best, smoothed)
            if not math.isfinite(smoothed) or smoothed > diverge * best:
                stopped = "diverged"
                break
    finally:
        model.load_state_dict(saved)
        for name, p in model.named_parameters():
            p.requires_grad_(trainable[name])
    # The diverging tail says nothing about where to train: leave it out of the suggestion.
    usable = len(smooth) - (1 if stopped == "diverged" else 0)
    lrs_, smooth_ = lrs[:max(usable, 2)], smooth[:max(usable, 2)]
    suggestion = lrs_[valley(smooth_)]
    descent = int(np.argmin(smooth_)) + 1  # the loss falls before its minimum, never after
    steep = lrs_[steepest(lrs_[:descent], smooth_[:descent])] if descent > 2 else suggestion
    return LRFinderResult(lrs, smooth, raw, suggestion, steep, stopped,
                          {"start_lr": start_lr, "end_lr": end_lr, "steps": steps, "beta": beta, "diverge": diverge})


def range_test(task, model, train_set, strategy, cfg, accelerator, dtype=None, *, steps: int = 100) -> LRFinderResult:
    """`find_lr` on the accelerator's device; under several processes every one runs it and the
    main process's suggestion is used by all."""
    result = find_lr(task, model, train_set, strategy, cfg, accelerator.device, dtype, steps=steps)
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast_object_list

        result.suggestion = broadcast_object_list([result.suggestion], from_process=0)[0]
    return result


def write_lr_find(folder, result: LRFinderResult) -> list:
    """lr_find.json (the curve, the suggestions) and, with matplotlib, lr_find.png in `folder`."""
    from pathlib import Path

    from .._io import atomic_write_json
    from ..outputs.plots import plot_lr_curve

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(folder / "lr_find.json", result.to_json())
    written = [folder / "lr_find.json"]
    if plot_lr_curve(result.lrs, result.losses, result.raw_losses, result.suggestion, result.steep,
                     folder / "lr_find.png"):
        written.append(folder / "lr_find.png")
    return written
