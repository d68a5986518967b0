"""Image data: where images come from (folders, tables, IDX, arrays, named datasets).

    splits = load_image_splits("photos/")            # ImageFolder: one sub-folder per class
    splits = load_image_splits("labels.csv")         # path + label columns, paths relative to the file
    splits = load_image_splits("fashion_mnist")      # named dataset (IDX files)
    splits = load_image_splits((X, y))               # NumPy arrays [N, H, W(, C)] + labels

Splits, folders of splits (train/, val/, test/ or train-/t10k- IDX files) and named datasets
work as for every kind of data (`transferkit.data.loading`): one source without
validation/test is split by seed, stratified 80/10/10. Examples keep references (paths or
arrays); `vision.decode` turns them into pixels once, before training.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import (
    LABEL_COLUMNS,
    LABELLED_IMAGES,
    ClassLabelled,
    LabelMap,
    find_column,
    find_splits,
    load_split,
    load_splits,
    read_table,
)
from ..data.idx import is_idx, read_idx
from ..data.labels import check_not_continuous
from ..data.splits import DEFAULT_SEED
from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
PATH_COLUMNS = ("path", "image", "file", "filename", "image_path", "filepath")


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

    def subset(self, index, source: str | None = None) -> ImageExamples:
        index = np.asarray(index, dtype=np.int64)
        items = self.items[index] if isinstance(self.items, np.ndarray) else [self.items[i] for i in index]
        return ImageExamples(items, None if self.labels is None else self.labels[index], self.rows[index],
                             source or self.source, self.label_map)

    @property
    def names(self) -> list[str]:
        """A display name per example: the path, or SOURCE[row] for in-memory images."""
        return [str(x) if isinstance(x, (str, os.PathLike)) else f"{self.source}[{r}]"
                for x, r in zip(self.items, self.rows)]


def native_size(examples: ImageExamples, sample: int = 64) -> int | None:
    """The median shorter side of up to `sample` images, read from file headers (no decoding);
    None when none can be read (the decoder reports unreadable images later)."""
    sides = []
    step = max(1, len(examples) // sample)
    for item in list(examples.items[::step])[:sample]:
        try:
            if isinstance(item, (str, os.PathLike)):
                from PIL import Image

                with Image.open(item) as img:
                    sides.append(min(img.size))
            elif hasattr(item, "size") and not isinstance(item, np.ndarray):  # a PIL image
                sides.append(min(item.size))
            else:
                sides.append(min(np.shape(item)[:2]))
        except Exception:  # noqa: BLE001 - an unreadable image is reported where it is decoded
            continue
    return int(np.median(sides)) if sides else None


# ---------------------------------------------------------------- readers of one source

def _examples(items, raw_labels, source: str, labels: LabelMap | None, id_names=None) -> ImageExamples:
    rows = np.arange(1, len(items) + 1)
    if raw_labels is None:
        return ImageExamples(items, None, rows, source, labels)
    raw = list(raw_labels)
    if id_names is not None:  # files store integer ids meaning these names
        raw = [id_names[int(v)] for v in raw]
    if labels is None and id_names is None:
        check_not_continuous(raw, source=source)
    if labels is None:
        labels = LabelMap(list(id_names)) if id_names is not None else LabelMap.from_values(raw)
    return ImageExamples(items, labels.encode(raw, source=source, rows=rows, row_kind="item"), rows, source, labels)


def read_folder(folder: Path, labels: LabelMap | None = None, require_labels: bool = True,
                source: str | None = None) -> ImageExamples:
    """ImageFolder layout (`folder/<class>/*.png`); loose images with no class folders are unlabelled."""
    source = source or str(folder)
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
        return _examples(items, raw, source, labels)
    files = sorted(str(p) for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise DataError(f"{folder}: no images and no class sub-folders; an image dataset is a folder with one "
                        "sub-folder of images per class, a CSV/JSONL of path,label, or IDX files")
    if require_labels:
        raise DataError(f"{folder}: images without labels; put them in one sub-folder per class")
    return _examples(files, None, source, labels)


def read_table_images(path: Path, labels: LabelMap | None = None, require_labels: bool = True,
                      image_column: str | None = None, label_column: str | None = None,
                      source: str | None = None) -> ImageExamples:
    """CSV/TSV/JSONL/Parquet with an image path column (relative to the table's folder) and a label column."""
    frame = read_table(path)
    pcol = find_column(frame.columns, image_column, PATH_COLUMNS, source=str(path), role="image path",
                       option="--image-column")
    lcol = find_column(frame.columns, label_column, LABEL_COLUMNS, source=str(path), role="label",
                       option="--label-column", required=require_labels, exclude=pcol)
    items = [str(p) if os.path.isabs(str(p)) else str(path.parent / str(p)) for p in frame[pcol].tolist()]
    return _examples(items, frame[lcol].tolist() if lcol else None, source or str(path), labels)


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


def as_examples(inputs, source: str = "images") -> ImageExamples:
    """Unlabelled images given in memory: paths, a folder, PIL images, one array [H, W(, C)] or a stack."""
    if isinstance(inputs, ImageExamples):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        return read_folder(path, require_labels=False) if path.is_dir() else as_examples([str(path)], source)
    if isinstance(inputs, np.ndarray) and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (3, 4))):
        inputs = inputs[None]  # one image, not a stack
    items = inputs if isinstance(inputs, np.ndarray) else [str(x) if isinstance(x, Path) else x for x in inputs]
    return ImageExamples(items, None, np.arange(1, len(items) + 1), source)


# ---------------------------------------------------------------- splits

def _is_idx_images(path: Path) -> bool:
    return path.is_file() and is_idx(path) and "images" in path.name


class ImageReader(ClassLabelled):
    """Labelled images for `data.load_splits`: image folders, tables of paths, IDX files, arrays."""

    kind = LABELLED_IMAGES
    unit = "image"

    def __init__(self, image_column: str | None = None, label_column: str | None = None,
                 min_class_count: int | None = None):
        self.image_column, self.label_column, self.min_class_count = image_column, label_column, min_class_count

    def entries(self, folder: Path) -> dict[str, Path]:
        """train-/t10k- IDX image files, else train/ val/ test/ sub-folders; {} for a class-folder tree."""
        return find_splits(folder, _is_idx_images) or find_splits(folder, Path.is_dir)

    def read(self, ref: Any, *, source: str, spec=None, labels: LabelMap | None = None,
             require_labels: bool = True) -> ImageExamples:
        if isinstance(ref, ImageExamples):
            return ref if labels is None or ref.label_map is None else self.relabel(ref, labels)
        id_names = (spec.id_names or spec.labels) if spec is not None else None
        if isinstance(ref, tuple) and len(ref) == 2:
            items, raw = ref
            items = np.asarray(items) if not isinstance(items, (list, tuple)) else list(items)
            if len(items) != len(raw):
                raise DataError(f"{source}: {len(items)} images but {len(raw)} labels")
            return _examples(items, list(raw), source, labels)
        if not isinstance(ref, (str, os.PathLike)):
            return as_examples(ref, source)
        path = Path(ref)
        if path.is_dir():
            return read_folder(path, labels, require_labels, source)
        if is_idx(path):
            return read_idx_images(path, labels, require_labels, id_names, source)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return _examples([str(path)], None, source, labels)
        return read_table_images(path, labels, require_labels, self.image_column, self.label_column, source)



def load_images(ref, *, labels: LabelMap | None = None, require_labels: bool = True, image_column=None,
                label_column=None, seed: int = DEFAULT_SEED) -> ImageExamples:
    """One split for evaluate/predict: a path, NAME:SPLIT, or images in memory."""
    return load_split(ImageReader(image_column, label_column), ref, labels=labels, require_labels=require_labels,
                      seed=seed, source="images")


def load_image_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED, image_column=None,
                      label_column=None):
    """Labelled train/validation/test image examples, label ids fixed by the training split."""
    return load_splits(ImageReader(image_column, label_column), train, validation, test, seed=seed)
