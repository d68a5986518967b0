"""The one batched inference loop: evaluation in training, predictors, feature encoders, teachers.

    outputs = predict(model, dataset, task.collate, task.predict, batch_size=64)

Batches run longest first (a memory spike shows at once, not at the end) with per-batch padding;
each batch is moved to the model's device; outputs come back in dataset order as one float32
array. Outputs whose shape differs between batches (per-token logits of differently padded
batches) are zero-padded to the largest shape. Under several processes (an `accelerator` with
num_processes > 1) each process runs every N-th batch and the results are gathered.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import torch

from .batching import assemble, sorted_batches
from .device import autocast

Collate = Callable[[Any, np.ndarray], dict]
Forward = Callable[[torch.nn.Module, dict], torch.Tensor]


def model_device(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    if device.type == "cpu":
        return batch
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def predict(model: torch.nn.Module, dataset, collate: Collate, forward: Forward, *, batch_size: int,
            dtype: torch.dtype | None = None, accelerator=None, description: str | None = None) -> np.ndarray:
    """Per-example outputs of `forward(model, collate(dataset, indices))`, in dataset order.

    dtype: autocast dtype (None: fp32). description: show a progress bar with this label.
    """
    device = accelerator.device if accelerator is not None else model_device(model)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else (0, 1)
    shards = sorted_batches(dataset.lengths, batch_size)[rank::world]
    was_training = model.training
    model.eval()
    parts: list[tuple[np.ndarray, np.ndarray]] = []
    try:
        with _progress(description, len(dataset)) as advance, torch.inference_mode(), autocast(device, dtype):
            for indices in shards:
                batch = to_device(collate(dataset, indices), device)
                parts.append((indices, forward(model, batch).float().cpu().numpy()))
                advance(len(indices))
    finally:
        model.train(was_training)
    if world > 1:
        from accelerate.utils import gather_object

        parts = gather_object(parts)
    return assemble(parts, len(dataset))


class _progress:
    """A rich bar over examples when `description` is given, else nothing."""

    def __init__(self, description: str | None, total: int):
        self.description, self.total, self._bar = description, total, None

    def __enter__(self):
        if self.description is None:
            return lambda n: None
        from ..progress import bar

        self._bar = bar()
        self._bar.__enter__()
        task = self._bar.add_task(self.description, total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc):
        if self._bar is not None:
            self._bar.__exit__(*exc)
        return False
