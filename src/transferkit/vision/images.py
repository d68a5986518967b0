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
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LABELLED_IMAGES, LabelMap, find_splits, load_split, load_splits
from ..data.files import MediaExamples, MediaKind, MediaReader, media_examples, read_class_folders, read_path_table
from ..data.idx import is_idx, read_idx
from ..data.splits import DEFAULT_SEED
from ..errors import DataError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm", ".pbm")
PATH_COLUMNS = ("path", "image", "file", "filename", "image_path", "filepath")


IMAGES = MediaKind("image", IMAGE_SUFFIXES, PATH_COLUMNS, "--image-column")


class ImageExamples(MediaExamples):
    """Labelled (or not) image references: `items[i]` is a path, an array or a PIL image."""


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
    return media_examples(ImageExamples, items, raw_labels, source, labels, id_names)


def read_folder(folder: Path, labels: LabelMap | None = None, require_labels: bool = True,
                source: str | None = None) -> ImageExamples:
    """ImageFolder layout (`folder/<class>/*.png`); loose images with no class folders are unlabelled."""
    return read_class_folders(IMAGES, ImageExamples, folder, labels, require_labels, source)


def read_table_images(path: Path, labels: LabelMap | None = None, require_labels: bool = True,
                      image_column: str | None = None, label_column: str | None = None,
                      source: str | None = None) -> ImageExamples:
    """CSV/TSV/JSONL/Parquet with an image path column (relative to the table's folder) and a label column."""
    return read_path_table(IMAGES, ImageExamples, path, labels, require_labels, image_column, label_column, source)


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


class ImageReader(MediaReader):
    """Labelled images for `data.load_splits`: image folders, tables of paths, IDX files, arrays."""

    kind = LABELLED_IMAGES
    unit = "image"
    media = IMAGES
    examples = ImageExamples

    @property
    def image_column(self) -> str | None:
        return self.path_column

    def entries(self, folder: Path) -> dict[str, Path]:
        """train-/t10k- IDX image files, else train/ val/ test/ sub-folders; {} for a class-folder tree."""
        return find_splits(folder, _is_idx_images) or super().entries(folder)

    def as_examples(self, ref: Any, source: str) -> ImageExamples:
        return as_examples(ref, source)

    def read(self, ref: Any, *, source: str, spec=None, labels: LabelMap | None = None,
             require_labels: bool = True) -> ImageExamples:
        if isinstance(ref, (str, os.PathLike)) and not Path(ref).is_dir() and is_idx(Path(ref)):
            id_names = (spec.id_names or spec.labels) if spec is not None else None
            return read_idx_images(Path(ref), labels, require_labels, id_names, source)
        return super().read(ref, source=source, spec=spec, labels=labels, require_labels=require_labels)


def load_images(ref, *, labels: LabelMap | None = None, require_labels: bool = True, image_column=None,
                label_column=None, seed: int = DEFAULT_SEED) -> ImageExamples:
    """One split for evaluate/predict: a path, NAME:SPLIT, or images in memory."""
    return load_split(ImageReader(image_column, label_column), ref, labels=labels, require_labels=require_labels,
                      seed=seed, source="images")


def load_image_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED, image_column=None,
                      label_column=None):
    """Labelled train/validation/test image examples, label ids fixed by the training split."""
    return load_splits(ImageReader(image_column, label_column), train, validation, test, seed=seed)
