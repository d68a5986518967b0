"""Frozen-encoder features: pooled sentence embeddings from any text encoder.

Texts are tokenised once, run longest-first in length-sorted batches with per-batch padding,
and pooled (mean over real tokens by default, or the [CLS] vector). Used by `embed` and `probe`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .batching import pad, sorted_batches, tokenize
from .errors import ConfigError

POOLINGS = ("mean", "cls")


def pool(hidden, mask, pooling: str):
    if pooling == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


class TextEncoder:
    """A pretrained text encoder used as a frozen feature extractor."""

    def __init__(self, path: str | Path, pooling: str = "mean", max_length: int = 256,
                 batch_size: int = 64, precision: str = "fp32", device: str | None = None):
        if pooling not in POOLINGS:
            raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision must be fp32 or bf16 for embeddings, got {precision!r}")
        self.path, self.pooling, self.max_length = Path(path), pooling, max_length
        self.batch_size, self.precision = batch_size, precision
        self._device = device
        self._model = self._tokenizer = None
        self.last_throughput: float | None = None

    @classmethod
    def from_ref(cls, ref: str, **kwargs) -> "TextEncoder":
        from .sources import resolve_model

        return cls(resolve_model(ref).path, **kwargs)

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from .progress import quiet_transformers

            quiet_transformers()
            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
            self._model = AutoModel.from_pretrained(self.path).eval()
            self._device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model.to(self._device)
        return self._model, self._tokenizer

    @property
    def dim(self) -> int:
        return self._load()[0].config.hidden_size

    def encode(self, texts: Sequence[str], description: str = "embedding") -> np.ndarray:
        """float32 array [len(texts), hidden], rows in the order of `texts`."""
        import torch

        from .progress import bar

        model, tokenizer = self._load()
        ids = tokenize(tokenizer, texts, self.max_length)
        out = np.zeros((len(ids), model.config.hidden_size), dtype=np.float32)
        autocast = torch.autocast(device_type=self._device.split(":")[0], dtype=torch.bfloat16,
                                  enabled=self.precision == "bf16")
        start = time.perf_counter()
        with bar() as progress, torch.inference_mode(), autocast:
            task = progress.add_task(description, total=len(ids))
            for idx in sorted_batches([len(s) for s in ids], self.batch_size):
                input_ids, mask = pad([ids[i] for i in idx], tokenizer.pad_token_id or 0)
                input_ids, mask = input_ids.to(self._device), mask.to(self._device)
                hidden = model(input_ids=input_ids, attention_mask=mask).last_hidden_state
                out[idx] = pool(hidden, mask, self.pooling).float().cpu().numpy()
                progress.advance(task, len(idx))
        self.last_throughput = len(ids) / max(time.perf_counter() - start, 1e-9)
        return out
