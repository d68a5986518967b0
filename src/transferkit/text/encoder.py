"""Frozen-encoder features: pooled sentence embeddings from any text encoder.

Texts are tokenised once and run through the engine's one inference loop (longest first,
per-batch padding), then pooled: the mean over real tokens by default, or the [CLS] vector.
Used by `embed` and by the text probe.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError
from .tokens import TokenizedTexts, collate_tokens, encode_texts

POOLINGS = ("mean", "cls")
PRECISIONS = ("fp32", "bf16")


def pool(hidden, mask, pooling: str):
    if pooling == "cls":
        return hidden[:, 0]
    m = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)


def check_encoder_settings(pooling: str, precision: str) -> None:
    if pooling not in POOLINGS:
        raise ConfigError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if precision not in PRECISIONS:
        raise ConfigError(f"precision must be fp32 or bf16 for embeddings, got {precision!r}")


class TextEncoder:
    """A pretrained text encoder used as a frozen feature extractor."""

    def __init__(self, path: str | Path, pooling: str = "mean", max_length: int = 256,
                 batch_size: int = 64, precision: str = "fp32", device: str | None = None):
        check_encoder_settings(pooling, precision)
        self.path, self.pooling, self.max_length = Path(path), pooling, max_length
        self.batch_size, self.precision = batch_size, precision
        self._device = device
        self._model = self._tokenizer = None
        self.last_throughput: float | None = None

    @classmethod
    def from_ref(cls, ref: str, **kwargs) -> TextEncoder:
        from ..sources import resolve_model

        return cls(resolve_model(ref).path, **kwargs)

    def _load(self):
        if self._model is None:
            import torch
            from transformers import AutoModel, AutoTokenizer

            from ..progress import quiet_transformers

            quiet_transformers()
            self._tokenizer = AutoTokenizer.from_pretrained(self.path)
            self._model = AutoModel.from_pretrained(self.path).eval()
            self._device = self._device or ("cuda" if torch.cuda.is_available() else "cpu")
            self._model.to(self._device)
        return self._model, self._tokenizer

    @property
    def tokenizer(self):
        return self._load()[1]

    @property
    def dim(self) -> int:
        return self._load()[0].config.hidden_size

    def tokenize(self, texts: Sequence[str]) -> TokenizedTexts:
        return encode_texts(self.tokenizer, list(texts), self.max_length)

    def features(self, dataset: TokenizedTexts, description: str | None = None) -> np.ndarray:
        """float32 [len(dataset), hidden] pooled features of tokenised texts, in dataset order."""
        import torch

        from ..engine.inference import predict

        model, tokenizer = self._load()
        pad_id = tokenizer.pad_token_id or 0

        def forward(m, batch):
            hidden = m(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            return pool(hidden, batch["attention_mask"], self.pooling)

        start = time.perf_counter()
        out = predict(model, dataset, lambda d, idx: collate_tokens(d, idx, pad_id), forward,
                      batch_size=self.batch_size, dtype=torch.bfloat16 if self.precision == "bf16" else None,
                      description=description)
        self.last_throughput = len(dataset) / max(time.perf_counter() - start, 1e-9)
        return out

    def encode(self, texts: Sequence[str], description: str = "embedding") -> np.ndarray:
        """float32 array [len(texts), hidden], rows in the order of `texts`."""
        return self.features(self.tokenize(texts), description)
