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
                           group: int = 50) -> list[np.ndarray]:
    """Training order: shuffle, sort inside groups of `group` batches, shuffle the batches."""
    lengths = np.asarray(lengths)
    perm = rng.permutation(len(lengths))
    mega = batch_size * group
    batches: list[np.ndarray] = []
    for start in range(0, len(perm), mega):
        chunk = perm[start:start + mega]
        chunk = chunk[np.argsort(-lengths[chunk], kind="stable")]
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    order = rng.permutation(len(batches))
    return [batches[i] for i in order]


def concat_ragged(parts: Sequence[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray]:
    """Join ragged arrays stored flat: each part is (values, offsets) with item i at
    values[offsets[i]:offsets[i + 1]]; returns the same layout for all items in order."""
    offsets, start = [np.zeros(1, dtype=np.int64)], 0
    for values, part_offsets in parts:
        offsets.append(np.asarray(part_offsets[1:], dtype=np.int64) + start)
        start += len(values)
    return np.concatenate([np.asarray(values) for values, _ in parts]), np.concatenate(offsets)
