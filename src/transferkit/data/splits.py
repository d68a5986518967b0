"""Load texts for training (train/validation/test splits) and for evaluate/predict/embed.

A path or a named dataset works everywhere. A single training file is split by seed and
stratified by label; train + validation (+ test) files are used as given, with labels of the
other splits encoded by the training LabelMap so that class ids mean the same thing everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .datasets import Resolved, resolve, split_files
from .labels import LabelMap, warn
from .tables import read_table
from .text import TextExamples, check_classes, examples_from_frame

DEFAULT_SEED = 42
DEFAULT_SPLIT = (0.8, 0.1, 0.1)


@dataclass
class TextSplits:
    train: TextExamples
    validation: TextExamples | None
    test: TextExamples | None
    labels: LabelMap
    text_column: str
    label_column: str
    split_info: dict  # how the splits were made: method, seed, fractions, sizes, files


def _read(resolved: Resolved, *, text_column=None, label_column=None, labels=None, require_labels=True,
          drop_invalid=False, source: str | None = None):
    """(examples, text column, label column) of one file; a named dataset supplies its column names."""
    spec = resolved.spec
    if spec is not None:
        text_column = text_column or spec.text_column
        label_column = label_column or (spec.label_column if require_labels else None)
    return examples_from_frame(read_table(resolved.path), source=source or resolved.label, text_column=text_column,
                               label_column=label_column, labels=labels, require_labels=require_labels,
                               drop_invalid=drop_invalid, id_names=spec.id_names if spec else None)


def load_texts(path_or_name: str | os.PathLike, *, text_column: str | None = None, label_column: str | None = None,
               labels: LabelMap | None = None, require_labels: bool = True, drop_invalid: bool = False) -> TextExamples:
    """One file or named split, for evaluate/predict/embed.

    `labels`: the training LabelMap to encode with (unknown labels are an error); None builds one
    from the file. require_labels=False makes the label column optional (prediction data):
    labels are then filled in only if a label column is found and every label is known.
    `NAME:SPLIT` picks a split of a named dataset: a file of it (`sst2:validation`), or for a
    single-file dataset the split `load_text_splits(NAME)` makes with its defaults (seed 42,
    80/10/10), so `rotten_tomatoes:test` holds exactly the rows a default training run held out.
    """
    resolved = resolve(path_or_name)
    if resolved.path.is_dir():
        files = ", ".join(f.name for f in split_files(resolved.path).values())
        if resolved.spec is not None:
            raise DataError(f"{resolved.label}: has several splits ({files}); "
                            f"name one, e.g. {resolved.label}:validation")
        raise DataError(f"{resolved.path}: is a folder; pass one of its files ({files})")
    if resolved.split is None:
        return _read(resolved, text_column=text_column, label_column=label_column, labels=labels,
                     require_labels=require_labels, drop_invalid=drop_invalid)[0]
    splits = load_text_splits(resolved.spec.name, text_column=text_column, label_column=label_column,
                              drop_invalid=drop_invalid)
    examples = getattr(splits, resolved.split)
    if labels is not None and examples.labels is not None and labels.names != splits.labels.names:
        try:
            examples.labels = labels.encode(splits.labels.decode(examples.labels), source=examples.source,
                                            rows=examples.rows)
            examples.label_map = labels
        except DataError:
            if require_labels:
                raise
            examples.labels, examples.label_map = None, None
    return examples


def load_text_splits(train: str | os.PathLike, validation: str | os.PathLike | None = None,
                     test: str | os.PathLike | None = None, *, text_column: str | None = None,
                     label_column: str | None = None, seed: int = DEFAULT_SEED, drop_invalid: bool = False,
                     split: Sequence[float] = DEFAULT_SPLIT) -> TextSplits:
    """Labelled train/validation/test examples.

    `train` is a file, a folder holding `train.*` and optionally `validation.*` (or `dev.*`,
    `valid.*`, `val.*`) and `test.*`, or a named dataset. Explicit `validation`/`test` override
    the folder's. When there is only one file, it is split deterministically: `split` gives the
    (train, validation, test) fractions (default 80/10/10; 0 leaves a split out), made with
    sklearn `train_test_split(stratify=labels, random_state=seed)` (test first, then validation
    from the rest), each split kept in file order. If a class is too small to stratify, the split
    is random instead, with a warning. `split_info` records method, seed, fractions and sizes.
    When train + validation are given without test, there is no test split.
    """
    resolved = resolve(train)
    if resolved.split is not None:
        raise DataError(f"{resolved.label}: to train on {resolved.spec.name}, pass '{resolved.spec.name}'; "
                        "its train/validation/test splits are made by seed")
    files = {"train": resolved}
    if resolved.path.is_dir():
        prefix = resolved.spec.name if resolved.spec else None
        files = {s: Resolved(p, f"{prefix}:{s}" if prefix else str(p), resolved.spec)
                 for s, p in split_files(resolved.path).items()}
    given = {"validation": validation, "test": test}
    options = dict(text_column=text_column, label_column=label_column, drop_invalid=drop_invalid)
    if len(files) == 1 and validation is None and test is None:
        return _split_one(files["train"], seed=seed, fractions=split, **options)

    train_ex, text_col, label_col = _read(files["train"], **options)
    check_classes(train_ex, column=label_col)
    parts, sources = {"train": train_ex}, {"train": train_ex.source}
    for name in ("validation", "test"):
        if given[name] is not None:
            parts[name] = load_texts(given[name], labels=train_ex.label_map, require_labels=True, **options)
        elif name in files:
            parts[name] = _read(files[name], labels=train_ex.label_map, **options)[0]
        if name in parts:
            sources[name] = parts[name].source
    info = {"method": "files", "files": sources, "sizes": {k: len(v) for k, v in parts.items()}}
    return TextSplits(train_ex, parts.get("validation"), parts.get("test"), train_ex.label_map, text_col, label_col,
                      info)


def _split_one(resolved: Resolved, *, seed: int, fractions: Sequence[float], **options) -> TextSplits:
    """Split one labelled file into train/validation/test by seed, stratified by label."""
    source = resolved.label
    examples, text_col, label_col = _read(resolved, **options)
    check_classes(examples, column=label_col)
    fractions = _check_fractions(fractions)
    index, method = split_indices(examples.labels, fractions, seed, source=source)
    name = resolved.spec.name if resolved.spec else None
    parts = {s: examples.subset(i, source=f"{name}:{s}" if name else source) for s, i in index.items()}
    info = {"method": method, "seed": seed, "fractions": dict(zip(("train", "validation", "test"), fractions)),
            "sizes": {s: len(p) for s, p in parts.items()}, "source": source}
    return TextSplits(parts["train"], parts.get("validation"), parts.get("test"), examples.label_map, text_col,
                      label_col, info)


def _check_fractions(fractions: Sequence[float]) -> tuple[float, float, float]:
    values = tuple(float(f) for f in fractions)
    if len(values) == 2:
        values = (*values, 0.0)
    if len(values) != 3 or min(values) < 0 or values[0] <= 0 or abs(sum(values) - 1) > 1e-6:
        raise ConfigError(f"split={tuple(fractions)}: give (train, validation, test) fractions >= 0 summing to 1, "
                          "e.g. (0.8, 0.1, 0.1), with a non-zero train fraction")
    return values  # type: ignore[return-value]


def split_indices(labels: np.ndarray, fractions: Sequence[float], seed: int, *, source: str = "data"):
    """({'train': idx, 'validation': idx, 'test': idx}, 'stratified' | 'random'); splits with fraction 0 omitted."""
    from sklearn.model_selection import train_test_split

    _, f_val, f_test = fractions
    everything = np.arange(len(labels))

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
    except ValueError as stratify_error:
        try:
            parts = split(stratify=False)
        except ValueError:
            raise DataError(f"{source}: only {len(labels)} rows, too few to split "
                            f"{'/'.join(str(round(f * 100)) for f in fractions)}; add rows or give a validation file"
                            ) from None
        warn(f"{source}: cannot stratify the split ({stratify_error}); split at random instead")
        return parts, "random"
