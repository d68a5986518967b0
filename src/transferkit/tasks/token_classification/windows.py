"""Words -> sub-word windows the model reads, and per-window outputs -> one prediction per word.

A sentence is tokenised word by word (the tokenizer's `is_split_into_words` mode). The tag of a
word sits on its first sub-word; the other sub-words get -100 (ignored by the loss), or, with
`label_all_subwords`, the word's tag with B- turned into I- (they continue the entity).

A sentence longer than `max_length - 2` sub-words is cut into overlapping windows along word
boundaries, so no token is ever dropped. Each word is *owned* by exactly one window -- in the
overlap the first half goes to the earlier window, the second half to the later one, so every
owned word has context on both sides -- and only owned words carry a training label or an
evaluated prediction. Every word is therefore trained on and predicted exactly once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

IGNORE = -100


@dataclass
class TokenWindows:
    """One split as model inputs: window w belongs to sentence `sentence[w]`."""

    input_ids: list[np.ndarray]  # with the special tokens
    labels: list[np.ndarray] | None  # training targets per position, IGNORE where unlabelled
    first: list[np.ndarray]  # positions of the first sub-word of each word the window owns
    words: list[np.ndarray]  # those words' indices in the sentence
    sentence: np.ndarray
    n_words: list[int]  # words per sentence
    gold: list[list[str]] | None  # IOB2 tags per sentence (for evaluation)
    types: list[np.ndarray] | None = None  # token-type ids per position: word shapes (shapes.py), else absent
    length_unit = "tokens"  # lengths are sub-word counts: the training loop logs tokens/s

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def __len__(self) -> int:
        return len(self.input_ids)


def plan_windows(counts: Sequence[int], budget: int, stride: int) -> list[tuple[int, int, int, int]]:
    """(start, end, own_start, own_end) word ranges covering a sentence whose words have `counts`
    sub-words; every window holds at most `budget` sub-words (a longer single word is cut by the
    caller), consecutive windows share up to `stride` sub-words, owned ranges tile the sentence."""
    n = len(counts)
    if sum(counts) <= budget:
        return [(0, n, 0, n)]
    stride = min(stride, budget // 2)  # keeps windows moving forward by at least half a window
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        end, used = start, 0
        while end < n and (used + counts[end] <= budget or end == start):
            used += counts[end]
            end += 1
        spans.append((start, end))
        if end >= n:
            break
        nxt, shared = end, 0
        while nxt - 1 > start and shared + counts[nxt - 1] <= stride:
            nxt -= 1
            shared += counts[nxt]
        # Never reach back before the window-before-last's end, so owned ranges stay ordered.
        start = max(nxt, spans[-2][1] if len(spans) > 1 else 0, start + 1)
    windows, own_start = [], 0
    for k, (s, e) in enumerate(spans):
        own_end = n if k == len(spans) - 1 else max(own_start, min(e, (spans[k + 1][0] + e + 1) // 2))
        windows.append((s, e, own_start, own_end))
        own_start = own_end
    return windows


def subword_ids(tokenizer, sentences: Sequence[Sequence[str]]) -> list[list[list[int]]]:
    """Sub-word ids of every word; a word the tokenizer turns into nothing (e.g. only control
    characters) becomes the unknown token, so it still has a position to predict from."""
    unk = tokenizer.unk_token_id if tokenizer.unk_token_id is not None else 0
    out = []
    chunk = 1024  # one call per chunk: the fast tokenizer parallelises inside it
    for i in range(0, len(sentences), chunk):
        part = [list(s) for s in sentences[i:i + chunk]]
        enc = tokenizer(part, is_split_into_words=True, add_special_tokens=False)
        for j, words in enumerate(part):
            per_word: list[list[int]] = [[] for _ in words]
            for token, word in zip(enc["input_ids"][j], enc.word_ids(j)):
                if word is not None:
                    per_word[word].append(token)
            out.append([ids or [unk] for ids in per_word])
    return out


def encode_sentences(tokenizer, sentences: Sequence[Sequence[str]], tags: Sequence[Sequence[str]] | None,
                     label2id: dict[str, int] | None, max_length: int, stride: int | None = None,
                     label_all_subwords: bool = False, word_shapes: bool = False) -> TokenWindows:
    """Tokenise, window and label a split (tags None: prediction data); `word_shapes`: each
    sub-word's token type is its word's shape (shapes.py)."""
    from .shapes import sentence_shapes

    budget = max(1, max_length - tokenizer.num_special_tokens_to_add(pair=False))
    stride = budget // 4 if stride is None else stride
    cls = [tokenizer.cls_token_id] if tokenizer.cls_token_id is not None else []
    sep = [tokenizer.sep_token_id] if tokenizer.sep_token_id is not None else []
    # Non-first sub-words of a B-X word continue the entity: they are trained as I-X.
    continuation = {i: (label2id or {}).get("I-" + name[2:], i) if name.startswith("B-") else i
                    for name, i in (label2id or {}).items()}
    ids_all, lab_all, first_all, words_all, sent_all = [], [] if tags is not None else None, [], [], []
    types_all = [] if word_shapes else None
    for s, per_word in enumerate(subword_ids(tokenizer, sentences)):
        shape = sentence_shapes(sentences[s]) if word_shapes else None
        per_word = [w[:budget] for w in per_word]  # a single absurdly long word: keep its start
        counts = [len(w) for w in per_word]
        targets = [label2id.get(t, IGNORE) for t in tags[s]] if tags is not None else None  # unseen: not scored
        for start, end, own_start, own_end in plan_windows(counts, budget, stride):
            ids, labels, first, words = list(cls), [IGNORE] * len(cls), [], []
            types = [0] * len(cls)
            for w in range(start, end):
                owned = own_start <= w < own_end
                if owned:
                    first.append(len(ids))
                    words.append(w)
                ids.extend(per_word[w])
                if shape is not None:
                    types.extend([int(shape[w])] * counts[w])
                if targets is not None:
                    head = targets[w] if owned else IGNORE
                    rest = continuation.get(targets[w], IGNORE) if owned and label_all_subwords else IGNORE
                    labels.extend([head] + [rest] * (counts[w] - 1))
            ids.extend(sep)
            ids_all.append(np.asarray(ids, dtype=np.int32))
            first_all.append(np.asarray(first, dtype=np.int64))
            words_all.append(np.asarray(words, dtype=np.int64))
            sent_all.append(s)
            if types_all is not None:
                types_all.append(np.asarray(types + [0] * len(sep), dtype=np.int32))
            if lab_all is not None:
                lab_all.append(np.asarray(labels + [IGNORE] * len(sep), dtype=np.int64))
    return TokenWindows(ids_all, lab_all, first_all, words_all, np.asarray(sent_all, dtype=np.int64),
                        [len(s) for s in sentences], [list(t) for t in tags] if tags is not None else None,
                        types_all)


def window_arrays(windows: TokenWindows, indices: Sequence[int], pad_id: int) -> dict:
    """A padded batch of numpy arrays: input_ids, attention_mask, token_type_ids (word shapes)
    and, when labelled, labels padded with IGNORE."""
    from ...text.tokens import pad_arrays

    input_ids, mask = pad_arrays([windows.input_ids[i] for i in indices], pad_id)
    batch = {"input_ids": input_ids, "attention_mask": mask}
    if windows.types is not None:
        batch["token_type_ids"] = pad_arrays([windows.types[i] for i in indices], 0)[0]
    if windows.labels is not None:
        labels = np.full(input_ids.shape, IGNORE, dtype=np.int64)
        for row, i in enumerate(indices):
            labels[row, :len(windows.labels[i])] = windows.labels[i]
        batch["labels"] = labels
    return batch


def collate_windows(windows: TokenWindows, indices: Sequence[int], pad_id: int) -> dict:
    """`window_arrays` as torch tensors."""
    from ...engine.batching import as_tensors

    return as_tensors(window_arrays(windows, indices, pad_id))


def word_scores(windows: TokenWindows, outputs: np.ndarray) -> list[np.ndarray]:
    """Per sentence, a (words, labels) array of the owning window's outputs at each first sub-word."""
    n_labels = outputs.shape[-1]
    out = [np.zeros((n, n_labels), dtype=np.float32) for n in windows.n_words]
    for w in range(len(windows)):
        out[windows.sentence[w]][windows.words[w]] = outputs[w, windows.first[w]]
    return out

