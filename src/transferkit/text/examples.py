"""Texts with labels, read from tables (CSV, TSV, JSONL, Parquet, .txt) or given in memory.

    from transferkit.text import load_text_splits, load_texts
    splits = load_text_splits("reviews.csv")            # seeded, stratified 80/10/10
    splits = load_text_splits("rotten_tomatoes")        # a named dataset, fetched and cached
    test = load_texts("sst2:validation", labels=splits.labels)

A table becomes TextExamples: the text/label columns are found, every row is checked, labels
are encoded. Checks fail loudly by default (one line naming the file, the column and the first
few rows), because a silently skipped row changes what a model is trained or scored on;
`drop_invalid` (CLI `--drop-invalid`) drops such rows instead and warns with how many. Splits,
folders and named datasets work as for every kind of data (`transferkit.data.loading`).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import (
    LABEL_COLUMNS,
    LABELLED_TEXTS,
    ClassLabelled,
    LabelMap,
    find_column,
    load_split,
    load_splits,
    read_table,
    table_splits,
)
from ..data.labels import DataWarning, check_not_continuous, label_key, warn
from ..data.splits import DEFAULT_FRACTIONS, DEFAULT_SEED
from ..data.tables import format_rows
from ..errors import DataError

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")


@dataclass
class TextExamples:
    """One split: texts, their class ids (None if unlabelled) and 1-based source line numbers."""

    texts: list[str]
    labels: np.ndarray | None
    rows: np.ndarray
    source: str
    label_map: LabelMap | None = None  # the map that encoded `labels`, to decode ids back to names

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, index: Sequence[int] | np.ndarray, source: str | None = None) -> TextExamples:
        """The examples at positions `index` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        return TextExamples([self.texts[i] for i in index], None if self.labels is None else self.labels[index],
                            self.rows[index], source or self.source, self.label_map)


def _bad_texts(values: list) -> list[int]:
    """Positions whose text is missing, not a string (a number in JSONL, a null), only whitespace,
    or holds a NUL byte (binary data, or a file cut short): the same rule for training and predicting."""
    return [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip() or "\x00" in v]


def check_texts(texts: Sequence, *, source: str, rows=None, kind: str = "item") -> list[str]:
    """Texts given in memory, checked like a file's rows (one line naming the first bad ones)."""
    if isinstance(texts, str):
        raise DataError(f"{source}: expected a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
    bad = _bad_texts(texts)
    if bad:
        where = format_rows((np.asarray(rows) if rows is not None else np.arange(1, len(texts) + 1))[bad], kind)
        raise DataError(f"{source}: {where} empty, not text or holding a NUL byte; every text needs some characters")
    return texts


def _named(values: list, names: Sequence[str]) -> list:
    """Integer labels 0..k-1 replaced by names[i] (datasets such as SST-2 store 0/1)."""
    out = []
    for v in values:
        key = label_key(v)
        out.append(names[int(key)] if key is not None and key.lstrip("-").isdigit() and 0 <= int(key) < len(names)
                   else v)
    return out


def examples_from_frame(frame, *, source: str, text_column: str | None = None, label_column: str | None = None,
                        labels: LabelMap | None = None, require_labels: bool = True, drop_invalid: bool = False,
                        id_names: Sequence[str] | None = None) -> tuple[TextExamples, str, str | None]:
    """(examples, text column, label column or None) from a frame made by `read_table`.

    With require_labels=False the label column is optional: labels are filled in only when a
    label column is found and every row has a label the map knows, else left None.
    `id_names` names integer labels 0..k-1 (a named dataset's convention) and fixes the class order.
    """
    kind = frame.attrs.get("row_kind", "line")
    text_col = find_column(frame.columns, text_column, TEXT_COLUMNS, source=source, role="text",
                           option="--text-column")
    strict_labels = require_labels or label_column is not None
    label_col = find_column(frame.columns, label_column, LABEL_COLUMNS, source=source, role="label",
                            option="--label-column", required=strict_labels, exclude=text_col)
    if label_col is not None and label_col == text_col:
        raise DataError(f"{source}: '{text_col}' is given as both the text and the label column; "
                        "pass a different --label-column")
    texts = frame[text_col].tolist()
    rows = np.asarray(frame.index, dtype=np.int64)
    raw = frame[label_col].tolist() if label_col is not None else None
    if raw is not None and id_names is not None:
        raw = _named(raw, id_names)
        labels = labels or LabelMap(list(id_names))

    bad = set(_bad_texts(texts))
    unlabelled = {i for i, v in enumerate(raw) if label_key(v) is None} if raw is not None and strict_labels else set()
    if bad and not drop_invalid:
        raise DataError(f"{source}: column '{text_col}' is empty, not text or holds a NUL byte on "
                        f"{format_rows(rows[sorted(bad)], kind)}; fix them or pass --drop-invalid to drop them")
    invalid = sorted(bad | unlabelled) if drop_invalid else []
    if invalid:
        what = f"empty/non-text/NUL '{text_col}'" + (f" or missing '{label_col}'" if unlabelled else "")
        if len(invalid) == len(texts):
            raise DataError(f"{source}: no usable rows: every row has {what}; check --text-column/--label-column")
        warn(f"{source}: dropped {len(invalid)} of {len(texts)} rows with {what} "
                      f"({format_rows(rows[invalid], kind)})")
        keep = np.setdiff1d(np.arange(len(texts)), invalid)
        texts, rows = [texts[i] for i in keep], rows[keep]
        raw = [raw[i] for i in keep] if raw is not None else None

    ids = None
    if raw is not None and labels is None:
        check_not_continuous(raw, source=source, column=label_col)
    if raw is not None:
        label_map = labels or LabelMap.from_values(raw)
        if strict_labels:
            ids = label_map.encode(raw, source=source, rows=rows, column=label_col, row_kind=kind)
        else:  # optional labels (prediction data): use them only if they are complete and known
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", DataWarning)
                    ids = label_map.encode(raw, source=source, rows=rows, column=label_col, row_kind=kind)
            except DataError:
                ids, label_col = None, None
        labels = label_map if ids is not None else labels
    return TextExamples(texts, ids, rows, source, labels), text_col, label_col


def check_classes(examples: TextExamples, *, column: str) -> None:
    """A classifier needs at least two classes in its training data."""
    present = np.unique(examples.labels) if examples.labels is not None else []
    if len(present) < 2:
        name = examples.label_map.decode(present)[0] if len(present) and examples.label_map else "?"
        raise DataError(f"{examples.source}: column '{column}' holds a single class ('{name}') in all "
                        f"{len(examples)} rows; training needs at least two classes, check the file or --label-column")


@dataclass
class TextSplits:
    train: TextExamples
    validation: TextExamples | None
    test: TextExamples | None
    labels: LabelMap
    text_column: str | None
    label_column: str | None
    split_info: dict  # how the splits were made: method, seed, fractions, sizes, files


class TextTableReader(ClassLabelled):
    """Labelled texts for `data.load_splits`: tables, folders of split tables, named datasets, and
    in memory (texts, labels) pairs or TextExamples. Records the columns it used in `columns`."""

    kind = LABELLED_TEXTS
    unit = "row"

    def __init__(self, text_column: str | None = None, label_column: str | None = None, drop_invalid: bool = False,
                 min_class_count: int | None = None):
        self.text_column, self.label_column, self.drop_invalid = text_column, label_column, drop_invalid
        self.min_class_count = min_class_count
        self.columns: dict[str, str | None] = {}

    def entries(self, folder: Path) -> dict[str, Path]:
        return table_splits(folder)

    def read(self, ref: Any, *, source: str, spec=None, labels: LabelMap | None = None,
             require_labels: bool = True) -> TextExamples:
        if isinstance(ref, TextExamples):
            return ref if labels is None or ref.label_map is None else self.relabel(ref, labels)
        if not isinstance(ref, (str, os.PathLike)):
            return in_memory(ref, labels, source)
        path = Path(ref)
        if path.is_dir():
            found = ", ".join(p.name for p in sorted(path.iterdir())[:10]) or "nothing"
            raise DataError(f"{path}: no train file (found {found}); "
                            "name the training data train.csv (or .tsv/.jsonl/.parquet), and optionally validation.* "
                            "and test.*")
        text_column, label_column = self.text_column, self.label_column
        if spec is not None:
            text_column = text_column or spec.text_column
            label_column = label_column or (spec.label_column if require_labels else None)
        examples, text_col, label_col = examples_from_frame(
            read_table(path), source=source, text_column=text_column, label_column=label_column, labels=labels,
            require_labels=require_labels, drop_invalid=self.drop_invalid, id_names=spec.id_names if spec else None)
        if not self.columns:
            self.columns = {"text_column": text_col, "label_column": label_col}
        return examples

    def check_train(self, examples: TextExamples) -> TextExamples:
        if self.min_class_count:
            examples = self._drop_rare(examples)
        check_classes(examples, column=self.columns.get("label_column") or "label")
        return examples


def in_memory(split: Any, labels: LabelMap | None, source: str) -> TextExamples:
    """TextExamples from (texts, raw labels) or a list of texts (unlabelled)."""
    if isinstance(split, tuple) and len(split) == 2:
        texts, raw = check_texts(split[0], source=source), list(split[1])
        if len(texts) != len(raw):
            raise DataError(f"{source}: {len(texts)} texts but {len(raw)} labels")
        rows = np.arange(1, len(texts) + 1)
        if labels is None:
            check_not_continuous(raw, source=source)
            labels = LabelMap.from_values(raw)
        return TextExamples(texts, labels.encode(raw, source=source, rows=rows, row_kind="item"), rows, source,
                            labels)
    texts = check_texts(split, source=source)
    return TextExamples(texts, None, np.arange(1, len(texts) + 1), source)


def load_texts(path_or_name, *, text_column: str | None = None, label_column: str | None = None,
               labels: LabelMap | None = None, require_labels: bool = True, drop_invalid: bool = False,
               seed: int = DEFAULT_SEED) -> TextExamples:
    """One file, named split (`sst2:validation`, `rotten_tomatoes:test`) or in-memory texts, for
    evaluate/predict/embed.

    `labels`: the training LabelMap to encode with (unknown labels are an error); None builds one
    from the file. require_labels=False makes the label column optional (prediction data):
    labels are then filled in only if a label column is found and every label is known.
    """
    reader = TextTableReader(text_column, label_column, drop_invalid)
    return load_split(reader, path_or_name, labels=labels, require_labels=require_labels, seed=seed)


def load_text_splits(train, validation=None, test=None, *, text_column: str | None = None,
                     label_column: str | None = None, seed: int = DEFAULT_SEED, drop_invalid: bool = False,
                     split: Sequence[float] = DEFAULT_FRACTIONS, min_class_count: int | None = None) -> TextSplits:
    """Labelled train/validation/test texts.

    `train` is a file, a folder holding `train.*` and optionally `validation.*` (or `dev.*`,
    `valid.*`, `val.*`) and `test.*`, a named dataset, or (texts, labels) in memory. Explicit
    `validation`/`test` override the folder's. A single source is split deterministically:
    `split` gives the (train, validation, test) fractions (default 80/10/10; 0 leaves a split
    out), stratified by label with `seed`. When train + validation are given without test,
    there is no test split.
    """
    reader = TextTableReader(text_column, label_column, drop_invalid, min_class_count)
    splits = load_splits(reader, train, validation, test, seed=seed, fractions=split)
    return TextSplits(splits.train, splits.validation, splits.test, splits.labels,
                      reader.columns.get("text_column"), reader.columns.get("label_column"), splits.split_info)
