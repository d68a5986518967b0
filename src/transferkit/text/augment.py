"""Text augmentation on token ids: random deletion and random neighbour swaps (EDA-style).

It works on the cached token ids of each training batch, so texts are never re-tokenised;
special tokens ([CLS], [SEP]) stay in place. Off by default: on real data it helps mainly
small training sets. Draws come from the generator the training loop passes per batch, so
an augmented run is still exactly reproducible and resumable.
"""

from __future__ import annotations

from typing import Collection, Sequence

import numpy as np


def augment_tokens(ids: Sequence[int], rng: np.random.Generator, *, delete: float = 0.0, swap: float = 0.0,
                   protected: Collection[int] = ()) -> list[int]:
    """A perturbed copy of `ids`.

    delete: each non-protected token is dropped with this probability (at least one is kept).
    swap: each non-protected token is swapped with its next non-protected neighbour with this
    probability.
    """
    ids = list(ids)
    movable = [i for i, token in enumerate(ids) if token not in protected]
    if len(movable) < 2 or (delete <= 0 and swap <= 0):
        return ids
    if delete > 0:
        drop = rng.random(len(movable)) < delete
        if drop.all():
            drop[rng.integers(len(movable))] = False
        dropped = {movable[i] for i in np.flatnonzero(drop)}
        ids = [token for i, token in enumerate(ids) if i not in dropped]
        movable = [i for i, token in enumerate(ids) if token not in protected]
    if swap > 0 and len(movable) > 1:
        for k in np.flatnonzero(rng.random(len(movable) - 1) < swap):
            a, b = movable[k], movable[k + 1]
            ids[a], ids[b] = ids[b], ids[a]
    return ids


def augmented_copies(examples, copies: int, seed: int):
    """`copies` perturbed versions of every text (words dropped with p=0.1, neighbours swapped with
    p=0.1), keeping their labels: new inputs for a transfer set, whose soft labels a teacher supplies."""
    from .examples import TextExamples

    rng = np.random.default_rng([seed, 7])
    texts = [" ".join(augment_tokens(t.split(), rng, delete=0.1, swap=0.1)) for _ in range(copies)
             for t in examples.texts]
    labels = None if examples.labels is None else np.tile(examples.labels, copies)
    return TextExamples(texts, labels, np.tile(examples.rows, copies), f"{examples.source} (augmented)",
                        examples.label_map)
