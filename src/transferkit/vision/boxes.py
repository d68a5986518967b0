"""Images with labelled boxes, for detection: COCO JSON, Pascal VOC XML, YOLO txt, or in memory.

    load_box_splits("scenes/")       # scenes/annotations.json (COCO) + the images it names
    load_box_splits("VOC2007/")      # JPEGImages/ + Annotations/*.xml (+ ImageSets/Main/*.txt: the splits)
    load_box_splits("yolo/")         # images/ + labels/*.txt (class cx cy w h, fractions) + classes.txt
    load_box_splits((images, targets))   # arrays [H, W(, 3)] and per image [n, 5] (x1, y1, x2, y2, class id)

Boxes are kept in the image's own pixels (x1, y1, x2, y2) with class *names*; the training split
fixes the class list: a COCO file's categories (in id order), a `classes.txt` / `data.yaml`
beside the data, else the names seen in training (sorted). Splits: train/validation/test
sub-folders or COCO files, VOC's image-set lists, else one source split by seed 80/10/10.
A box that leaves its image, has no area, or names an unknown class is an error naming the
file and the object, or is repaired (`--fix-annotations`: clipped / dropped, with a count).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import DETECTION_BOXES, load_split, load_splits
from ..data.labels import warn
from ..data.splits import DEFAULT_SEED, find_splits, shuffled_split
from ..errors import DataError
from .images import IMAGE_SUFFIXES
from .masks import CLASS_FILES, AnnotatedImages, OneImageEach, decode_images, resized_image

COCO_FILES = ("annotations.json", "_annotations.coco.json", "instances.json", "coco.json")
SLACK = 1.0  # px a box may leave its image by (rounding, VOC's 1-based corners) before it is an error


@dataclass
class Boxes:
    """One image's objects: corners [n, 4] (pixels, or fractions of the image when `relative`) and class names."""

    corners: np.ndarray
    names: list[str]
    relative: bool = False  # YOLO: fractions of the image's size, resolved when the image is read


@dataclass
class BoxedImages(AnnotatedImages):
    """Images (paths or arrays) and, when labelled, their Boxes."""

    annotations = "boxes"

    items: Sequence[Any]
    boxes: Sequence[Boxes] | None
    rows: np.ndarray
    source: str
    class_names: list[str] | None = None  # declared by the dataset (COCO categories, classes.txt)
    label_map: None = field(default=None, repr=False)


def _declared_names(*folders: Path) -> list[str] | None:
    """classes.txt / labels.txt (one per line, in id order) or a YOLO data.yaml's `names`."""
    for folder in folders:
        for name in CLASS_FILES:
            if (folder / name).is_file():
                names = [x.strip() for x in (folder / name).read_text(encoding="utf-8").splitlines() if x.strip()]
                if names:
                    return names
        for name in ("data.yaml", "dataset.yaml"):
            if (folder / name).is_file():
                import yaml

                names = (yaml.safe_load((folder / name).read_text(encoding="utf-8")) or {}).get("names")
                if isinstance(names, dict):
                    names = [names[k] for k in sorted(names)]
                if names:
                    return [str(n) for n in names]
    return None


class BoxReader:
    """The split reader of detection (see `transferkit.data.loading.SplitReader`)."""

    kind = DETECTION_BOXES
    unit = "image"
    label_map = None

    def entries(self, folder: Path) -> dict[str, Path]:
        lists = folder / "ImageSets" / "Main"
        if lists.is_dir() and any(split in {p.stem for p in lists.glob("*.txt")} for split in ("train", "trainval")):
            return find_splits(lists, lambda p: p.suffix == ".txt" and "_" not in p.stem)
        return find_splits(folder, lambda p: p.is_dir() or p.suffix.lower() == ".json")

    def read(self, ref: Any, *, source: str, spec=None, labels=None, require_labels: bool = True) -> BoxedImages:
        if isinstance(ref, BoxedImages):
            return ref
        if isinstance(ref, tuple) and len(ref) == 2:
            return _in_memory(*ref, source=source)
        if not isinstance(ref, (str, os.PathLike)):
            items = [ref] if isinstance(ref, np.ndarray) and ref.ndim in (2, 3) else list(ref)
            return self._unlabelled(items, source, require_labels)
        path = Path(ref)
        if path.suffix == ".txt" and path.parent.name == "Main":
            return _voc_list(path, source)
        if path.suffix.lower() == ".json":
            return _coco(path, source)
        if path.is_dir():
            return self._folder(path, source, require_labels)
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return self._unlabelled([str(path)], source, require_labels)
        raise DataError(f"{path}: not a detection dataset; give a folder (COCO annotations.json + images, Pascal VOC "
                        "Annotations/ + JPEGImages/, or YOLO images/ + labels/) or a COCO .json file")

    def _unlabelled(self, items: list, source: str, require_labels: bool) -> BoxedImages:
        if require_labels:
            raise DataError(f"{source}: images without boxes; give a COCO annotations.json, Pascal VOC Annotations/ "
                            "or YOLO labels/ beside the images")
        return BoxedImages(items, None, np.arange(1, len(items) + 1), source)

    def _folder(self, folder: Path, source: str, require_labels: bool) -> BoxedImages:
        coco = next((folder / n for n in COCO_FILES if (folder / n).is_file()), None)
        if coco is None and (folder / "annotations").is_dir():
            coco = next(iter(sorted((folder / "annotations").glob("*.json"))), None)
        if coco is not None:
            return _coco(coco, source)
        if (folder / "Annotations").is_dir():
            return _voc(folder, sorted((folder / "Annotations").glob("*.xml")), source)
        if (folder / "labels").is_dir() and (folder / "images").is_dir():
            return _yolo(folder, source)
        files = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise DataError(f"{folder}: no images; a detection dataset is a folder with a COCO annotations.json, "
                            "Pascal VOC Annotations/ + JPEGImages/, or YOLO images/ + labels/")
        return self._unlabelled(files, source, require_labels)

    def split(self, examples: BoxedImages, seed: int, fractions: Sequence[float]):
        return shuffled_split(len(examples), seed, fractions, source=examples.source, unit="image"), "seeded shuffle"

    def relabel(self, examples, labels):
        return examples

    def check_train(self, examples: BoxedImages) -> BoxedImages:
        if examples.boxes is None:
            raise DataError(f"{examples.source}: the training images have no boxes")
        if not any(len(b.names) for b in examples.boxes):
            raise DataError(f"{examples.source}: no image has a box; detection learns from labelled boxes")
        return examples


def _in_memory(images, targets, *, source: str) -> BoxedImages:
    images = [images] if isinstance(images, np.ndarray) and images.ndim in (2, 3) else list(images)
    targets = list(targets)
    if len(images) != len(targets):
        raise DataError(f"{source}: {len(images)} images but {len(targets)} box lists; give one [n, 5] array "
                        "(x1, y1, x2, y2, class id) per image")
    boxes = []
    for i, target in enumerate(targets):
        array = np.asarray(target, dtype=np.float64).reshape(-1, 5) if len(target) else np.zeros((0, 5))
        if array.shape[1] != 5:
            raise DataError(f"{source}[{i + 1}]: boxes must be [n, 5] (x1, y1, x2, y2, class id)")
        boxes.append(Boxes(array[:, :4], [f"class_{int(c)}" for c in array[:, 4]]))
    top = max((int(c.split("_")[1]) for b in boxes for c in b.names), default=0)
    return BoxedImages(images, boxes, np.arange(1, len(images) + 1), source, [f"class_{i}" for i in range(top + 1)])


def _coco(path: Path, source: str) -> BoxedImages:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        images, annotations = doc["images"], doc.get("annotations", [])
        categories = {int(c["id"]): str(c["name"]) for c in doc["categories"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise DataError(f"{path}: not a COCO detection file ({type(e).__name__}: {e}); it needs images, "
                        "annotations and categories") from None
    by_image: dict[int, list[dict]] = {}
    for number, ann in enumerate(annotations, 1):
        if ann.get("iscrowd"):
            continue  # crowd regions are not objects to find
        if int(ann.get("category_id", -1)) not in categories:
            raise DataError(f"{path}: annotation {ann.get('id', number)} has category_id {ann.get('category_id')}, "
                            f"which is not in categories; fix it or add the category")
        by_image.setdefault(int(ann["image_id"]), []).append(ann)
    roots = [path.parent, path.parent / "images", path.parent.parent / "images", path.parent.parent]
    items, boxes = [], []
    for image in images:
        name = str(image["file_name"])
        found = next((r / name for r in roots if (r / name).is_file()), None)
        if found is None:
            raise DataError(f"{path}: image {image['id']} is {name}, which is not in {path.parent} or its images/ "
                            f"folder; fix file_name or add the file")
        anns = by_image.get(int(image["id"]), [])
        xywh = np.asarray([a["bbox"] for a in anns], dtype=np.float64).reshape(-1, 4)
        items.append(str(found))
        boxes.append(Boxes(np.concatenate([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]], axis=1),
                           [categories[int(a["category_id"])] for a in anns]))
    names = [categories[k] for k in sorted(categories)]
    return BoxedImages(items, boxes, np.arange(1, len(items) + 1), source, names)


def _voc_object(obj, where: str) -> tuple[list[float], str]:
    box = obj.find("bndbox")
    try:
        return [float(box.find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")], obj.find("name").text.strip()
    except (AttributeError, TypeError, ValueError):
        raise DataError(f"{where}: an object without a name or a numeric bndbox (xmin, ymin, xmax, ymax); "
                        "fix the XML") from None


def _voc(root: Path, files: list[Path], source: str) -> BoxedImages:
    import xml.etree.ElementTree as ET

    items, boxes = [], []
    for xml in files:
        try:
            doc = ET.parse(xml).getroot()
        except ET.ParseError as e:
            raise DataError(f"{xml}: not valid XML ({e}); fix or remove it") from None
        name = (doc.findtext("filename") or f"{xml.stem}.jpg").strip()
        image = next((p for p in (root / "JPEGImages" / name, root / "JPEGImages" / f"{xml.stem}.jpg")
                      if p.is_file()), None)
        if image is None:
            raise DataError(f"{xml}: its image {root / 'JPEGImages' / name} does not exist; add it or remove the XML")
        objects = [_voc_object(o, str(xml)) for o in doc.iter("object")]
        items.append(str(image))
        boxes.append(Boxes(np.asarray([o[0] for o in objects], dtype=np.float64).reshape(-1, 4),
                           [o[1] for o in objects]))
    return BoxedImages(items, boxes, np.arange(1, len(items) + 1), source, _declared_names(root))


def _voc_list(path: Path, source: str) -> BoxedImages:
    root = path.parents[2]
    ids = [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    files = [root / "Annotations" / f"{i}.xml" for i in ids]
    missing = next((p for p in files if not p.is_file()), None)
    if missing is not None:
        raise DataError(f"{path}: lists {missing.stem}, but {missing} does not exist; fix the list or add the file")
    return _voc(root, files, source)


def _yolo(folder: Path, source: str) -> BoxedImages:
    images = sorted(p for p in (folder / "images").rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    declared = _declared_names(folder, folder.parent)
    items, boxes = [], []
    for image in images:
        label = (folder / "labels" / image.relative_to(folder / "images")).with_suffix(".txt")
        rows = []
        if label.is_file():  # no file: an image without objects (YOLO's convention)
            for number, line in enumerate(label.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    cls, cx, cy, w, h = (float(v) for v in line.split()[:5])
                except ValueError:
                    raise DataError(f"{label}:{number}: expected 'class cx cy w h' (numbers, fractions of the image), "
                                    f"got {line.strip()!r}") from None
                rows.append((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, int(cls)))
        array = np.asarray(rows, dtype=np.float64).reshape(-1, 5)
        names = [declared[int(c)] if declared and 0 <= int(c) < len(declared) else f"class_{int(c)}"
                 for c in array[:, 4]]
        items.append(str(image))
        boxes.append(Boxes(array[:, :4], names, relative=True))
    return BoxedImages(items, boxes, np.arange(1, len(items) + 1), source, declared)


def class_names_of(examples: BoxedImages) -> list[str]:
    """The dataset's declared names, else the names its training boxes use (sorted, numbers by value)."""
    if examples.class_names:
        return list(examples.class_names)
    seen = {n for b in examples.boxes for n in b.names}
    return sorted(seen, key=lambda n: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", n)])


# ---------------------------------------------------------------- checks and decoding


def check_boxes(boxes: Boxes, size: tuple[int, int], classes: dict[str, int], fix: bool,
                done: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Corners [n, 4] in the image's pixels and class ids [n], checked (or repaired with `fix`)."""
    width, height = size
    corners = boxes.corners * np.array([width, height, width, height]) if boxes.relative else boxes.corners.copy()
    keep = np.ones(len(corners), dtype=bool)
    labels = np.zeros(len(corners), dtype=np.int64)
    for i, (box, name) in enumerate(zip(corners, boxes.names)):
        what = f"object {i + 1} ({name} at {[round(float(v), 1) for v in box]})"
        if name not in classes:
            if not fix:
                raise ValueError(f"{what}: class {name!r} is not one of the training classes ({', '.join(classes)}); "
                                 "fix the label, or pass --fix-annotations (drop it)")
            keep[i] = False
            done.append("unknown classes dropped")
            continue
        labels[i] = classes[name]
        outside = box[0] < -SLACK or box[1] < -SLACK or box[2] > width + SLACK or box[3] > height + SLACK
        if outside and not fix:
            raise ValueError(f"{what}: the box leaves the {width}x{height} image; fix it, or pass --fix-annotations "
                             "(clip it)")
        done.extend(["boxes clipped"] if outside else [])
        box[:] = np.clip(box, 0, [width, height, width, height])
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            if not fix:
                raise ValueError(f"{what}: the box has no area (x2 <= x1 or y2 <= y1 within the image); fix it, or "
                                 "pass --fix-annotations (drop it)")
            keep[i] = False
            done.append("empty boxes dropped")
    return corners[keep].astype(np.float32), labels[keep]


@dataclass
class DecodedBoxes(OneImageEach):
    """What the engine batches: uint8 images [N, S, S, 3], per image its boxes [n, 4] in the S x S
    frame and class ids [n] (None: unlabelled), and its original (width, height)."""

    pixels: np.ndarray
    boxes: list[np.ndarray] | None
    labels: list[np.ndarray] | None
    sizes: list[tuple[int, int]]
    names: list[str]
    index: np.ndarray  # the example each image is (unreadable ones were skipped)


def decode_boxed(examples: BoxedImages, size: int, class_names: Sequence[str], bad: str = "skip",
                 fix: bool = False) -> DecodedBoxes:
    """Every image resized to `size` x `size` (its boxes scaled with it), checked against its boxes."""
    classes = {n: i for i, n in enumerate(class_names)}
    repaired: list[str] = []
    problems: list[str] = []  # bad annotations stop the run (unlike unreadable images, which may be skipped)

    def one(index: int):
        pixels, image_size = resized_image(examples.items[index], size)
        if examples.boxes is None:
            return pixels, None, None, image_size
        try:
            corners, labels = check_boxes(examples.boxes[index], image_size, classes, fix, repaired)
        except ValueError as e:
            problems.append(f"{examples.names[index]}: {e}")
            corners, labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
        scale = np.array([size / image_size[0], size / image_size[1]] * 2, dtype=np.float32)
        return pixels, corners * scale, labels, image_size

    kept, values = decode_images(examples, one, bad)
    if problems:
        more = f" ({len(problems) - 1} more bad boxes)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)
    if repaired:
        counts = {r: repaired.count(r) for r in sorted(set(repaired))}
        warn(f"{examples.source}: --fix-annotations: " + ", ".join(f"{c} {r}" for r, c in counts.items()))
    pixels = np.stack([v[0] for v in values]) if values else np.zeros((0, size, size, 3), np.uint8)
    labelled = examples.boxes is not None
    return DecodedBoxes(pixels, [v[1] for v in values] if labelled else None,
                        [v[2] for v in values] if labelled else None, [v[3] for v in values],
                        [examples.names[i] for i in kept], np.asarray(kept, dtype=np.int64))


def load_boxed(ref, *, require_labels: bool = True, seed: int = DEFAULT_SEED) -> BoxedImages:
    return load_split(BoxReader(), ref, require_labels=require_labels, seed=seed, source="images")


def load_box_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED):
    return load_splits(BoxReader(), train, validation, test, seed=seed)
