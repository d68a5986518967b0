"""Loading splits: one procedure for every kind of data (text tables, tagged tokens, images).

A modality supplies a `SplitReader` (how to read one source, find split files in a folder,
split one source by seed); `load_splits` and `load_split` do the rest the same way for all, so
folders, named datasets, NAME:SPLIT, explicit validation/test files and in-memory data behave
identically whatever the examples are.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np

from ..errors import DataError
from .datasets import resolve
from .labels import LabelMap
from .splits import DEFAULT_FRACTIONS, DEFAULT_SEED, check_fractions, split_indices


class SplitReader(Protocol):
    """How one kind of data is read; `load_splits` / `load_split` do the rest the same way for all.

    Examples returned by `read` have `len()`, `.source`, `.labels` (or tags), `.label_map`
    (None where labels are not classes) and `.subset(index, source)`."""

    kind: str  # the dataset kind it reads (see datasets.KINDS)
    unit: str  # what one example is, for messages: "row", "sentence", "image"

    def entries(self, folder: Path) -> dict[str, Path]:
        """The split files (or sub-folders) of a folder; {} when the folder is itself one source."""

    def read(self, ref: Any, *, source: str, spec: Any = None, labels: LabelMap | None = None,
             require_labels: bool = True):
        """The examples of one source: a path, or data in memory."""

    def split(self, examples, seed: int, fractions: Sequence[float]) -> tuple[dict[str, np.ndarray], str]:
        """Indices of the seeded train/validation/test split of one source, and how it was made."""

    def relabel(self, examples, labels: LabelMap):
        """The examples with labels encoded by `labels` (the training split's)."""

    def check_train(self, examples):
        """The training examples (filtered, e.g. rare classes dropped), or an error for data that
        cannot be learnt from (one class, no tags)."""


class ClassLabelled:
    """`split`, `relabel` and `check_train` of a reader whose examples (dataclasses) carry one
    class id per example in `.labels`, with `.label_map` and `.rows`: splits are stratified by class.
    `min_class_count`: classes with fewer training examples are dropped first (with a warning)."""

    min_class_count: int | None = None
    unit = "example"

    def split(self, examples, seed: int, fractions: Sequence[float]):
        names = examples.label_map.names if examples.label_map is not None else None
        return split_indices(examples.labels, fractions, seed, source=examples.source, names=names)

    def check_train(self, examples):
        if self.min_class_count:
            examples = self._drop_rare(examples)
        if examples.labels is None or len(np.unique(examples.labels)) < 2:
            present = examples.label_map.decode(np.unique(examples.labels)) if examples.labels is not None else []
            raise DataError(f"{examples.source}: the training data holds {len(present)} class(es) "
                            f"({', '.join(present[:3]) or 'no labels'}); training needs at least two classes, check "
                            "the data or the label column")
        return examples

    def _drop_rare(self, examples):
        counts = np.bincount(examples.labels, minlength=len(examples.label_map))
        keep_names = [n for n, c in zip(examples.label_map.names, counts) if c >= self.min_class_count]
        dropped = [n for n, c in zip(examples.label_map.names, counts) if 0 < c < self.min_class_count]
        if not dropped:
            return examples
        keep = np.flatnonzero(counts[examples.labels] >= self.min_class_count)
        from .labels import warn

        warn(f"{examples.source}: dropped {len(examples) - len(keep)} {self.unit}(s) of {len(dropped)} class(es) with "
             f"fewer than {self.min_class_count} examples ({', '.join(dropped[:5])}{' ...' if len(dropped) > 5 else ''})")
        kept = examples.subset(keep)
        return self.relabel(kept, LabelMap(keep_names))

    def relabel(self, examples, labels: LabelMap):
        ids = labels.encode(examples.label_map.decode(examples.labels), source=examples.source, rows=examples.rows)
        return replace(examples, labels=ids, label_map=labels)


@dataclass
class Splits:
    train: Any
    validation: Any
    test: Any
    labels: LabelMap | None  # the training split's label map (None where labels are not classes)
    split_info: dict  # how the splits were made: method, seed, fractions, sizes, files
    label_names: list[str] = field(default_factory=list)  # the classes or tags a model predicts
    columns: dict = field(default_factory=dict)  # settings detected while reading (text_column, ...)

    def __post_init__(self) -> None:
        if not self.label_names and self.labels is not None:
            self.label_names = list(self.labels.names)


def _is_path(ref: Any) -> bool:
    return isinstance(ref, (str, os.PathLike))


def _sources(reader: SplitReader, train: Any) -> dict[str, tuple[Any, str, Any]]:
    """{split: (location, source label, dataset spec)} of a training argument."""
    if not _is_path(train):
        return {"train": (train, "train", None)}
    resolved = resolve(train, reader.kind)
    if resolved.split is not None:
        raise DataError(f"{resolved.label}: to train on {resolved.name}, pass '{resolved.name}'; its "
                        "train/validation/test splits are made by seed or by its files")
    spec, path = resolved.spec, resolved.path
    entries = reader.entries(path) if path.is_dir() else {}
    if not entries:
        return {"train": (path, resolved.label, spec)}
    if "train" not in entries:
        raise DataError(f"{path}: no train {reader.unit}s among its splits ({', '.join(entries)}); name the "
                        "training data train.* (and optionally validation.* and test.*)")
    return {split: (p, f"{spec.name}:{split}" if spec else str(p), spec) for split, p in entries.items()}


def load_splits(reader: SplitReader, train: Any, validation: Any = None, test: Any = None, *,
                seed: int = DEFAULT_SEED, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> Splits:
    """Train (required), validation and test examples.

    `train` is a file, a folder of split files, a named dataset or data in memory; explicit
    `validation`/`test` override a folder's. A single source without validation/test is split
    by `reader.split` with `seed` and `fractions` (default 80/10/10); data in memory is used as
    given (no validation or test unless passed). Labels of the other
    splits are encoded with the training split's label map, so class ids mean the same thing.
    """
    sources = _sources(reader, train)
    in_memory = not _is_path(train)  # data given in memory is used as given, never split
    if len(sources) == 1 and validation is None and test is None and not in_memory:
        ref, label, spec = sources["train"]
        examples = reader.check_train(reader.read(ref, source=label, spec=spec))
        fractions = check_fractions(fractions)
        index, method = reader.split(examples, seed, fractions)
        name = spec.name if spec is not None else None
        parts = {s: examples.subset(i, source=f"{name}:{s}" if name else label) for s, i in index.items()}
        info = {"method": method, "seed": seed, "fractions": dict(zip(("train", "validation", "test"), fractions)),
                "sizes": {s: len(p) for s, p in parts.items()}, "source": label}
    else:
        if getattr(reader, "min_class_count", None):
            raise DataError("--min-class-count drops rare classes before the automatic split of one source; with "
                            "validation/test files (or data in memory), remove those classes from the files instead")
        ref, label, spec = sources["train"]
        parts = {"train": reader.check_train(reader.read(ref, source=label, spec=spec))}
        labels = parts["train"].label_map
        for split, given in (("validation", validation), ("test", test)):
            if given is not None:
                parts[split] = load_split(reader, given, labels=labels, seed=seed, source=split)
            elif split in sources:
                ref, label, spec = sources[split]
                parts[split] = reader.read(ref, source=label, spec=spec, labels=labels)
        info = {"method": "given" if in_memory else "files", "files": {s: p.source for s, p in parts.items()},
                "sizes": {s: len(p) for s, p in parts.items()}}
    return Splits(parts["train"], parts.get("validation"), parts.get("test"), parts["train"].label_map, info)


def load_split(reader: SplitReader, ref: Any, *, labels: LabelMap | None = None, require_labels: bool = True,
               seed: int = DEFAULT_SEED, source: str = "data"):
    """One split, for evaluate/predict/transfer sets: a file, a folder holding one source, data in
    memory, or NAME:SPLIT of a named dataset (a file of it, or for a dataset stored as one source
    the split `load_splits(NAME)` makes with its defaults: exactly the rows a default training
    run held out). `labels`: the training label map to encode with."""
    if not _is_path(ref):
        return reader.read(ref, source=source, labels=labels, require_labels=require_labels)
    resolved = resolve(ref, reader.kind)
    path, split, spec = resolved.path, resolved.split, resolved.spec
    entries = reader.entries(path) if path.is_dir() else {}
    read = dict(spec=spec, labels=labels, require_labels=require_labels)
    if split is not None and split in entries:
        return reader.read(entries[split], source=resolved.label, **read)
    if split is None:
        if len(entries) > 1:
            names = ", ".join(p.name for p in entries.values())
            if spec is not None:
                raise DataError(f"{resolved.label}: has several splits ({names}); name one, e.g. "
                                f"{resolved.label}:validation")
            raise DataError(f"{path}: is a folder of splits; pass one of them ({names})")
        return reader.read(next(iter(entries.values()), path), source=resolved.label, **read)
    if set(entries) - {"train"}:
        raise DataError(f"{resolved.label}: {resolved.name} has no {split} split (it has {', '.join(entries)})")
    # A dataset stored as one source: its splits are made by seed, as a default training run makes them.
    examples = getattr(load_splits(reader, resolved.name, seed=seed), split)
    if labels is not None and examples.label_map is not None and labels.names != examples.label_map.names:
        try:
            examples = reader.relabel(examples, labels)
        except DataError:
            if require_labels:
                raise
            examples.labels, examples.label_map = None, None
    return examples
