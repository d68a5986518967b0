"""A tokenised corpus -> training examples: packed blocks, one line each, or sentence pairs.

- `chunk` packing (default): the documents are concatenated, a separator token ([SEP], </s>,
  <|endoftext|>) between two, and cut into blocks of max_length tokens, each wrapped in the
  tokenizer's own special tokens ([CLS] ... [SEP] for BERT). No compute goes to padding, and
  a block never starts or ends with a separator (no [CLS] [SEP] pair, no empty segment). Blocks
  are read from the memory-mapped corpus on demand; the last, partial block is dropped.
- `line` packing: one example per document, truncated, padded per batch.
- sentence pairs for next-sentence prediction (BERT): segment A from a document, B either the
  segments that follow it (label 0, "is next") or segments of a random other document (label 1),
  50/50 as in the original BERT, built once from a seeded generator.

Every example set has `lengths` (the engine batches by them) and `example(i)` -> (ids, word
starts, token types or None), special tokens included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import DataError
from .corpus import CorpusTokens


@dataclass(frozen=True)
class Specials:
    """How the tokenizer wraps one sequence or a pair, read off the tokenizer itself."""

    prefix: tuple[int, ...]
    suffix: tuple[int, ...]
    middle: tuple[int, ...]  # between the two segments of a pair
    pair_suffix: tuple[int, ...]
    separator: int | None  # between documents in a packed block
    ids: frozenset[int]  # never masked, never a random replacement

    @classmethod
    def of(cls, tokenizer) -> Specials:
        x = tokenizer("x", add_special_tokens=False)["input_ids"]
        single = tokenizer("x")["input_ids"]
        at = _find(single, x)
        prefix, suffix = tuple(single[:at]), tuple(single[at + len(x):])
        y = tokenizer("y", add_special_tokens=False)["input_ids"]
        pair = tokenizer("x", "y")["input_ids"]
        b_at = _find(pair, y, start=len(prefix) + len(x))
        middle, pair_suffix = tuple(pair[len(prefix) + len(x):b_at]), tuple(pair[b_at + len(y):])
        separator = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
        return cls(prefix, suffix, middle, pair_suffix, separator, frozenset(tokenizer.all_special_ids))

    @property
    def single_count(self) -> int:
        return len(self.prefix) + len(self.suffix)

    def wrap(self, ids: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.concatenate([np.asarray(self.prefix, np.int32), ids, np.asarray(self.suffix, np.int32)]),
                np.concatenate([np.ones(len(self.prefix), np.uint8), starts, np.ones(len(self.suffix), np.uint8)]))


def _find(seq, part, start: int = 0) -> int:
    for i in range(start, len(seq) - len(part) + 1):
        if list(seq[i:i + len(part)]) == list(part):
            return i
    raise DataError("the tokenizer's special-token template could not be read")


class PackedBlocks:
    """Documents concatenated with separators, cut into blocks of `max_length` tokens."""

    def __init__(self, tokens: CorpusTokens, docs: np.ndarray, max_length: int, specials: Specials,
                 append_separator_to_lines: bool = False):
        self.tokens, self.specials = tokens, specials
        self.body = max_length - specials.single_count
        if self.body < 2:
            raise DataError(f"max_length {max_length} leaves no room for text; raise --max-length")
        spans = np.array([tokens.doc_span(int(d)) for d in docs], dtype=np.int64).reshape(-1, 2)
        self.starts = spans[:, 0]
        with_separator = spans[:, 1] - spans[:, 0] + (1 if specials.separator is not None else 0)
        self.ends = np.cumsum(with_separator)  # stream position where each document (and its separator) ends
        total = int(self.ends[-1]) if len(self.ends) else 0
        count = total // self.body
        if count == 0:
            raise DataError(f"the corpus holds {total} tokens, fewer than one block of {self.body} (max_length "
                            f"{max_length}); add text, lower --max-length or use --packing line")
        self.lengths = np.full(count, max_length, dtype=np.int64)
        self.token_count = count * self.body

    def __len__(self) -> int:
        return len(self.lengths)

    def example(self, i: int):
        start, stop = i * self.body, (i + 1) * self.body
        d = int(np.searchsorted(self.ends, start, side="right"))
        ids, starts = [], []
        position = start
        while position < stop:
            doc_begin = int(self.ends[d - 1]) if d else 0
            offset = position - doc_begin
            length = int(self.ends[d] - doc_begin) - (1 if self.specials.separator is not None else 0)
            a = int(self.starts[d])
            if offset < length:
                take = min(length - offset, stop - position)
                ids.append(self.tokens.ids[a + offset:a + offset + take])
                starts.append(self.tokens.word_starts[a + offset:a + offset + take])
                position += take
            if position < stop and offset <= length and self.specials.separator is not None:
                ids.append(np.asarray([self.specials.separator], np.int32))
                starts.append(np.ones(1, np.uint8))
                position += 1
            d += 1
        flat, flags = np.concatenate(ids).astype(np.int32), np.concatenate(starts)
        sep = self.specials.separator
        begin, end = 0, len(flat)
        while begin < end and flat[begin] == sep:
            begin += 1
        while end > begin and flat[end - 1] == sep:
            end -= 1
        flags = flags[begin:end].copy()
        if len(flags):
            flags[0] = 1  # a block may start inside a word: its first piece is masked on its own
        wrapped, flags = self.specials.wrap(flat[begin:end], flags)
        return wrapped, flags, None


class LineExamples:
    """One example per document, truncated to max_length (special tokens included)."""

    def __init__(self, tokens: CorpusTokens, docs: np.ndarray, max_length: int, specials: Specials,
                 end_with_separator: bool = False):
        self.tokens, self.docs, self.specials = tokens, np.asarray(docs, dtype=np.int64), specials
        self.end = end_with_separator and specials.separator is not None  # a decoder learns where a text ends
        self.room = max_length - specials.single_count - int(self.end)
        if self.room < 1:
            raise DataError(f"max_length {max_length} leaves no room for text; raise --max-length")
        spans = np.array([tokens.doc_span(int(d)) for d in self.docs], dtype=np.int64).reshape(-1, 2)
        self.spans = spans
        self.lengths = np.minimum(spans[:, 1] - spans[:, 0], self.room) + specials.single_count + int(self.end)
        self.token_count = int(np.minimum(spans[:, 1] - spans[:, 0], self.room).sum())

    def __len__(self) -> int:
        return len(self.docs)

    def example(self, i: int):
        a, b = (int(x) for x in self.spans[i])
        b = min(b, a + self.room)
        ids, starts = self.tokens.ids[a:b].astype(np.int32), self.tokens.word_starts[a:b].copy()
        if self.end:
            ids = np.append(ids, np.int32(self.specials.separator))
            starts = np.append(starts, np.uint8(1))
        wrapped, flags = self.specials.wrap(ids, starts)
        return wrapped, flags, None


class SentencePairs:
    """[CLS] A [SEP] B [SEP] pairs with next-sentence labels (0: B follows A, 1: B is random)."""

    def __init__(self, tokens: CorpusTokens, docs: np.ndarray, max_length: int, specials: Specials, seed: int):
        room = max_length - len(specials.prefix) - len(specials.middle) - len(specials.pair_suffix)
        if room < 2:
            raise DataError(f"max_length {max_length} is too short for sentence pairs; raise --max-length")
        docs = np.asarray(docs, dtype=np.int64)
        multi = [int(d) for d in docs if tokens.doc_offsets[d + 1] - tokens.doc_offsets[d] >= 2]
        if not multi:
            raise DataError("next-sentence prediction needs documents of two or more sentences; every document here "
                            "has one (write one sentence per line with blank lines between documents and pass "
                            "--documents, or use --objective mlm)")
        rng = np.random.default_rng([seed, 7])
        ids, starts, types, labels, offsets = [], [], [], [], [0]
        for d in multi:
            for a_ids, a_starts, b_ids, b_starts, label in _pairs(tokens, d, docs, room, rng):
                body = [np.asarray(specials.prefix, np.int32), a_ids, np.asarray(specials.middle, np.int32), b_ids,
                        np.asarray(specials.pair_suffix, np.int32)]
                flags = [np.ones(len(specials.prefix), np.uint8), a_starts, np.ones(len(specials.middle), np.uint8),
                         b_starts, np.ones(len(specials.pair_suffix), np.uint8)]
                first = len(specials.prefix) + len(a_ids) + len(specials.middle)
                seq = np.concatenate(body)
                ids.append(seq)
                starts.append(np.concatenate(flags))
                types.append(np.r_[np.zeros(first, np.int8), np.ones(len(seq) - first, np.int8)])
                labels.append(label)
                offsets.append(offsets[-1] + len(seq))
        self.flat, self.word_starts = np.concatenate(ids), np.concatenate(starts)
        self.types, self.offsets = np.concatenate(types), np.asarray(offsets, dtype=np.int64)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.lengths = np.diff(self.offsets)
        self.token_count = int(self.lengths.sum())

    def __len__(self) -> int:
        return len(self.labels)

    def example(self, i: int):
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return self.flat[a:b], self.word_starts[a:b], self.types[a:b]


def _pairs(tokens: CorpusTokens, d: int, docs: np.ndarray, room: int, rng: np.random.Generator):
    """BERT's pair sampling over one document: fill chunks of segments up to `room` tokens, cut each
    at a random segment boundary into A and B; half the time B comes from another document."""
    segments = tokens.doc_segments(d)
    i, chunk, size = 0, [], 0
    while i < len(segments):
        chunk.append(segments[i])
        size += segments[i][1] - segments[i][0]
        if (size >= room or i == len(segments) - 1) and len(chunk) >= 2:
            cut = int(rng.integers(1, len(chunk)))
            a = chunk[:cut]
            if rng.random() < 0.5 and len(docs) > 1:
                other = d
                while other == d:
                    other = int(docs[rng.integers(len(docs))])
                others = tokens.doc_segments(other)
                b = others[int(rng.integers(len(others))):]
                label = 1
                i -= len(chunk) - cut  # the unused segments of this document go into the next pair
            else:
                b, label = chunk[cut:], 0
            a_ids, a_st = _join(tokens, a)
            b_ids, b_st = _join(tokens, b)
            while len(a_ids) + len(b_ids) > room:  # trim the longer one, from its end
                if len(a_ids) > len(b_ids):
                    a_ids, a_st = a_ids[:-1], a_st[:-1]
                else:
                    b_ids, b_st = b_ids[:-1], b_st[:-1]
            if len(a_ids) and len(b_ids):
                yield a_ids, a_st, b_ids, b_st, label
            chunk, size = [], 0
        i += 1


def _join(tokens: CorpusTokens, segments) -> tuple[np.ndarray, np.ndarray]:
    return (np.concatenate([tokens.ids[a:b] for a, b in segments]).astype(np.int32),
            np.concatenate([tokens.word_starts[a:b] for a, b in segments]))
