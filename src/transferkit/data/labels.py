"""LabelMap: raw label values <-> int64 class ids, with the class order fixed once, by training.

Raw labels come as strings from CSV ('1', ' positive'), as ints or floats from JSONL/Parquet (1,
1.0), so every value is normalised to one key first: integer-like values become their decimal
string ('01', 1.0 and 1 are all '1'), other strings are stripped. Integer labels stay in numeric
order (ids match the usual 0..k-1 convention); string labels are sorted, so the same data always
gives the same ids.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np

from ..errors import DataError
from .tables import format_rows

_INT = re.compile(r"[+-]?\d+(\.0*)?")


class DataWarning(UserWarning):
    """Data was changed to be usable (rows dropped, labels reinterpreted); the message says how."""


def warn(message: str) -> None:
    """A DataWarning attributed to the first caller outside transferkit (the user's line)."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_globals.get("__name__", "").startswith("transferkit."):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, DataWarning, stacklevel=level)


def label_key(value) -> str | None:
    """The normalised key of one raw label, or None when the label is missing (None, NaN, '')."""
    if value is None or type(value).__name__ in ("NAType", "NaTType"):  # pandas' missing markers
        return None
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if math.isnan(value):
            return None
        return str(int(value)) if float(value).is_integer() else str(float(value))
    text = str(value).strip()
    if not text or text.lower() == "nan":  # pandas turns a missing float into 'nan' on the way to str
        return None
    return str(int(text.split(".")[0])) if _INT.fullmatch(text) else text


def _as_float(key: str) -> float | None:
    try:
        return float(key)
    except ValueError:
        return None


def check_not_continuous(raw_values: Iterable, *, source: str, column: str = "label") -> None:
    """Labels that are numbers with fractions (0.5, 1.25) are a regression target, not classes."""
    keys = [k for k in map(label_key, raw_values) if k is not None]
    numbers = [_as_float(k) for k in keys]
    if keys and all(x is not None for x in numbers) and any(not float(x).is_integer() for x in numbers):
        shown = ", ".join(sorted(set(keys), key=lambda k: float(k))[:4])
        raise DataError(f"{source}: column '{column}' holds numbers with fractions ({shown}, ...: {len(set(keys))} "
                        "distinct values); that looks like a regression target, and transferkit's tasks classify: "
                        "give class labels (or bin the values into classes)")


def _is_int(key: str) -> bool:
    return bool(re.fullmatch(r"-?\d+", key))


@dataclass
class LabelMap:
    """Class names in id order: `names[i]` is the name of class id i."""

    names: list[str]
    _ids: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.names = [str(n) for n in self.names]
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"duplicate label names: {self.names}")
        self._ids = {name: i for i, name in enumerate(self.names)}

    def __len__(self) -> int:
        return len(self.names)

    @classmethod
    def from_values(cls, raw_values: Iterable) -> LabelMap:
        """The classes present in raw_values (missing ones ignored): ints numerically, else sorted."""
        keys = {k for k in map(label_key, raw_values) if k is not None}
        if keys and all(_is_int(k) for k in keys):
            return cls(sorted(keys, key=int))
        return cls(sorted(keys))

    def encode(self, raw_values: Sequence, *, source: str, rows: Sequence[int], column: str = "label",
               row_kind: str = "line") -> np.ndarray:
        """Class ids (int64) of raw_values; rows are their 1-based line numbers, for the error.

        A label that is not one of `names` is an error naming the rows and the unknown labels.
        One exception, with a DataWarning: when the names are words (negative, positive) and every
        value is an integer in 0..k-1, the integers are read as class ids (SST-2 style 0/1 files).
        """
        keys = [label_key(v) for v in raw_values]
        missing = [r for r, k in zip(rows, keys) if k is None]
        if missing:
            raise DataError(f"{source}: column '{column}' has no label on {format_rows(missing, row_kind)}; fill "
                            "them in, pass --drop-invalid to drop those rows, or name another --label-column")
        ids = self._ids
        unknown = sorted({k for k in keys if k not in ids})
        if unknown and self._ids_fit(keys):
            warn(f"{source}: labels in '{column}' are integers, read as class ids: "
                 + ", ".join(f"{i}={n}" for i, n in enumerate(self.names)))
            return np.asarray([int(k) for k in keys], dtype=np.int64)
        if unknown:
            bad_rows = [r for r, k in zip(rows, keys) if k not in ids]
            shown = ", ".join(repr(u) for u in unknown[:5])
            shown += f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise DataError(f"{source}: label(s) {shown} in column '{column}' on {format_rows(bad_rows, row_kind)} "
                            f"never seen in training (known: {', '.join(self.names)}); fix or drop those rows, "
                            "or add examples of them to the training data")
        return np.fromiter((ids[k] for k in keys), dtype=np.int64, count=len(keys))

    def _ids_fit(self, keys: list[str]) -> bool:
        if any(_is_int(n) for n in self.names) or not all(_is_int(k) for k in keys):
            return False
        return all(0 <= int(k) < len(self.names) for k in keys)

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.names[int(i)] for i in ids]

    def to_json(self) -> dict:
        return {"names": list(self.names)}

    @classmethod
    def from_json(cls, d: dict | list) -> LabelMap:
        """Inverse of to_json; a bare list of names is accepted too."""
        return cls(list(d["names"] if isinstance(d, dict) else d))
