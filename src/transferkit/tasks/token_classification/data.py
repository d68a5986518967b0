"""Tagged sentences from files, folders, named datasets or in-memory lists, for `data.load_splits`.

    TaggedTokenReader().read("train.conll", source="train.conll")
    load_splits(TaggedTokenReader(), "wnut16")                 # one file: seeded 80/10/10 split
    load_splits(TaggedTokenReader(), "../shared/datasets/conll2003")  # train.* / validation.* / test.*

Label names are O plus B-/I- of every entity type found in any given split (a rare type that
only the validation split holds still gets an output, it just cannot be learnt).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

from ...data import TAGGED_TOKENS, find_splits, load_split, load_splits, shuffled_split
from ...data.splits import DEFAULT_SEED
from ...errors import DataError
from .conll import NerExamples, read_ner
from .schemes import normalize_tags


def label_names(*splits: NerExamples | None) -> list[str]:
    kinds = sorted({k for split in splits if split is not None and split.tags for k in split.entity_types})
    return ["O"] + [f"{prefix}-{kind}" for kind in kinds for prefix in ("B", "I")]


def adopt(split: Any, name: str, *, scheme: str = "auto", repair: bool = False) -> NerExamples:
    """An in-memory (token lists, tag lists) pair, checked like a file."""
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
        iob2, detected, fixed = normalize_tags(tags, scheme, repair)
    except DataError as e:
        where = f"sentence {e.sentence + 1}, token {e.token}" if hasattr(e, "sentence") else "tags"
        raise DataError(f"{name}: {where}: {e}") from None
    return NerExamples(tokens, iob2, list(range(1, len(tokens) + 1)), name, detected, fixed)


def _is_words(value: Any) -> bool:
    return isinstance(value, (list, tuple)) and all(isinstance(w, str) for w in value)


class TaggedTokenReader:
    """CoNLL / JSONL tagged sentences (IOB1/IOB2/BIOES in, IOB2 out), folders of split files,
    named datasets, and (token lists, tag lists) pairs or word lists in memory."""

    kind = TAGGED_TOKENS
    unit = "sentence"

    def __init__(self, tag_column: int = -1, scheme: str = "auto", repair: bool = False):
        self.options = {"tag_column": tag_column, "scheme": scheme or "auto", "repair": bool(repair)}

    def entries(self, folder: Path) -> dict[str, Path]:
        return find_splits(folder, Path.is_file)

    def read(self, ref: Any, *, source: str, spec=None, labels=None, require_labels: bool = True) -> NerExamples:
        if isinstance(ref, NerExamples):
            return ref
        if isinstance(ref, (str, os.PathLike)):
            path = Path(ref)
            if path.is_dir():
                raise DataError(f"{path}: no train file; name the training data train.conll (or .txt/.jsonl), and "
                                "optionally validation.* and test.*")
            return read_ner(path, require_tags=require_labels, source=source, **self.options)
        if not require_labels and isinstance(ref, (list, tuple)) and all(_is_words(s) for s in ref):
            tokens = [[str(w) for w in sentence] for sentence in ref]  # pre-split sentences, no tags
            return NerExamples(tokens, None, list(range(1, len(tokens) + 1)), source)
        return adopt(ref, source, scheme=self.options["scheme"], repair=self.options["repair"])

    def split(self, examples: NerExamples, seed: int, fractions: Sequence[float]):
        return shuffled_split(len(examples), seed, fractions, source=examples.source, unit="sentence"), "shuffled"

    def relabel(self, examples: NerExamples, labels) -> NerExamples:
        return examples  # tags are names already

    def check_train(self, examples: NerExamples) -> NerExamples:
        if not examples.tags:
            raise DataError(f"{examples.source}: the training data has no tags")
        return examples


def load_ner_splits(train: Any, validation: Any = None, test: Any = None, *, seed: int = DEFAULT_SEED,
                    tag_column: int = -1, scheme: str = "auto", repair: bool = False):
    """Tagged train/validation/test sentences (a `data.Splits` with `label_names`); one source
    alone is split 80/10/10 by `seed`."""
    splits = load_splits(TaggedTokenReader(tag_column, scheme, repair), train, validation, test, seed=seed)
    names = label_names(splits.train, splits.validation, splits.test)
    if len(names) < 3:
        raise DataError(f"{splits.train.source}: no entities in the training data (every tag is O); nothing to learn")
    splits.label_names = names
    return splits


def load_ner(path_or_name: Any, *, seed: int = DEFAULT_SEED, require_tags: bool = True, tag_column: int = -1,
             scheme: str = "auto", repair: bool = False) -> NerExamples:
    """One split: a file, NAME:SPLIT (the split `load_ner_splits(NAME)` makes), or sentences in memory."""
    return load_split(TaggedTokenReader(tag_column, scheme, repair), path_or_name, require_labels=require_tags,
                      seed=seed, source="sentences")
