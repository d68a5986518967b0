"""Turn a table into TextExamples: find the text/label columns, check every row, encode labels.

Checks fail loudly by default (one line naming the file, the column and the first few rows),
because a silently skipped row changes what a model is trained or scored on; `drop_invalid`
(CLI `--drop-invalid`) drops such rows instead and warns with how many.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import DataError
from .labels import DataWarning, LabelMap, label_key, warn
from .tables import format_rows

TEXT_COLUMNS = ("text", "sentence", "review", "content", "document")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target")


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

    def subset(self, index: Sequence[int] | np.ndarray, source: str | None = None) -> "TextExamples":
        """The examples at positions `index` (in that order)."""
        index = np.asarray(index, dtype=np.int64)
        return TextExamples([self.texts[i] for i in index], None if self.labels is None else self.labels[index],
                            self.rows[index], source or self.source, self.label_map)


def find_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], *, source: str,
                role: str, option: str, required: bool = True, exclude: str | None = None) -> str | None:
    """The column to use for `role` ('text' or 'label'): `wanted` if given, else the one candidate present.

    `wanted` matches exactly, else case-insensitively when that is unambiguous. Auto-detection
    compares case-insensitively; two candidates present (e.g. both `text` and `sentence`) is an
    error asking the user to choose, because guessing would silently train on the wrong column.
    """
    columns = [str(c) for c in columns]
    listed = ", ".join(columns)
    if wanted is not None:
        if wanted in columns:
            return wanted
        folded = [c for c in columns if c.lower() == wanted.lower()]
        if len(folded) == 1:
            return folded[0]
        raise DataError(f"{source}: no column '{wanted}' (columns: {listed}); pass one of them with {option}")
    found = [c for c in columns if c.strip().lower() in candidates and c != exclude]
    if len(found) == 1:
        return found[0]
    if len(found) > 1 and required:
        raise DataError(f"{source}: columns {' and '.join(repr(c) for c in found)} could both be the {role} column; "
                        f"choose one with {option} {found[0]}")
    if not found and required:
        raise DataError(f"{source}: no {role} column found (columns: {listed}; looked for "
                        f"{', '.join(candidates)}); name it with {option} COLUMN")
    return None


def _bad_texts(values: list) -> list[int]:
    """Positions whose text is missing, not a string (a number in JSONL, a null) or only whitespace."""
    return [i for i, v in enumerate(values) if not isinstance(v, str) or not v.strip()]


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
        raise DataError(f"{source}: column '{text_col}' is empty or not text on "
                        f"{format_rows(rows[sorted(bad)], kind)}; fill them in or pass --drop-invalid to drop them")
    invalid = sorted(bad | unlabelled) if drop_invalid else []
    if invalid:
        what = f"empty/non-text '{text_col}'" + (f" or missing '{label_col}'" if unlabelled else "")
        if len(invalid) == len(texts):
            raise DataError(f"{source}: no usable rows: every row has {what}; check --text-column/--label-column")
        warn(f"{source}: dropped {len(invalid)} of {len(texts)} rows with {what} "
                      f"({format_rows(rows[invalid], kind)})")
        keep = np.setdiff1d(np.arange(len(texts)), invalid)
        texts, rows = [texts[i] for i in keep], rows[keep]
        raw = [raw[i] for i in keep] if raw is not None else None

    ids = None
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
