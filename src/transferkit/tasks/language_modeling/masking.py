"""Masked-language-model inputs: which tokens to predict and what the model sees in their place.

BERT's recipe: pick `probability` (15 %) of the tokens that are not special; of those, `replace`
(80 %) become the mask token, `random` (10 %) a random token, the rest stay as they are; the
model predicts the original token at every picked position (label -100 elsewhere). With
`whole_word`, words are picked instead of tokens and every piece of a picked word is masked,
using the fast tokenizer's word boundaries (so it works for WordPiece, BPE and Unigram alike).
Training draws fresh masks every time an example is batched (dynamic masking, RoBERTa);
evaluation draws them once per example from a seed, so scores are comparable across runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Masking:
    mask_id: int
    special_ids: frozenset[int]
    vocab_size: int
    probability: float = 0.15
    replace: float = 0.8
    random: float = 0.1
    whole_word: bool = False

    def __post_init__(self):
        allowed = np.setdiff1d(np.arange(self.vocab_size), np.fromiter(self.special_ids, dtype=np.int64))
        object.__setattr__(self, "_random_ids", allowed)

    def apply(self, ids: np.ndarray, word_starts: np.ndarray, rng: np.random.Generator,
              at_least_one: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """(model input ids, labels) for one sequence."""
        ids = np.asarray(ids, dtype=np.int64)
        candidates = ~np.isin(ids, np.fromiter(self.special_ids, dtype=np.int64))
        if self.whole_word:
            word = np.cumsum(np.asarray(word_starts, dtype=bool) | ~candidates)  # specials: a word each
            picked_words = rng.random(int(word[-1]) + 1 if len(word) else 0) < self.probability
            picked = candidates & picked_words[word]
        else:
            picked = candidates & (rng.random(len(ids)) < self.probability)
        if at_least_one and not picked.any() and candidates.any():
            picked[rng.choice(np.flatnonzero(candidates))] = True
        labels = np.where(picked, ids, -100)
        inputs = ids.copy()
        roll = rng.random(len(ids))
        to_mask = picked & (roll < self.replace)
        to_random = picked & (roll >= self.replace) & (roll < self.replace + self.random)
        inputs[to_mask] = self.mask_id
        if to_random.any():
            inputs[to_random] = self._random_ids[rng.integers(len(self._random_ids), size=int(to_random.sum()))]
        return inputs, labels
