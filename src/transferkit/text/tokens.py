"""Texts -> token ids, once: tokenised in Rust, stored flat, cached on disk, padded per batch.

A split's token ids are one flat int32 array plus offsets (example i is flat[offsets[i]:
offsets[i + 1]]), cached under $TRANSFERKIT_HOME/cache/tokens keyed by (tokenizer, texts,
max_length), so a second run over the same data does not tokenise again. Batches are padded to
their longest member only.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .._io import atomic_file

_CACHE_FORMAT = 1


@dataclass
class TokenizedTexts:
    """Token ids of one split, stored flat: example i is flat[offsets[i]:offsets[i + 1]]."""

    flat: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None
    length_unit = "tokens"  # the training loop logs tokens/s

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def ids(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i]:self.offsets[i + 1]]


def tokenize(tokenizer, texts: Sequence[str], max_length: int, text_pairs: Sequence[str] | None = None) -> list[list[int]]:
    """Token ids per text, truncated to max_length, no padding (a fast tokenizer does this in Rust)."""
    enc = tokenizer(list(texts), list(text_pairs) if text_pairs is not None else None,
                    truncation=True, max_length=max_length, padding=False,
                    return_attention_mask=False, return_token_type_ids=False)
    return enc["input_ids"]


def tokenizer_fingerprint(tokenizer) -> bytes:
    """A digest of what maps text to ids; truncation/padding state is left out because calling the
    tokenizer changes it."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest()


def tokenize_cached(tokenizer, texts: Sequence[str], max_length: int,
                    cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids, offsets), read from `cache_dir` when this tokenizer already saw these texts."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{_CACHE_FORMAT}|{max_length}|".encode())
        key.update(tokenizer_fingerprint(tokenizer))
        for text in texts:
            key.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        path = cache_dir / f"{key.hexdigest()[:32]}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["flat"], cached["offsets"]
    ids = tokenize(tokenizer, texts, max_length)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ids], out=offsets[1:])
    flat = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
    if path is not None:
        with atomic_file(path) as f:
            np.savez(f, flat=flat, offsets=offsets)
    return flat, offsets


def encode_texts(tokenizer, texts: Sequence[str], max_length: int, labels: np.ndarray | None = None,
                 cache_dir: Path | None = None) -> TokenizedTexts:
    flat, offsets = tokenize_cached(tokenizer, texts, max_length, cache_dir)
    return TokenizedTexts(flat, offsets, labels)


def pad_arrays(seqs: Sequence[Sequence[int]], pad_id: int,
               pad_to_multiple_of: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(input_ids, attention_mask) int64 arrays padded to the longest sequence in the batch."""
    longest = max(len(s) for s in seqs)
    if pad_to_multiple_of:
        longest = -(-longest // pad_to_multiple_of) * pad_to_multiple_of
    ids = np.full((len(seqs), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(seqs), longest), dtype=np.int64)
    for i, s in enumerate(seqs):
        ids[i, : len(s)] = s
        mask[i, : len(s)] = 1
    return ids, mask


def pad(seqs: Sequence[Sequence[int]], pad_id: int, pad_to_multiple_of: int | None = None):
    """`pad_arrays` as torch tensors."""
    import torch

    ids, mask = pad_arrays(seqs, pad_id, pad_to_multiple_of)
    return torch.from_numpy(ids), torch.from_numpy(mask)


def token_arrays(dataset: TokenizedTexts, indices, pad_id: int, seqs: Sequence[Sequence[int]] | None = None) -> dict:
    """A padded batch {input_ids, attention_mask[, labels]} of numpy arrays; `seqs` replaces the
    stored ids (augmented)."""
    input_ids, attention_mask = pad_arrays(seqs if seqs is not None else [dataset.ids(i) for i in indices], pad_id)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if dataset.labels is not None:
        batch["labels"] = dataset.labels[np.asarray(indices)]
    return batch


def collate_tokens(dataset: TokenizedTexts, indices, pad_id: int, seqs: Sequence[Sequence[int]] | None = None) -> dict:
    """`token_arrays` as torch tensors."""
    from ..engine.batching import as_tensors

    return as_tensors(token_arrays(dataset, indices, pad_id, seqs))


def concat_tokenized(parts: Sequence[TokenizedTexts]) -> TokenizedTexts:
    """One dataset from several; parts without labels get -100 (ignored by the loss)."""
    from ..engine.batching import concat_ragged

    flat, offsets = concat_ragged([(part.flat[:part.offsets[-1]], part.offsets) for part in parts])
    labels = [part.labels if part.labels is not None else np.full(len(part), -100, dtype=np.int64) for part in parts]
    return TokenizedTexts(flat, offsets, np.concatenate(labels).astype(np.int64))
