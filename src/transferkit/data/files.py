"""Labelled media files (images, audio): a folder per class, or a table of paths and labels.

What the file-based modalities share: examples that keep references (paths or in-memory
arrays) with one class id each, the folder-per-class layout (`folder/<class>/<file>`), tables
whose path column is relative to the table's own folder, and loose files as unlabelled inputs.
A modality says which file suffixes are its own and what its path column may be called
(`MediaKind`); decoding is the modality's business (vision.decode, audio.decode).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataError
from .columns import LABEL_COLUMNS, find_column
from .labels import LabelMap, check_not_continuous, warn
from .loading import ClassLabelled
from .splits import find_splits
from .tables import read_table


@dataclass(frozen=True)
class MediaKind:
    noun: str  # "image", "audio file": for messages
    suffixes: tuple[str, ...]  # lower-case file suffixes of this kind
    path_columns: tuple[str, ...]  # column names that hold the paths in a table
    option: str  # the flag that names the path column

    def is_file(self, path: Path) -> bool:
        return path.suffix.lower() in self.suffixes and path.is_file()


@dataclass
class MediaExamples:
    """Labelled (or not) media references: `items[i]` is a path or an in-memory object."""

    items: Sequence[Any]
    labels: np.ndarray | None
    rows: np.ndarray  # 1-based position in the source, for messages and prediction files
    source: str
    label_map: LabelMap | None = None

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index, source: str | None = None):
        index = np.asarray(index, dtype=np.int64)
        items = self.items[index] if isinstance(self.items, np.ndarray) else [self.items[i] for i in index]
        return type(self)(items, None if self.labels is None else self.labels[index], self.rows[index],
                          source or self.source, self.label_map)

    @property
    def names(self) -> list[str]:
        """A display name per example: the path, or SOURCE[row] for in-memory inputs."""
        return [str(x) if isinstance(x, (str, os.PathLike)) else f"{self.source}[{r}]"
                for x, r in zip(self.items, self.rows)]


def media_examples(cls: type[MediaExamples], items, raw_labels, source: str, labels: LabelMap | None,
                   id_names=None) -> MediaExamples:
    """Examples of `cls` with `raw_labels` encoded (by `labels`, else by a map made from them)."""
    rows = np.arange(1, len(items) + 1)
    if raw_labels is None:
        return cls(items, None, rows, source, labels)
    raw = list(raw_labels)
    if id_names is not None:  # files store integer ids meaning these names
        raw = [id_names[int(v)] for v in raw]
    if labels is None and id_names is None:
        check_not_continuous(raw, source=source)
    if labels is None:
        labels = LabelMap(list(id_names)) if id_names is not None else LabelMap.from_values(raw)
    return cls(items, labels.encode(raw, source=source, rows=rows, row_kind="item"), rows, source, labels)


def read_class_folders(kind: MediaKind, cls: type[MediaExamples], folder: Path, labels: LabelMap | None = None,
                       require_labels: bool = True, source: str | None = None) -> MediaExamples:
    """`folder/<class>/*` (files of `kind`, searched recursively); loose files with no class
    folders are unlabelled."""
    source = source or str(folder)
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        items, raw = [], []
        for cls_dir in classes:
            files = sorted(p for p in cls_dir.rglob("*") if kind.is_file(p))
            items += [str(p) for p in files]
            raw += [cls_dir.name] * len(files)
        if not items:
            raise DataError(f"{folder}: no {kind.noun}s in its class folders "
                            f"({', '.join(c.name for c in classes[:5])}); expected files ending in "
                            f"{', '.join(kind.suffixes)}")
        return media_examples(cls, items, raw, source, labels)
    files = sorted(str(p) for p in folder.iterdir() if kind.is_file(p))
    if not files:
        raise DataError(f"{folder}: no {kind.noun}s and no class sub-folders; a dataset of {kind.noun}s is a folder "
                        f"with one sub-folder per class, or a CSV/JSONL of path,label")
    if require_labels:
        raise DataError(f"{folder}: {kind.noun}s without labels; put them in one sub-folder per class")
    return media_examples(cls, files, None, source, labels)


def read_path_table(kind: MediaKind, cls: type[MediaExamples], path: Path, labels: LabelMap | None = None,
                    require_labels: bool = True, path_column: str | None = None, label_column: str | None = None,
                    source: str | None = None) -> MediaExamples:
    """CSV/TSV/JSONL/Parquet with a path column (relative to the table's folder) and a label column."""
    frame = read_table(path)
    pcol = find_column(frame.columns, path_column, kind.path_columns, source=str(path), role=f"{kind.noun} path",
                       option=kind.option)
    lcol = find_column(frame.columns, label_column, LABEL_COLUMNS, source=str(path), role="label",
                       option="--label-column", required=require_labels, exclude=pcol)
    items = [str(p) if os.path.isabs(str(p)) else str(path.parent / str(p)) for p in frame[pcol].tolist()]
    return media_examples(cls, items, frame[lcol].tolist() if lcol else None, source or str(path), labels)


def labelled_pair(kind: MediaKind, cls: type[MediaExamples], ref: tuple, source: str,
                  labels: LabelMap | None) -> MediaExamples:
    """(items, labels) given in memory."""
    items, raw = ref
    items = np.asarray(items) if not isinstance(items, (list, tuple)) else list(items)
    if len(items) != len(raw):
        raise DataError(f"{source}: {len(items)} {kind.noun}s but {len(raw)} labels")
    return media_examples(cls, items, list(raw), source, labels)


def decode_each(examples: MediaExamples, decode_one: Callable[[Any], Any], kind: MediaKind, bad: str,
                option: str) -> tuple[list[int], list[Any]]:
    """`decode_one` over every item, before any training: an unreadable one is skipped (one warning
    with the count) or, with `bad == "error"`, an error naming the file. Returns the kept indices
    and their decoded values."""
    names = examples.names
    kept, values, failures = [], [], []
    for i, item in enumerate(examples.items):
        try:
            values.append(decode_one(item))
            kept.append(i)
        except Exception as e:  # noqa: BLE001 - any decoder failure (the libraries raise many kinds) is a bad file
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if bad == "error":
                raise DataError(f"{names[i]}: cannot read this {kind.noun} ({reason}); fix or remove it, "
                                f"or pass {option} skip") from None
            failures.append((names[i], reason))
    if failures:
        first, reason = failures[0]
        if not kept:
            raise DataError(f"{examples.source}: none of its {len(failures)} {kind.noun}s can be read "
                            f"(first: {first}: {reason})")
        warn(f"{examples.source}: skipped {len(failures)} unreadable {kind.noun}(s) of {len(examples)} "
             f"(first: {first}: {reason})")
    return kept, values


class MediaReader(ClassLabelled):
    """Labelled media for `data.load_splits`: class folders, tables of paths, (items, labels) and
    loose items in memory. A modality sets `media`, `examples` and `kind`, and `as_examples` for
    unlabelled inputs in memory."""

    media: MediaKind
    examples: type[MediaExamples] = MediaExamples

    def __init__(self, path_column: str | None = None, label_column: str | None = None,
                 min_class_count: int | None = None):
        self.path_column, self.label_column, self.min_class_count = path_column, label_column, min_class_count

    def entries(self, folder: Path) -> dict[str, Path]:
        """train/ val/ test/ sub-folders; {} for a class-folder tree."""
        return find_splits(folder, Path.is_dir)

    def is_labelled_pair(self, ref: Any) -> bool:
        return isinstance(ref, tuple) and len(ref) == 2

    def as_examples(self, ref: Any, source: str) -> MediaExamples:
        raise NotImplementedError

    def read(self, ref: Any, *, source: str, spec=None, labels: LabelMap | None = None,
             require_labels: bool = True) -> MediaExamples:
        if isinstance(ref, self.examples):
            return ref if labels is None or ref.label_map is None else self.relabel(ref, labels)
        if self.is_labelled_pair(ref):
            return labelled_pair(self.media, self.examples, ref, source, labels)
        if not isinstance(ref, (str, os.PathLike)):
            return self.as_examples(ref, source)
        path = Path(ref)
        if path.is_dir():
            return read_class_folders(self.media, self.examples, path, labels, require_labels, source)
        if path.suffix.lower() in self.media.suffixes:
            return media_examples(self.examples, [str(path)], None, source, labels)
        return read_path_table(self.media, self.examples, path, labels, require_labels, self.path_column,
                               self.label_column, source)
