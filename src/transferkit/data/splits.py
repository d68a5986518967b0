"""Train/validation/test splits: which files of a folder are which split, and the seeded split of one source.

Every reader (text tables, tagged tokens, images) finds split files the same way and splits a
single source the same way, so `NAME:test` always names exactly the rows a default training run
held out.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import ConfigError, DataError

DEFAULT_SEED = 42
DEFAULT_FRACTIONS = (0.8, 0.1, 0.1)
# A file or folder belongs to a split when its name starts with one of these words (then ".",
# "-" or "_"): train.csv, dev.conll, validation/, t10k-images-idx3-ubyte.gz (MNIST), testb.txt (CoNLL).
SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "dev", "valid", "val", "testa"),
               "test": ("test", "testb", "t10k")}
_FIRST_WORD = re.compile(r"[.\-_]")


def split_of(name: str) -> str | None:
    """The split a file or folder name stands for, or None."""
    word = _FIRST_WORD.split(name, maxsplit=1)[0].lower()
    return next((split for split, words in SPLIT_NAMES.items() if word in words), None)


def find_splits(folder: Path, accept: Callable[[Path], bool] = lambda p: True, *,
                missing_train: str | None = None) -> dict[str, Path]:
    """{'train': path, 'validation': ..., 'test': ...} of the entries of `folder` that `accept` takes.

    Two entries for one split is an error (the user must choose). `missing_train`, when given,
    is the advice of the error raised when there is no train entry.
    """
    found: dict[str, list[Path]] = {split: [] for split in SPLIT_NAMES}
    for path in sorted(p for p in Path(folder).iterdir() if not p.name.startswith(".")):
        split = split_of(path.name)
        if split is not None and accept(path):
            found[split].append(path)
    for split, paths in found.items():
        if len(paths) > 1:
            raise DataError(f"{folder}: several {split} files ({', '.join(p.name for p in paths)}); keep one")
    if missing_train is not None and not found["train"]:
        names = ", ".join(p.name for p in sorted(Path(folder).iterdir())[:10]) or "nothing"
        raise DataError(f"{folder}: no train file (found {names}); {missing_train}")
    return {split: paths[0] for split, paths in found.items() if paths}


def check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) == 2:
        values = (*values, 0.0)
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(f"split={tuple(fractions)}: give (train, validation, test) fractions >= 0 summing to 1, "
                          "e.g. (0.8, 0.1, 0.1), with a non-zero train fraction")
    return values  # type: ignore[return-value]


def split_indices(labels: np.ndarray, fractions: Sequence[float], seed: int, *, source: str = "data",
                  names: Sequence[str] | None = None):
    """Classification data: ({'train': idx, 'validation': idx, 'test': idx}, 'stratified').

    scikit-learn's `train_test_split(stratify=labels, random_state=seed)`, test first, then
    validation from the rest; each split in file order; a fraction of 0 leaves its split out.
    A class too small to be in every split is an error naming it (a class only in validation
    would be scored without ever being trained on): drop it with --min-class-count, or give
    validation/test files. `names` are the class names for that message.
    """
    from sklearn.model_selection import train_test_split

    _, f_val, f_test = fractions
    everything = np.arange(len(labels))
    _check_stratifiable(labels, fractions, source, names)

    def split(stratify: bool) -> dict[str, np.ndarray]:
        parts, rest = {}, everything
        if f_test > 0:
            rest, parts["test"] = train_test_split(rest, test_size=f_test, random_state=seed,
                                                   stratify=labels[rest] if stratify else None)
        if f_val > 0:
            rest, parts["validation"] = train_test_split(rest, test_size=f_val / (1 - f_test), random_state=seed,
                                                         stratify=labels[rest] if stratify else None)
        parts["train"] = rest
        order = ("train", "validation", "test")
        return {k: np.sort(parts[k]) for k in order if k in parts}  # file order within each split

    try:
        return split(stratify=True), "stratified"
    except ValueError as e:
        raise DataError(f"{source}: {len(labels)} rows of {len(np.unique(labels))} classes cannot be split "
                        f"{'/'.join(str(round(f * 100)) for f in fractions)} with every class in every split ({e}); "
                        "add rows, drop rare classes with --min-class-count N, or pass --validation/--test files"
                        ) from None


def _check_stratifiable(labels: np.ndarray, fractions: Sequence[float], source: str, names) -> None:
    splits = sum(1 for f in fractions if f > 0)
    ids, counts = np.unique(labels, return_counts=True)
    rare = [(int(i), int(c)) for i, c in zip(ids, counts) if c < max(2, splits)]
    if not rare:
        return
    label = (lambda i: repr(names[i])) if names is not None else str
    shown = ", ".join(f"{label(i)} ({c})" for i, c in sorted(rare, key=lambda r: r[1])[:5])
    more = f" and {len(rare) - 5} more" if len(rare) > 5 else ""
    raise DataError(f"{source}: {len(rare)} class(es) have fewer than {max(2, splits)} examples, too few to be in "
                    f"train, validation and test: {shown}{more}; drop them with --min-class-count {max(2, splits)}, "
                    "or pass --validation (and --test) files")


def shuffled_split(n: int, seed: int, fractions: Sequence[float] = DEFAULT_FRACTIONS, *,
                   source: str = "data", unit: str = "example") -> dict[str, np.ndarray]:
    """Data without one label per example (tagged sentences): a seeded permutation cut into
    train/validation/test, each at least one example, each in file order."""
    if n < 3:
        raise DataError(f"{source}: {n} {unit}(s) cannot be split into train/validation/test; "
                        "give more data or pass --validation and --test")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * fractions[1]))
    n_test = max(1, round(n * fractions[2]))
    parts = {"train": order[:n - n_val - n_test], "validation": order[n - n_val - n_test:n - n_test],
             "test": order[n - n_test:]}
    return {name: np.sort(index) for name, index in parts.items()}
