"""Image data: where images come from (folders, tables, IDX, arrays, named datasets) and decoding.

    splits = load_image_splits("photos/")            # ImageFolder: one sub-folder per class
    splits = load_image_splits("labels.csv")         # path + label columns, paths relative to the file
    splits = load_image_splits("fashion_mnist")      # named dataset (IDX files)
    splits = load_image_splits((X, y))               # NumPy arrays [N, H, W(, C)] + labels

One source without validation/test is split by seed like text (stratified 80/10/10). Examples
keep references (paths or arrays); `decode` turns them into one uint8 array of squares at the
backbone's resize size, once, before training: an unreadable image is found there (skipped
with one counted warning, or an error naming the file), never in the middle of an epoch.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.labels import LabelMap, warn
from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
PATH_COLUMNS = ("path", "image", "file", "filename", "image_path", "filepath")
TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".ndjson", ".parquet", ".gz", ".bz2", ".xz")
SPLIT_DIRS = {"train": ("train",), "validation": ("validation", "val", "valid", "dev"), "test": ("test", "t10k")}


@dataclass
class ImageExamples:
    """Labelled (or not) image references: `items[i]` is a path, an array or a PIL image."""

    items: Sequence[Any]
    labels: np.ndarray | None
    rows: np.ndarray  # 1-based position in the source, for messages and prediction files
    source: str
    label_map: LabelMap | None = None

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index, source: str | None = None) -> "ImageExamples":
        index = np.asarray(index, dtype=np.int64)
        items = self.items[index] if isinstance(self.items, np.ndarray) else [self.items[i] for i in index]
        return ImageExamples(items, None if self.labels is None else self.labels[index], self.rows[index],
                             source or self.source, self.label_map)

    @property
    def names(self) -> list[str]:
        """A display name per example: the path, or SOURCE[row] for in-memory images."""
        return [str(x) if isinstance(x, (str, os.PathLike)) else f"{self.source}[{r}]"
                for x, r in zip(self.items, self.rows)]


@dataclass
class ImageSplits:
    train: ImageExamples
    validation: ImageExamples | None
    test: ImageExamples | None
    labels: LabelMap
    split_info: dict


# ---------------------------------------------------------------- readers

def _examples(items, raw_labels, source: str, labels: LabelMap | None, id_names=None) -> ImageExamples:
    rows = np.arange(1, len(items) + 1)
    if raw_labels is None:
        return ImageExamples(items, None, rows, source, labels)
    raw = list(raw_labels)
    if id_names is not None:  # files store integer ids meaning these names
        raw = [id_names[int(v)] for v in raw]
    if labels is None:
        labels = LabelMap(list(id_names)) if id_names is not None else LabelMap.from_values(raw)
    return ImageExamples(items, labels.encode(raw, source=source, rows=rows, row_kind="item"), rows, source, labels)


def read_folder(folder: Path, labels: LabelMap | None = None, require_labels: bool = True) -> ImageExamples:
    """ImageFolder layout (`folder/<class>/*.png`); loose images with no class folders are unlabelled."""
    classes = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes:
        items, raw = [], []
        for cls in classes:
            files = sorted(p for p in cls.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
            items += [str(p) for p in files]
            raw += [cls.name] * len(files)
        if not items:
            raise DataError(f"{folder}: no images in its class folders ({', '.join(c.name for c in classes[:5])}); "
                            f"expected files ending in {', '.join(IMAGE_SUFFIXES)}")
        return _examples(items, raw, str(folder), labels)
    files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no images and no class sub-folders; an image dataset is a folder with one "
                        "sub-folder of images per class, a CSV/JSONL of path,label, or IDX files")
    if require_labels:
        raise DataError(f"{folder}: images without labels; put them in one sub-folder per class")
    return _examples(files, None, str(folder), labels)


def read_table_images(path: Path, labels: LabelMap | None = None, require_labels: bool = True,
                      path_column: str | None = None, label_column: str | None = None) -> ImageExamples:
    """CSV/TSV/JSONL/Parquet with an image path column (relative to the table's folder) and a label column."""
    from ..data import LABEL_COLUMNS, find_column, read_table

    frame = read_table(path)
    pcol = find_column(frame.columns, path_column, PATH_COLUMNS, source=str(path), role="image path",
                       option="--text-column")
    lcol = find_column(frame.columns, label_column, LABEL_COLUMNS, source=str(path), role="label",
                       option="--label-column", required=require_labels, exclude=pcol)
    items = [str(p) if os.path.isabs(str(p)) else str(path.parent / str(p)) for p in frame[pcol].tolist()]
    return _examples(items, frame[lcol].tolist() if lcol else None, str(path), labels)


def read_idx(path: Path) -> np.ndarray:
    """An IDX array (MNIST's format: magic, big-endian dims, raw data), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim, count=int(np.prod(dims))).reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path}: not a readable IDX file ({e})") from None


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (gzipped when the name ends in .gz), written atomically."""
    from .._io import atomic_write_bytes

    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape) + array.tobytes()
    atomic_write_bytes(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def _idx_labels_file(images: Path) -> Path | None:
    for old, new in (("images-idx3", "labels-idx1"), ("images", "labels")):
        if old in images.name:
            candidate = images.with_name(images.name.replace(old, new))
            for p in (candidate, candidate.with_name(candidate.name + ".gz"),
                      candidate.with_name(candidate.name.removesuffix(".gz"))):
                if p.is_file():
                    return p
    return None


def read_idx_images(path: Path, labels: LabelMap | None = None, require_labels: bool = True,
                    id_names=None, source: str | None = None) -> ImageExamples:
    images = read_idx(path)
    if images.ndim != 3:
        raise DataError(f"{path}: expected an IDX image file [N, H, W], got {images.ndim} dimensions")
    label_file = _idx_labels_file(path)
    if label_file is None and require_labels:
        raise DataError(f"{path}: no labels file next to it (expected {path.name.replace('images-idx3', 'labels-idx1')})")
    raw = read_idx(label_file) if label_file else None
    if raw is not None and len(raw) != len(images):
        raise DataError(f"{label_file}: {len(raw)} labels for {len(images)} images in {path.name}")
    return _examples(images, raw, source or str(path), labels, id_names)


def _is_idx(path: Path) -> bool:
    return "idx" in path.name and "ubyte" in path.name


def _idx_splits(folder: Path) -> dict[str, Path]:
    found = {}
    for p in sorted(folder.iterdir()):
        if _is_idx(p) and "images" in p.name:
            for split, stems in SPLIT_DIRS.items():
                if p.name.split("-")[0].lower() in stems:
                    found.setdefault(split, p)
    return found


def _split_dirs(folder: Path) -> dict[str, Path]:
    return {split: folder / d for split, names in SPLIT_DIRS.items() for d in names if (folder / d).is_dir()}


def read_images(ref, labels: LabelMap | None = None, require_labels: bool = True, path_column=None,
                label_column=None, id_names=None, source: str | None = None) -> ImageExamples:
    """One source: a folder, a table, an IDX file, an image file, or (images, labels) arrays."""
    if isinstance(ref, ImageExamples):
        return ref
    if isinstance(ref, tuple) and len(ref) == 2:
        items, raw = ref
        items = np.asarray(items) if not isinstance(items, (list, tuple)) else list(items)
        if len(items) != len(raw):
            raise DataError(f"{source or 'arrays'}: {len(items)} images but {len(raw)} labels")
        return _examples(items, list(raw), source or "arrays", labels)
    if isinstance(ref, np.ndarray):
        return _examples(ref, None, source or "array", labels)
    path = Path(ref)
    if path.is_dir():
        if (idx := _idx_splits(path)) and "train" in idx:
            return read_idx_images(idx["train"], labels, require_labels, id_names, source)
        return read_folder(path, labels, require_labels)
    if _is_idx(path):
        return read_idx_images(path, labels, require_labels, id_names, source)
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return _examples([str(path)], None, str(path), labels)
    return read_table_images(path, labels, require_labels, path_column, label_column)


# ---------------------------------------------------------------- splits

def _named(ref) -> tuple[Any, str | None, tuple[str, ...] | None]:
    """(location, split, id names) of `NAME[:SPLIT]`, or (ref, None, None) for anything else."""
    if not isinstance(ref, (str, os.PathLike)) or Path(ref).exists():
        return ref, None, None
    from ..data.datasets import get_dataset

    name, _, split = str(ref).partition(":")
    try:
        spec = get_dataset(name)
    except DataError:
        raise DataError(f"{ref}: no such file, folder or named image dataset; check the path") from None
    if spec.task != "image-classification":
        raise DataError(f"{name} is a {spec.task} dataset; image classification needs images")
    if split and split not in SPLIT_DIRS:
        raise DataError(f"{ref}: unknown split '{split}'; use {name}:train, {name}:validation or {name}:test")
    return spec.locate(True), split or None, spec.id_names or spec.labels


def _split_sources(ref) -> tuple[dict[str, Any], str | None, tuple[str, ...] | None, str]:
    """({split: location}, requested split, id names, display name) of a path, NAME[:SPLIT] or arrays."""
    location, split, id_names = _named(ref)
    label = str(ref).partition(":")[0] if id_names else str(ref) if isinstance(ref, (str, os.PathLike)) else "arrays"
    sources: dict[str, Any] = {"train": location}
    if isinstance(location, (str, os.PathLike)) and Path(location).is_dir():
        sources = _idx_splits(Path(location)) or _split_dirs(Path(location)) or sources
    return sources, split, id_names, label


def load_images(ref, *, labels: LabelMap | None = None, require_labels: bool = True, path_column=None,
                label_column=None, seed: int = 42) -> ImageExamples:
    """One split for evaluate/predict: a path, NAME:SPLIT (for a one-source dataset, the split a
    default training run held out, made by seed), or in-memory images."""
    sources, split, id_names, name = _split_sources(ref)
    if split and len(sources) == 1:  # one-source dataset: its splits are made by seed
        splits = load_image_splits(name, seed=seed)
        examples = getattr(splits, split) or splits.train
        if labels is not None and labels.names != splits.labels.names:
            examples.labels = labels.encode(splits.labels.decode(examples.labels), source=str(ref), rows=examples.rows)
            examples.label_map = labels
        return examples
    if split and split not in sources:
        raise DataError(f"{ref}: has no {split} split (it has {', '.join(sources)})")
    return read_images(sources[split or "train"], labels, require_labels, path_column, label_column, id_names,
                       source=str(ref) if id_names else None)


def load_image_splits(train, validation=None, test=None, *, seed: int = 42, path_column=None,
                      label_column=None) -> ImageSplits:
    """Labelled train/validation/test image examples, label ids fixed by the training split."""
    from ..data.splits import split_indices

    sources, split, id_names, name = _split_sources(train)
    if split:
        raise DataError(f"{train}: to train on {name}, pass '{name}'; its splits are made by seed or by its files")
    opts = dict(path_column=path_column, label_column=label_column, id_names=id_names)
    named = id_names is not None
    train_ex = read_images(sources["train"], None, True, source=f"{name}:train" if named else None, **opts)
    if train_ex.label_map is None or len(train_ex.label_map) < 2:
        raise DataError(f"{train_ex.source}: need labelled images of at least two classes")
    given = {"validation": validation, "test": test}
    if len(sources) == 1 and validation is None and test is None:
        index, method = split_indices(train_ex.labels, (0.8, 0.1, 0.1), seed, source=train_ex.source)
        parts = {s: train_ex.subset(i, source=f"{name}:{s}" if named else None) for s, i in index.items()}
        info = {"method": method, "seed": seed, "fractions": {"train": 0.8, "validation": 0.1, "test": 0.1},
                "sizes": {s: len(p) for s, p in parts.items()}, "source": train_ex.source}
    else:
        parts = {"train": train_ex}
        for split in ("validation", "test"):
            if given[split] is not None:
                parts[split] = load_images(given[split], labels=train_ex.label_map, path_column=path_column,
                                           label_column=label_column, seed=seed)
            elif split in sources:
                parts[split] = read_images(sources[split], train_ex.label_map, True,
                                           source=f"{name}:{split}" if named else None, **opts)
        info = {"method": "files", "files": {s: p.source for s, p in parts.items()},
                "sizes": {s: len(p) for s, p in parts.items()}}
    return ImageSplits(parts["train"], parts.get("validation"), parts.get("test"), train_ex.label_map, info)


# ---------------------------------------------------------------- decoding

@dataclass
class DecodedImages:
    """What the engine batches: uint8 squares [N, S, S, C] (C = 1 when every image is grayscale)."""

    pixels: np.ndarray
    labels: np.ndarray | None
    names: list[str]

    @property
    def lengths(self) -> np.ndarray:  # every image costs the same
        return np.ones(len(self.pixels), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pixels)


_RESAMPLE = {"bilinear": 2, "bicubic": 3, "nearest": 0}  # PIL.Image.Resampling values


def _pil():
    try:
        from PIL import Image
    except ImportError:
        raise DataError("images need Pillow, which is not installed; pip install 'transferkit[image]'") from None
    return Image


def to_pil(item):
    """A PIL image (mode L or RGB) from a path, an array [H, W(, C)] (uint8, or floats in [0, 1]) or PIL image."""
    Image = _pil()

    if isinstance(item, (str, os.PathLike)):
        with Image.open(item) as img:
            img.load()  # decode now: a truncated file fails here, inside the caller's try
            return _to_mode(img)
    if isinstance(item, Image.Image):
        return _to_mode(item)
    arr = np.asarray(item)
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (3, 4)):
        raise ValueError(f"expected an image array [H, W] or [H, W, 3], got shape {arr.shape}")
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255.0 if arr.max(initial=0) <= 1.0 else arr, 0, 255).round().astype(np.uint8)
    return _to_mode(Image.fromarray(arr[..., :3] if arr.ndim == 3 else arr))


def _to_mode(img):
    from PIL import Image

    if img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit/float grayscale: scale, do not clip
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if arr.max(initial=0) > 255 else 1.0
        return Image.fromarray(np.clip(arr * scale, 0, 255).astype(np.uint8))
    if img.mode in ("L", "1", "LA"):
        return img.convert("L")
    return img.convert("RGB")


def fit_square(img, size: int, interpolation: str = "bilinear") -> np.ndarray:
    """Shorter side resized to `size`, centre square kept: the eval crop's frame, stored once."""
    from PIL import ImageOps

    fitted = ImageOps.fit(img, (size, size), method=_RESAMPLE.get(interpolation, 2))
    arr = np.asarray(fitted, dtype=np.uint8)
    return arr[..., None] if arr.ndim == 2 else arr


def decode(examples: ImageExamples, size: int, interpolation: str = "bilinear", bad_images: str = "skip") -> DecodedImages:
    """Every image as a `size` square; unreadable ones skipped (one warning with the count) or an error."""
    _pil()  # a missing Pillow is an install problem, not a thousand unreadable images
    names = examples.names
    kept, arrays, failures = [], [], []
    for i, item in enumerate(examples.items):
        try:
            arrays.append(fit_square(to_pil(item), size, interpolation))
            kept.append(i)
        except Exception as e:  # noqa: BLE001 - any decoder failure (PIL raises many kinds) is a bad image
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            if bad_images == "error":
                raise DataError(f"{names[i]}: cannot read this image ({reason}); fix or remove it, "
                                "or pass --bad-images skip") from None
            failures.append((names[i], reason))
    if failures:
        first, reason = failures[0]
        if not kept:
            raise DataError(f"{examples.source}: none of its {len(failures)} images can be read (first: {first}: {reason})")
        warn(f"{examples.source}: skipped {len(failures)} unreadable image(s) of {len(examples)} "
             f"(first: {first}: {reason})")
    channels = max(a.shape[-1] for a in arrays)
    pixels = np.empty((len(arrays), size, size, channels), dtype=np.uint8)
    for j, a in enumerate(arrays):
        pixels[j] = a  # grayscale broadcasts to 3 channels when the set mixes both
    labels = None if examples.labels is None else examples.labels[np.asarray(kept, dtype=np.int64)]
    return DecodedImages(pixels, labels, [names[i] for i in kept])
