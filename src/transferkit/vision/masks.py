"""Images with segmentation masks: a class index per pixel (255: ignore), read and decoded once.

    load_mask_splits("scenes/")          # scenes/images/a.jpg + scenes/masks/a.png (same stem)
    load_mask_splits("VOC2012/")         # JPEGImages/ + SegmentationClass/ (+ ImageSets/Segmentation/*.txt)
    load_mask_splits("pairs.csv")        # image,mask columns, paths relative to the file
    load_mask_splits((images, masks))    # arrays [H, W(, 3)] and [H, W] in memory

Class names come from a `classes.txt` (or `labels.txt`) in the dataset folder, one per line in
index order (Pascal VOC's 21 names for its layout); else `class_0 ... class_K` from the largest
index in the training masks. Splits: train/validation/test sub-folders, VOC's image-set lists,
else one source split by seed 80/10/10. Masks are PNGs (palette or grayscale: the value is the
class); a mask whose size differs from its image's, or that holds an unknown class, is an error
naming the file, or repaired (`--fix-annotations`: resized / set to ignore, with a count).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import SEGMENTATION_MASKS, load_split, load_splits
from ..data.columns import find_column
from ..data.labels import warn
from ..data.splits import DEFAULT_SEED, find_splits, shuffled_split
from ..data.tables import read_table
from ..errors import DataError
from .images import IMAGE_SUFFIXES, PATH_COLUMNS

IGNORE = 255
MASK_COLUMNS = ("mask", "mask_path", "label", "annotation")
IMAGE_DIRS = ("images", "JPEGImages", "img")
MASK_DIRS = ("masks", "SegmentationClass", "labels", "annotations")
CLASS_FILES = ("classes.txt", "labels.txt")
VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


class AnnotatedImages:
    """What the dense tasks' examples share (dataclasses with items, rows, source and one
    annotation per image in the field `annotations`): len, subsets, names for messages."""

    annotations = "masks"

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index, source: str | None = None):
        index = np.asarray(index, dtype=np.int64)
        targets = getattr(self, self.annotations)
        return replace(self, items=[self.items[i] for i in index], rows=self.rows[index], source=source or self.source,
                       **{self.annotations: None if targets is None else [targets[i] for i in index]})

    @property
    def names(self) -> list[str]:
        return [str(x) if isinstance(x, (str, os.PathLike)) else f"{self.source}[{r}]"
                for x, r in zip(self.items, self.rows)]


@dataclass
class MaskedImages(AnnotatedImages):
    """Images (paths or arrays) and, when labelled, their masks (paths or [H, W] integer arrays)."""

    items: Sequence[Any]
    masks: Sequence[Any] | None
    rows: np.ndarray
    source: str
    class_names: list[str] | None = None  # declared by the dataset (classes.txt, VOC)
    label_map: None = field(default=None, repr=False)


def _class_file(*folders: Path) -> list[str] | None:
    for folder in folders:
        for name in CLASS_FILES:
            path = folder / name
            if path.is_file():
                names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
                if len(names) < 2:
                    raise DataError(f"{path}: {len(names)} class name(s); list every class, one per line, in index "
                                    "order (index 0 first)")
                return names
    return None


def _sub(folder: Path, names: Sequence[str]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_dir()), None)


class MaskReader:
    """The split reader of segmentation (see `transferkit.data.loading.SplitReader`)."""

    kind = SEGMENTATION_MASKS
    unit = "image"
    label_map = None

    def __init__(self, image_column: str | None = None, mask_column: str | None = None):
        self.image_column, self.mask_column = image_column, mask_column

    def entries(self, folder: Path) -> dict[str, Path]:
        lists = folder / "ImageSets" / "Segmentation"
        if lists.is_dir():  # Pascal VOC: the image-set lists are the splits
            return find_splits(lists, lambda p: p.suffix == ".txt")
        return find_splits(folder, lambda p: p.is_dir() or p.suffix.lower() in (".csv", ".tsv", ".jsonl", ".json"))

    def read(self, ref: Any, *, source: str, spec=None, labels=None, require_labels: bool = True) -> MaskedImages:
        if isinstance(ref, MaskedImages):
            return ref
        if isinstance(ref, tuple) and len(ref) == 2:
            images, masks = ref
            images = [images] if isinstance(images, np.ndarray) and images.ndim in (2, 3) and \
                np.asarray(masks).ndim == 2 else list(images)
            masks = [masks] if np.asarray(masks, dtype=object).ndim == 2 and len(images) == 1 else list(masks)
            if len(images) != len(masks):
                raise DataError(f"{source}: {len(images)} images but {len(masks)} masks")
            return MaskedImages(images, masks, np.arange(1, len(images) + 1), source)
        if not isinstance(ref, (str, os.PathLike)):
            items = [ref] if isinstance(ref, np.ndarray) and ref.ndim in (2, 3) else list(ref)
            return self._unlabelled(items, source, require_labels)
        path = Path(ref)
        if path.suffix == ".txt" and path.parent.name == "Segmentation":
            return self._voc_list(path, source, require_labels)
        if path.is_dir():
            return self._folder(path, source, require_labels)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self._unlabelled([str(path)], source, require_labels)
        return self._table(path, source, require_labels)

    def _unlabelled(self, items: list, source: str, require_labels: bool) -> MaskedImages:
        if require_labels:
            raise DataError(f"{source}: images without masks; put the images in images/ and a PNG mask of the same "
                            "name in masks/, or give a table of image,mask")
        return MaskedImages(items, None, np.arange(1, len(items) + 1), source)

    def _folder(self, folder: Path, source: str, require_labels: bool) -> MaskedImages:
        image_dir, mask_dir = _sub(folder, IMAGE_DIRS), _sub(folder, MASK_DIRS)
        if image_dir is None:  # loose images: something to predict
            files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise DataError(f"{folder}: no images; a segmentation dataset is a folder with images/ and masks/ "
                                "(the same file names, masks as PNG), or a CSV/JSONL of image,mask")
            return self._unlabelled(files, source, require_labels)
        images = sorted(p for p in image_dir.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        names = _class_file(folder, folder.parent) or (list(VOC_CLASSES) if image_dir.name == "JPEGImages" else None)
        if mask_dir is None:
            return self._unlabelled([str(p) for p in images], source, require_labels) if images else \
                self._unlabelled([], source, require_labels)
        masks = [mask_dir / p.relative_to(image_dir).with_suffix(".png") for p in images]
        missing = [m for m in masks if not m.is_file()]
        if missing and require_labels:
            raise DataError(f"{missing[0]}: no mask for {images[masks.index(missing[0])]}; add it, or remove the "
                            f"image ({len(missing)} of {len(images)} images have none)")
        keep = [i for i, m in enumerate(masks) if m.is_file()]
        if not keep:
            return self._unlabelled([str(p) for p in images], source, require_labels)
        return MaskedImages([str(images[i]) for i in keep], [str(masks[i]) for i in keep],
                            np.arange(1, len(keep) + 1), source, names)

    def _voc_list(self, path: Path, source: str, require_labels: bool) -> MaskedImages:
        root = path.parents[2]
        ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        images = [root / "JPEGImages" / f"{i}.jpg" for i in ids]
        masks = [root / "SegmentationClass" / f"{i}.png" for i in ids]
        missing = next((p for p in (*images, *masks) if not p.is_file()), None)
        if missing is not None:
            raise DataError(f"{path}: lists {missing.stem}, but {missing} does not exist; fix the list or add the file")
        return MaskedImages([str(p) for p in images], [str(p) for p in masks], np.arange(1, len(ids) + 1), source,
                            _class_file(root) or list(VOC_CLASSES))

    def _table(self, path: Path, source: str, require_labels: bool) -> MaskedImages:
        frame = read_table(path)
        icol = find_column(frame.columns, self.image_column, PATH_COLUMNS, source=str(path), role="image path",
                           option="--image-column")
        mcol = find_column(frame.columns, self.mask_column, MASK_COLUMNS, source=str(path), role="mask path",
                           option="--mask-column", required=require_labels, exclude=icol)

        def where(p) -> str:
            return str(p) if os.path.isabs(str(p)) else str(path.parent / str(p))

        rows = np.asarray(frame.index, dtype=np.int64)
        items = [where(p) for p in frame[icol].tolist()]
        masks = [where(p) for p in frame[mcol].tolist()] if mcol else None
        return MaskedImages(items, masks, rows, source, _class_file(path.parent))

    def split(self, examples: MaskedImages, seed: int, fractions: Sequence[float]):
        return shuffled_split(len(examples), seed, fractions, source=examples.source, unit="image"), "seeded shuffle"

    def relabel(self, examples, labels):
        return examples

    def check_train(self, examples: MaskedImages) -> MaskedImages:
        if examples.masks is None:
            raise DataError(f"{examples.source}: the training images have no masks")
        return examples


# ---------------------------------------------------------------- decoding


def read_mask(item) -> np.ndarray:
    """A mask as uint8 [H, W] of class indices (a palette PNG's indices, a grayscale PNG's values)."""
    if isinstance(item, (str, os.PathLike)):
        from PIL import Image

        with Image.open(item) as img:
            if img.mode not in ("P", "L", "1", "I", "I;16"):
                raise ValueError(f"a {img.mode} image, not a mask; save masks as palette or grayscale PNGs whose "
                                 "values are class indices")
            arr = np.asarray(img)
    else:
        arr = np.asarray(item)
    if arr.ndim != 2:
        raise ValueError(f"expected a mask [H, W] of class indices, got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() > IGNORE):
        raise ValueError(f"class indices must be 0..254 (255: ignore), found {int(arr.min())}..{int(arr.max())}")
    return arr.astype(np.uint8)


def class_names_of(examples: MaskedImages) -> list[str]:
    """The dataset's declared names, else class_0..class_K for the largest index in its masks."""
    if examples.class_names:
        return list(examples.class_names)
    top = 0
    for mask in examples.masks:
        try:
            values = np.unique(read_mask(mask))
        except Exception:  # noqa: BLE001 - an unreadable mask is reported where it is decoded
            continue
        values = values[values != IGNORE]
        top = max(top, int(values.max()) if len(values) else 0)
    if top < 1:
        raise DataError(f"{examples.source}: every mask holds one class (0); segmentation needs at least two, or a "
                        "classes.txt naming them")
    return [f"class_{i}" for i in range(top + 1)]


def check_mask(mask: np.ndarray, image_size: tuple[int, int], classes: int, fix: bool) -> tuple[np.ndarray, list[str]]:
    """The mask checked against its image (size, class range); with `fix`, repaired (what was done is returned)."""
    from PIL import Image

    done = []
    if mask.shape != (image_size[1], image_size[0]):
        if not fix:
            raise ValueError(f"the mask is {mask.shape[1]}x{mask.shape[0]} but its image {image_size[0]}x"
                             f"{image_size[1]}; resize it (or pass --fix-annotations)")
        mask = np.asarray(Image.fromarray(mask).resize(image_size, Image.Resampling.NEAREST))
        done.append("resized")
    unknown = (mask >= classes) & (mask != IGNORE)
    if unknown.any():
        if not fix:
            raise ValueError(f"class index {int(mask[unknown].max())} is not one of the {classes} classes (0.."
                             f"{classes - 1}, 255: ignore); fix the mask, list the class in classes.txt, or pass "
                             "--fix-annotations (unknown -> ignore)")
        mask = np.where(unknown, IGNORE, mask).astype(np.uint8)
        done.append("unknown classes ignored")
    return mask, done


class OneImageEach:
    """Decoded dense data (`pixels` [N, S, S, 3]): one example per image, for the engine."""

    @property
    def lengths(self) -> np.ndarray:
        return np.ones(len(self.pixels), dtype=np.int64)

    def __len__(self) -> int:
        return len(self.pixels)


def resized_image(item, size: int) -> tuple[np.ndarray, tuple[int, int]]:
    """uint8 [size, size, 3] (bilinear) and the image's own (width, height)."""
    from PIL import Image

    from .decode import to_pil

    image = to_pil(item).convert("RGB")
    return np.asarray(image.resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8), image.size


def decode_images(examples, one, bad: str, noun: str = "image") -> tuple[list[int], list]:
    """`one(index)` over every example (an image and its annotation), an unreadable one skipped or named."""
    from ..data.files import MediaKind, decode_each

    kind = MediaKind(noun, IMAGE_SUFFIXES, PATH_COLUMNS, "--image-column")
    return decode_each(Indexed(len(examples), examples.names, examples.source), one, kind, bad, "--bad-images")


@dataclass
class DecodedMasks(OneImageEach):
    """What the engine batches: uint8 images [N, S, S, 3], masks [N, S, S] (None: unlabelled) and
    each image's original (width, height), to give masks back at that size."""

    pixels: np.ndarray
    masks: np.ndarray | None
    sizes: list[tuple[int, int]]
    names: list[str]
    index: np.ndarray  # the example each image is (unreadable ones were skipped)


def decode_masked(examples: MaskedImages, size: int, classes: int, bad: str = "skip",
                  fix: bool = False) -> DecodedMasks:
    """Every image resized to `size` x `size` (bilinear) and its mask with it (nearest)."""
    from PIL import Image

    repaired: list[str] = []

    def one(index: int):
        pixels, image_size = resized_image(examples.items[index], size)
        if examples.masks is None:
            return pixels, None, image_size
        mask, done = check_mask(read_mask(examples.masks[index]), image_size, classes, fix)
        repaired.extend(done)
        small = np.asarray(Image.fromarray(mask).resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)
        return pixels, small, image_size

    kept, values = decode_images(examples, one, bad, "image or mask")
    if repaired:
        warn(f"{examples.source}: --fix-annotations repaired {len(repaired)} mask(s) ({', '.join(sorted(set(repaired)))})")
    pixels = np.stack([v[0] for v in values]) if values else np.zeros((0, size, size, 3), np.uint8)
    masks = None if examples.masks is None else np.stack([v[1] for v in values])
    return DecodedMasks(pixels, masks, [v[2] for v in values], [examples.names[i] for i in kept],
                        np.asarray(kept, dtype=np.int64))


class Indexed:
    """Example indices to decode (image and mask together), with the names `decode_each` reports."""

    def __init__(self, count: int, names: list[str], source: str):
        self.items, self.names, self.source = list(range(count)), names, source

    def __len__(self) -> int:
        return len(self.items)


def load_masked(ref, *, require_labels: bool = True, seed: int = DEFAULT_SEED) -> MaskedImages:
    return load_split(MaskReader(), ref, require_labels=require_labels, seed=seed, source="images")


def load_mask_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED):
    return load_splits(MaskReader(), train, validation, test, seed=seed)
