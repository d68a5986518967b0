"""Unlabelled text -> token ids on disk, streamed: what pretraining reads.

    corpus = read_corpus("notes.txt", documents=True)          # nothing read yet
    tokens = tokenize_corpus(corpus, tokenizer, cache_dir)      # streamed in shards, cached

A corpus is a sequence of documents, each a list of segments (sentences or lines; next-sentence
prediction pairs segments, everything else concatenates them). Sources:
- `.txt` (optionally .gz/.bz2/.xz): one document per line, or with `documents=True` documents
  separated by blank lines, each line a segment; a folder of `.txt` files reads each file so;
- a table (CSV/TSV/JSONL/Parquet) with a text column (detected, or `text_column`): a document per row;
- a named dataset (its texts; `NAME:SPLIT` for one split), or texts in memory.

Text files are read line by line and tokenised in shards of `SHARD` segments straight into
append-only files (ids int32, word starts uint8, offsets int64), so a corpus larger than memory
is never held whole; the result is memory-mapped. The files live under the token cache, keyed
by the tokenizer and the source (path, size, modification time), and are written to a temporary
folder first and renamed: a killed run leaves no half cache behind.
"""

from __future__ import annotations

import atexit
import bz2
import gzip
import hashlib
import io
import lzma
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Sequence

import numpy as np

from ...errors import DataError

SHARD = 4096  # segments tokenised per call of the Rust tokenizer
_FORMAT = 2
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
_OPENERS = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}


@dataclass
class Corpus:
    """Where a corpus's documents come from (nothing is read until `documents()` is iterated)."""

    source: str  # for messages
    files: list[Path] = field(default_factory=list)  # text files, read line by line
    texts: list[str] | None = None  # documents in memory (tables, datasets, lists)
    documents_by_blank_lines: bool = False
    split_sentences: bool = False  # segments: sentences of each line (next-sentence prediction)
    evaluate: bool = True  # scored (masks drawn once) rather than read for predictions

    def fingerprint(self) -> bytes:
        digest = hashlib.sha256(f"{_FORMAT}|{self.documents_by_blank_lines}|{self.split_sentences}".encode())
        for path in self.files:
            stat = path.stat()
            digest.update(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\x00".encode())
        for text in self.texts or ():
            digest.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        return digest.digest()

    def documents(self) -> Iterator[list[str]]:
        """Each document as its segments (non-empty, stripped)."""
        for path in self.files:
            yield from self._file_documents(path)
        for text in self.texts or ():
            segments = self._segments(text)
            if segments:
                yield segments

    def _segments(self, line: str) -> list[str]:
        line = line.strip()
        if not line:
            return []
        if not self.split_sentences:
            return [line]
        return [part for part in _SENTENCE_END.split(line) if part.strip()]

    def _file_documents(self, path: Path) -> Iterator[list[str]]:
        opener = _OPENERS.get(path.suffix.lower())
        try:
            raw = opener(path, "rb") if opener else open(path, "rb")
            with io.TextIOWrapper(raw, encoding="utf-8", errors="strict") as f:
                current: list[str] = []
                for number, line in enumerate(f, 1):
                    if "\x00" in line:
                        raise DataError(f"{path}: line {number} holds a NUL byte (a binary file?); pretraining "
                                        "reads UTF-8 text")
                    if self.documents_by_blank_lines:
                        if line.strip():
                            current.append(line.strip())
                        elif current:
                            yield current
                            current = []
                    elif segments := self._segments(line):
                        yield segments
                if current:
                    yield current
        except UnicodeDecodeError as e:
            raise DataError(f"{path}: not UTF-8 text near byte {e.start}; convert it (e.g. iconv -t utf-8)") from None
        except (OSError, EOFError, lzma.LZMAError) as e:
            raise DataError(f"{path}: cannot read it ({e}); check the file") from None


TEXT_SUFFIXES = (".txt", ".text")


def read_corpus(source, *, text_column: str | None = None, documents: bool = False, split_sentences: bool = False,
                evaluate: bool = True) -> Corpus:
    """A Corpus for a file, folder, named dataset (NAME or NAME:SPLIT) or texts in memory."""
    options = {"documents_by_blank_lines": documents, "split_sentences": split_sentences and not documents,
               "evaluate": evaluate}
    if isinstance(source, Corpus):
        return source
    if isinstance(source, str) and not _looks_like_path(source):
        pass  # a dataset name: resolved below
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.is_file() and _is_text_file(p))
            if not files:
                raise DataError(f"{path}: no .txt files in this folder; pretraining reads .txt files (one document "
                                "per line), a table with a text column, or a named dataset")
            return Corpus(str(path), files=files, **options)
        if path.is_file() and _is_text_file(path):
            return Corpus(str(path), files=[path], **options)
    if isinstance(source, (list, tuple)):
        from ...text.examples import check_texts

        texts = check_texts(list(source), source="texts")
        return Corpus("texts", texts=texts, **options)
    if not isinstance(source, (str, os.PathLike)):
        raise DataError(f"invalid corpus: {type(source).__name__}; pass a .txt file, a folder of them, a table, "
                        "a dataset name or a list of texts")
    return Corpus(str(source), texts=_table_texts(source, text_column), **options)


def _looks_like_path(text: str) -> bool:
    return Path(text).exists() or "/" in text or os.sep in text or bool(Path(text).suffix)


def _is_text_file(path: Path) -> bool:
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    return bool(suffixes) and suffixes[-1] in TEXT_SUFFIXES


def _table_texts(source, text_column: str | None) -> list[str]:
    """The texts of a table or named dataset (a tagged-token dataset's sentences joined by spaces)."""
    from ...data import TAGGED_TOKENS, resolve

    resolved = resolve(source)
    if resolved.spec is not None and resolved.spec.kind == TAGGED_TOKENS:
        from ..token_classification.data import load_ner

        tagged = load_ner(str(source) if resolved.split else f"{source}:train", require_tags=False)
        return [" ".join(words) for words in tagged.tokens]
    from ...text.examples import load_texts

    name = str(source)
    if resolved.spec is not None and not resolved.split:
        name = f"{name}:train"  # a named dataset's texts for pretraining: its training split
    return load_texts(name, text_column=text_column, require_labels=False).texts


# ---------------------------------------------------------------------------------- token cache


@dataclass
class CorpusTokens:
    """A tokenised corpus: segment s is ids[seg_offsets[s]:seg_offsets[s + 1]], document d is the
    segments doc_offsets[d]:doc_offsets[d + 1]; `word_starts[t]` is 1 where token t starts a word."""

    ids: np.ndarray  # int32, memory-mapped
    word_starts: np.ndarray  # uint8, memory-mapped
    seg_offsets: np.ndarray  # int64 [segments + 1]
    doc_offsets: np.ndarray  # int64 [documents + 1]

    @property
    def documents(self) -> int:
        return len(self.doc_offsets) - 1

    def doc_span(self, d: int) -> tuple[int, int]:
        return int(self.seg_offsets[self.doc_offsets[d]]), int(self.seg_offsets[self.doc_offsets[d + 1]])

    def doc_segments(self, d: int) -> list[tuple[int, int]]:
        segs = self.seg_offsets[self.doc_offsets[d]:self.doc_offsets[d + 1] + 1]
        return [(int(a), int(b)) for a, b in zip(segs[:-1], segs[1:])]

    def doc_lengths(self) -> np.ndarray:
        return np.diff(self.seg_offsets[self.doc_offsets])


def tokenize_corpus(corpus: Corpus, tokenizer, cache_dir: Path | None) -> CorpusTokens:
    """The corpus's token ids (no special tokens), from the cache when this tokenizer already read it."""
    from ...text.tokens import tokenizer_fingerprint

    key = hashlib.sha256(corpus.fingerprint() + tokenizer_fingerprint(tokenizer)).hexdigest()[:32]
    if cache_dir is None:
        work = Path(tempfile.mkdtemp(prefix="transferkit-corpus-"))
        atexit.register(shutil.rmtree, work, True)  # memory-mapped until the process ends
        _write(corpus, tokenizer, work)
        return _open(work)
    final = Path(cache_dir) / key
    if not (final / "done").is_file():
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{key}."))
        try:
            _write(corpus, tokenizer, work)
            (work / "done").touch()
            if not (final / "done").is_file():  # another process (a multi-process run) may have won the race
                shutil.rmtree(final, ignore_errors=True)  # a stale folder without its done marker
                try:
                    os.replace(work, final)
                except OSError:
                    if not (final / "done").is_file():
                        raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return _open(final)


def _write(corpus: Corpus, tokenizer, folder: Path) -> None:
    seg_lengths: list[int] = []
    doc_sizes: list[int] = []
    pending: list[str] = []
    with open(folder / "ids.bin", "wb") as ids_file, open(folder / "word_starts.bin", "wb") as starts_file:
        def flush() -> None:
            if not pending:
                return
            enc = tokenizer(pending, add_special_tokens=False, return_attention_mask=False,
                            return_token_type_ids=False)
            for i, ids in enumerate(enc["input_ids"]):
                ids_file.write(np.asarray(ids, dtype=np.int32).tobytes())
                starts_file.write(_word_starts(enc.word_ids(i)).tobytes())
                seg_lengths.append(len(ids))
            pending.clear()

        for segments in corpus.documents():
            pending.extend(segments)
            doc_sizes.append(len(segments))
            if len(pending) >= SHARD:
                flush()
        flush()
    if not doc_sizes:
        raise DataError(f"{corpus.source}: no text in this corpus (every line is empty); pretraining needs text")
    seg_offsets = np.zeros(len(seg_lengths) + 1, dtype=np.int64)
    np.cumsum(seg_lengths, out=seg_offsets[1:])
    doc_offsets = np.zeros(len(doc_sizes) + 1, dtype=np.int64)
    np.cumsum(doc_sizes, out=doc_offsets[1:])
    np.save(folder / "seg_offsets.npy", seg_offsets)
    np.save(folder / "doc_offsets.npy", doc_offsets)


def _word_starts(word_ids: Sequence[int | None]) -> np.ndarray:
    """1 where a token starts a new word (from the fast tokenizer's pre-tokenisation, so it holds for
    WordPiece, BPE and Unigram alike, not only for '##' continuation pieces)."""
    out = np.ones(len(word_ids), dtype=np.uint8)
    previous = None
    for i, word in enumerate(word_ids):
        if word is not None and word == previous:
            out[i] = 0
        previous = word
    return out


def _open(folder: Path) -> CorpusTokens:
    def mapped(name: str, dtype) -> np.ndarray:
        path = folder / name
        return np.memmap(path, dtype=dtype, mode="r") if path.stat().st_size else np.zeros(0, dtype=dtype)

    return CorpusTokens(mapped("ids.bin", np.int32), mapped("word_starts.bin", np.uint8),
                        np.load(folder / "seg_offsets.npy"), np.load(folder / "doc_offsets.npy"))


def iter_texts(corpus: Corpus) -> Iterable[str]:
    """Every segment's text (what a new tokenizer is trained on)."""
    for segments in corpus.documents():
        yield from segments
