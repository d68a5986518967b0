"""Batch order by length, and ragged arrays stored flat.

Padding every batch to a fixed length wastes most of the compute on short inputs (SST-2 phrases
average ~13 tokens). Sorting by length for inference and grouping by length for training (random
"megabatches" sorted inside, as in HF's LengthGroupedSampler) keeps padding near zero while
training batches stay randomly composed. Every dataset the engine batches has `lengths` (the
cost of each example; all ones for images) and `len()`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def sorted_batches(lengths: Sequence[int], batch_size: int) -> list[np.ndarray]:
    """Inference order: longest first (a memory spike shows at once, not at the end)."""
    order = np.argsort(-np.asarray(lengths), kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def length_grouped_batches(lengths: Sequence[int], batch_size: int, rng: np.random.Generator,
                           group: int = 50, max_tokens: int | None = None) -> list[np.ndarray]:
    """Training order: shuffle, sort inside groups of `group` batches, shuffle the batches.

    `max_tokens`: cut each sorted group into batches of at most that many padded tokens
    (examples x the longest) instead of `batch_size` examples, so short inputs make wide batches.
    """
    lengths = np.asarray(lengths)
    perm = rng.permutation(len(lengths))
    mega = batch_size * group
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), mega):
        chunk = perm[start:start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        cuts = range(0, len(chunk), batch_size) if max_tokens is None else token_budget_cuts(lengths[chunk], max_tokens)
        bounds = [*cuts, len(chunk)]
        batches.extend(chunk[a:b] for a, b in zip(bounds, bounds[1:]))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def token_budget_cuts(sorted_lengths: np.ndarray, max_tokens: int) -> list[int]:
    """Start offsets of batches over lengths sorted longest first, each holding as many examples
    as fit in `max_tokens` padded to its first (longest) one; at least one example each."""
    cuts, i = [], 0
    while i < len(sorted_lengths):
        cuts.append(i)
        i += max(1, max_tokens // max(1, int(sorted_lengths[i])))
    return cuts


def concat_ragged(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Join ragged arrays stored flat: each part is (values, offsets) with item i at
    values[offsets[i]:offsets[i + 1]]; returns the same layout for all items in order."""
    offsets, start = [np.zeros(1, dtype=np.int64)], 0
    for values, part_offsets in parts:
        offsets.append(np.asarray(part_offsets[1:], dtype=np.int64) + start)
        start += len(values)
    return np.concatenate([np.asarray(values) for values, _ in parts]), np.concatenate(offsets)


def as_tensors(batch: dict) -> dict:
    """A batch of numpy arrays as torch tensors (shared memory, no copy)."""
    import torch

    return {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in batch.items()}


def assemble(parts: Sequence[tuple[np.ndarray, np.ndarray]], n: int) -> np.ndarray:
    """Per-batch outputs (indices, outputs) back in dataset order as one float32 array; outputs
    whose shape differs between batches (per-token logits of differently padded batches) are
    zero-padded to the largest shape."""
    if not parts:
        return np.zeros((n, 0), dtype=np.float32)
    ndim = parts[0][1].ndim
    shape = tuple(max(p[1].shape[d] for p in parts) for d in range(1, ndim))
    result = np.zeros((n, *shape), dtype=np.float32)
    for indices, outputs in parts:
        result[(indices, *(slice(0, s) for s in outputs.shape[1:]))] = outputs
    return result
