"""Token-classification splits from files, folders, named datasets or in-memory lists.

    load_ner_splits("train.conll", "dev.conll", "test.conll")
    load_ner_splits("wnut16", seed=42)                 # one file: seeded 80/10/10 split
    load_ner_splits("../shared/datasets/conll2003")    # a folder of train.* / validation.* / test.*
    load_ner("wnut16:test", seed=42)                   # one split of a named dataset, same seed

Label names are O plus B-/I- of every entity type found in any given split (a rare type that
only the validation split holds still gets an output, it just cannot be learnt).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError
from .conll import NerExamples, read_ner
from .schemes import normalize_tags

FRACTIONS = (0.8, 0.1, 0.1)
SPLITS = {"train": ("train",), "validation": ("validation", "dev", "valid", "val", "testa"),
          "test": ("test", "testb")}


@dataclass
class NerData:
    train: NerExamples
    validation: NerExamples | None
    test: NerExamples | None
    label_names: list[str]
    split_info: dict | None = None


def label_names(*splits: NerExamples | None) -> list[str]:
    kinds = sorted({k for split in splits if split is not None and split.tags for k in split.entity_types})
    return ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")]


def seeded_split(examples: NerExamples, seed: int) -> dict[str, NerExamples]:
    """train/validation/test parts of one file: a seeded shuffle cut 80/10/10 (the same every time)."""
    n = len(examples)
    if n < 3:
        raise DataError(f"{examples.source}: {n} sentence(s) cannot be split into train/validation/test; "
                        "give more data or pass --validation and --test")
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * FRACTIONS[1]))
    n_test = max(1, round(n * FRACTIONS[2]))
    parts = {"train": order[:n - n_val - n_test], "validation": order[n - n_val - n_test:n - n_test],
             "test": order[n - n_test:]}
    return {name: examples.subset(sorted(index), f"{examples.source}:{name}") for name, index in parts.items()}


def _split_files(folder: Path) -> dict[str, Path]:
    found: dict[str, list[Path]] = {name: [] for name in SPLITS}
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        stem = path.name.split(".", 1)[0].lower()
        for name, stems in SPLITS.items():
            if stem in stems:
                found[name].append(path)
    for name, paths in found.items():
        if len(paths) > 1:
            raise DataError(f"{folder}: several {name} files ({', '.join(p.name for p in paths)}); keep one")
    if not found["train"]:
        raise DataError(f"{folder}: no train file; name the training data train.conll (or .txt/.jsonl), and "
                        "optionally validation.* and test.*")
    return {name: paths[0] for name, paths in found.items() if paths}


def _resolve(path_or_name: str | os.PathLike) -> tuple[Path, str, str | None]:
    """(file or folder, label for messages, NAME:SPLIT split or None)."""
    from ..data.datasets import resolve

    resolved = resolve(path_or_name)
    if resolved.spec is not None and resolved.spec.task != "token-classification":
        raise DataError(f"{resolved.label}: dataset '{resolved.spec.name}' is for {resolved.spec.task}, not "
                        "token-classification")
    return resolved.path, resolved.label, resolved.split


def load_ner(path_or_name: str | os.PathLike, *, seed: int = 42, require_tags: bool = True,
             **read: Any) -> NerExamples:
    """One split: a file, NAME (the whole dataset), NAME:SPLIT or FOLDER (its test, else validation split)."""
    path, label, split = _resolve(path_or_name)
    if path.is_dir():
        files = _split_files(path)
        chosen = files.get("test") or files.get("validation") or files["train"]
        return read_ner(chosen, require_tags=require_tags, **read)
    examples = read_ner(path, require_tags=require_tags, source=label.partition(":")[0] if split else label, **read)
    return seeded_split(examples, seed)[split] if split else examples


def _adopt(split: Any, name: str, **read: Any) -> NerExamples | None:
    """NerExamples, or an in-memory (token lists, tag lists) pair checked like a file."""
    if split is None or isinstance(split, NerExamples):
        return split
    try:
        tokens, tags = split
    except (TypeError, ValueError):
        raise DataError(f"{name}: expected a file, a dataset name or a (token lists, tag lists) pair") from None
    tokens, tags = [list(map(str, t)) for t in tokens], [list(map(str, t)) for t in tags]
    for i, (words, labels) in enumerate(zip(tokens, tags)):
        if not words or len(words) != len(labels):
            raise DataError(f"{name}: sentence {i + 1} has {len(words)} tokens and {len(labels)} tags; "
                            "give one tag per token and no empty sentences")
    if len(tokens) != len(tags):
        raise DataError(f"{name}: {len(tokens)} token lists but {len(tags)} tag lists")
    try:
        iob2, scheme, fixed = normalize_tags(tags, read.get("scheme", "auto"), read.get("repair", False))
    except DataError as e:
        where = f"sentence {e.sentence + 1}, token {e.token}" if hasattr(e, "sentence") else "tags"
        raise DataError(f"{name}: {where}: {e}") from None
    return NerExamples(tokens, iob2, list(range(1, len(tokens) + 1)), name, scheme, fixed)


def load_ner_splits(train: Any, validation: Any = None, test: Any = None, *, seed: int = 42,
                    **read: Any) -> NerData:
    """Train (required), validation and test; one file alone is split 80/10/10 by `seed`."""
    info = None
    if isinstance(train, (str, os.PathLike)):
        path, label, split = _resolve(train)
        if path.is_dir():
            files = _split_files(path)
            if validation is not None or test is not None:
                raise DataError(f"{label}: a folder already holds the splits; pass no --validation/--test with it")
            validation, test = files.get("validation"), files.get("test")
            info = {"folder": str(path), "files": {name: p.name for name, p in files.items()}}
            train = read_ner(files["train"], **read)
        elif split:
            train = load_ner(train, seed=seed, **read)
        else:
            train = read_ner(path, source=label, **read)
    else:
        train = _adopt(train, "train", **read)
    validation, test = (read_ner(s, **read) if isinstance(s, (str, os.PathLike)) and Path(s).exists()
                        else load_ner(s, seed=seed, **read) if isinstance(s, (str, os.PathLike))
                        else _adopt(s, name, **read)
                        for s, name in ((validation, "validation"), (test, "test")))
    if validation is None and test is None and info is None:
        parts = seeded_split(train, seed)
        info = {"seed": seed, "fractions": list(FRACTIONS), "sizes": {k: len(v) for k, v in parts.items()}}
        train, validation, test = parts["train"], parts["validation"], parts["test"]
    if not train.tags:
        raise DataError(f"{train.source}: the training data has no tags")
    names = label_names(train, validation, test)
    if len(names) < 3:
        raise DataError(f"{train.source}: no entities in the training data (every tag is O); nothing to learn")
    return NerData(train, validation, test, names, info)
