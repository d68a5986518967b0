"""Read token-classification files: CoNLL columns and JSON lines, into IOB2 `NerExamples`.

CoNLL: one token per line, `token [more columns] tag` separated by spaces or tabs, a blank
line between sentences, `-DOCSTART-` lines skipped (they also end a sentence). The tag column
is chosen by index (default -1, the last); a file whose lines all have one column holds tokens
only (prediction data). JSONL: one object per line with a `tokens` list and a `tags` list
(`words` / `ner_tags` / `labels` are accepted too).

Tags may be IOB1, IOB2 or BIOES (detected unless `scheme` is given) and come out as IOB2.
Every problem is a one-line DataError naming the file and the line (and token for JSONL).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ...data.tables import COMPRESSIONS, _decode, _read_bytes, check_file, format_rows, read_table
from ...errors import DataError
from .schemes import TagError, entity_chunks, normalize_tags

JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
TOKEN_KEYS = ("tokens", "words")
TAG_KEYS = ("tags", "ner_tags", "labels")
# Only ASCII spaces and tabs separate columns: str.split() would also cut tokens at U+00A0,
# U+2028 and friends, which occur inside tweet tokens.
_COLUMNS = re.compile(r"[ \t]+")


@dataclass
class NerExamples:
    """One split: pre-split words, their IOB2 tags (None when unlabelled), where each sentence starts.

    Examples made from raw texts (`from_texts`) also keep the texts and each word's character
    span, so predictions can point into the original string."""

    tokens: list[list[str]]
    tags: list[list[str]] | None
    lines: list[int]  # 1-based line (or row, or item) of each sentence in `source`
    source: str
    scheme: str = "iob2"  # the scheme the file was written in (tags are always IOB2 here)
    repaired: int = 0  # tags changed by repair=True
    info: dict = field(default_factory=dict)
    texts: list[str] | None = None  # the raw texts the words were cut from
    spans: list[list[tuple[int, int]]] | None = None  # per text, (start, end) of each word

    label_map = None  # tags are not one class per example: see the task's label names

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, index: Sequence[int], source: str | None = None) -> NerExamples:
        """The sentences at positions `index`, in that order."""
        index = [int(i) for i in index]
        pick = (lambda values: None if values is None else [values[i] for i in index])
        return NerExamples([self.tokens[i] for i in index], pick(self.tags), [self.lines[i] for i in index],
                           source or self.source, self.scheme, self.repaired, dict(self.info), pick(self.texts),
                           pick(self.spans))

    @property
    def entity_types(self) -> list[str]:
        """Sorted entity types that occur in the tags."""
        return sorted({kind for tags in self.tags or [] for kind, _, _ in entity_chunks(tags)})

    @classmethod
    def from_texts(cls, texts: Sequence[str], rows: Sequence[int], source: str) -> NerExamples:
        """Raw texts cut into words (\\w+ runs with inner apostrophes, dots and hyphens; other
        characters alone); a text without words becomes an empty sentence."""
        from ...text.examples import check_texts

        texts = check_texts(texts, source=source, rows=rows)
        cut = [[(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)] for text in texts]
        return cls([[w for w, _, _ in words] for words in cut], None, [int(r) for r in rows], source,
                   texts=list(texts), spans=[[(a, b) for _, a, b in words] for words in cut])


_WORD = re.compile(r"\w+(?:['’.\-]\w+)*|\S", re.UNICODE)


def is_jsonl(path: str | os.PathLike) -> bool:
    suffixes = [s.lower() for s in Path(path).suffixes]
    if suffixes and suffixes[-1] in COMPRESSIONS:
        suffixes.pop()
    return bool(suffixes) and suffixes[-1] in JSONL_SUFFIXES


TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def is_word_file(path: str | os.PathLike) -> bool:
    """True when the file holds pre-split sentences (CoNLL, or JSONL with a token list), False for
    a table of raw texts."""
    import json

    if is_jsonl(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip()), "{}")
        try:
            return any(key in json.loads(first) for key in TOKEN_KEYS)
        except (json.JSONDecodeError, TypeError):
            return False  # read_table reports the bad line
    return Path(path).suffix.lower() not in TABLE_SUFFIXES


def read_ner(path: str | os.PathLike, *, tag_column: int = -1, scheme: str = "auto", repair: bool = False,
             require_tags: bool = True, source: str | None = None) -> NerExamples:
    """Read a CoNLL or JSONL file, chosen by extension (.jsonl/.ndjson/.json, else CoNLL)."""
    if is_jsonl(path):
        return read_ner_jsonl(path, scheme=scheme, repair=repair, require_tags=require_tags, source=source)
    return read_conll(path, tag_column=tag_column, scheme=scheme, repair=repair, require_tags=require_tags,
                      source=source)


def _text(path: Path) -> str:
    check_file(path)
    suffix = path.suffix.lower()
    compression = suffix if suffix in COMPRESSIONS else None
    return _decode(path, _read_bytes(path, compression), compression)


def read_conll(path: str | os.PathLike, *, tag_column: int = -1, scheme: str = "auto", repair: bool = False,
               require_tags: bool = True, source: str | None = None) -> NerExamples:
    """Sentences of a CoNLL file; see the module docstring for the format."""
    path = Path(path)
    label = source or str(path)
    columns: list[list[list[str]]] = []  # per sentence, the fields of each line
    lines: list[int] = []
    width = first = None  # column count of the file, and the line that set it
    current: list[list[str]] = []
    # split("\n"), not splitlines(): U+2028 or U+0085 inside a token must not end the line.
    for number, raw in enumerate(_text(path).split("\n") + [""], 1):
        line = raw.strip(" \t\r")
        if not line or line.startswith("-DOCSTART-"):
            if current:
                columns.append(current)
                current = []
            continue
        fields = _COLUMNS.split(line)
        if width is None:
            width, first = len(fields), number
        elif len(fields) != width:
            raise DataError(f"{label}: line {number} has {len(fields)} columns but line {first} has {width}; every "
                            "token line needs the same columns (token ... tag), separated by spaces or tabs")
        if not current:
            lines.append(number)
        current.append(fields)
    if not columns:
        raise DataError(f"{label}: no sentences (the file is empty or only blank/-DOCSTART- lines); write one "
                        "token per line (token ... tag) with a blank line between sentences")
    tokens = [[fields[0] for fields in sentence] for sentence in columns]
    if width == 1:
        if require_tags:
            raise DataError(f"{label}: line {first} has one column (a token) but no tag column; write "
                            "'token tag' per line, separated by a space or tab")
        return NerExamples(tokens, None, lines, label, info={"columns": 1})
    if not require_tags:  # prediction input: the other columns (POS, chunk, ...) need not be tags
        return NerExamples(tokens, None, lines, label, info={"columns": width})
    if not -width <= tag_column < width or tag_column % width == 0:
        raise DataError(f"{label}: tag column {tag_column} does not exist or is the token column (lines have {width} "
                        f"columns, 0 = token); pick one of 1..{width - 1} or -1 for the last")
    raw_tags = [[fields[tag_column] for fields in sentence] for sentence in columns]
    # A sentence's tokens sit on consecutive lines, so token i of sentence s is on lines[s] + i.
    tags, detected, fixed = _normalize(raw_tags, scheme, repair,
                                       lambda s, i: f"{label}: line {lines[s] + i} (token '{tokens[s][i]}')")
    return NerExamples(tokens, tags, lines, label, detected, fixed, {"columns": width, "tag_column": tag_column})


def _normalize(raw_tags, scheme, repair, where):
    try:
        return normalize_tags(raw_tags, scheme, repair)
    except TagError as e:
        raise DataError(f"{where(e.sentence, e.token)}: {e.reason}") from None


def _find_key(keys: Sequence[str], candidates: Sequence[str], label: str, role: str) -> str | None:
    found = [k for k in candidates if k in keys]
    if len(found) > 1:
        raise DataError(f"{label}: keys {' and '.join(found)} could both be the {role}; keep one")
    return found[0] if found else None


def read_ner_jsonl(path: str | os.PathLike, *, scheme: str = "auto", repair: bool = False,
                   require_tags: bool = True, source: str | None = None) -> NerExamples:
    """Sentences of a JSON-lines file of {"tokens": [...], "tags": [...]} objects."""
    frame = read_table(path)  # missing file, bad UTF-8, invalid JSON, non-objects: one-line errors there
    label = source or str(path)
    keys = [str(c) for c in frame.columns]
    token_key = _find_key(keys, TOKEN_KEYS, label, "token list")
    tag_key = _find_key(keys, TAG_KEYS, label, "tag list")
    if token_key is None:
        raise DataError(f"{label}: no 'tokens' key (keys: {', '.join(keys)}); write objects like "
                        '{"tokens": ["Paris", "is", "big"], "tags": ["B-LOC", "O", "O"]}')
    if tag_key is None and require_tags:
        raise DataError(f"{label}: no 'tags' key (keys: {', '.join(keys)}); add a list of tags, one per token")
    tokens, raw_tags, lines = [], [], [int(n) for n in frame.index]
    for line, sentence, tags in zip(lines, frame[token_key], frame[tag_key] if tag_key else [None] * len(frame)):
        where = f"{label}: line {line}"
        if not isinstance(sentence, list) or not sentence:
            raise DataError(f"{where}: '{token_key}' must be a non-empty list of strings, got {sentence!r:.60}")
        bad = [i for i, t in enumerate(sentence) if not isinstance(t, str) or not t.strip()]
        if bad:
            raise DataError(f"{where}: {format_rows(bad, 'token')} of '{token_key}' not a non-blank string "
                            f"({sentence[bad[0]]!r:.40}); every token must be text")
        tokens.append(sentence)
        if tag_key is None:
            continue
        if not isinstance(tags, list) or len(tags) != len(sentence):
            got = f"{len(tags)} tags" if isinstance(tags, list) else repr(tags)[:40]
            raise DataError(f"{where}: '{tag_key}' must be a list with one tag per token ({len(sentence)}), "
                            f"got {got}")
        bad = [i for i, t in enumerate(tags) if not isinstance(t, str)]
        if bad:
            raise DataError(f"{where}: tag {bad[0]} is {tags[bad[0]]!r}, not a string; write tag names such as "
                            "B-PER (integer class ids need their names)")
        raw_tags.append(tags)
    if tag_key is None:
        return NerExamples(tokens, None, lines, label, info={"format": "jsonl"})
    tags, detected, fixed = _normalize(raw_tags, scheme, repair,
                                       lambda s, i: f"{label}: line {lines[s]}, token {i} ('{tokens[s][i]}')")
    return NerExamples(tokens, tags, lines, label, detected, fixed, {"format": "jsonl"})
