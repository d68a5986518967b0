"""Which column of a table holds what: the one rule every reader (texts, image paths, labels) uses."""

from __future__ import annotations

from typing import Sequence

from ..errors import DataError

LABEL_COLUMNS = ("label", "labels", "class", "category", "target")


def find_column(columns: Sequence[str], wanted: str | None, candidates: Sequence[str], *, source: str,
                role: str, option: str, required: bool = True, exclude: str | None = None) -> str | None:
    """The column to use for `role` ('text', 'label', ...): `wanted` if given, else the one candidate present.

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
