"""Object detection: labelled boxes, on a pretrained ImageBackbone with an FPN and an FCOS head
(transferkit.vision.detection, vision.fcos).

Images are decoded once per split, resized to the run's square with their boxes scaled along
(vision/boxes.py: COCO, VOC, YOLO); training batches get one random resized crop and flip per
image, boxes moved, clipped and dropped with it (vision.augment.box_batch). Outputs per image
are [max_detections, 6] (x1, y1, x2, y2, score, class) after class-aware NMS, every candidate
down to score 0.05, so COCO mAP (pycocotools; boxes mapped back to each image's own pixels)
sees the whole precision-recall curve; predictions keep those at or above `score_threshold`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from ..data import DETECTION_BOXES
from ..errors import ConfigError
from ..vision.options import AnnotationInput, BackboneStart, GeometricAugment, ImageInput
from . import TASKS
from .base import TaskExample
from .dense import DenseImageTask, palette, png, unique_stems


class DetectionData(ImageInput, AnnotationInput):
    score_threshold: float = Field(0.3, ge=0, le=1, description="Detection: the lowest score of a box that "
                                                                "predictions keep (mAP is computed over all).")
    max_detections: int = Field(100, ge=1, le=1000, description="Detection: most boxes per image, after NMS.")


class DetectionTraining(BackboneStart, GeometricAugment):
    pass


@TASKS.register("detection")
class Detection(DenseImageTask):
    dataset_kind = DETECTION_BOXES
    default_for = ("image-detector",)  # the task a ready detector (craft-mlt) predicts through
    DataOptions = DetectionData
    TrainOptions = DetectionTraining
    metric_names = ("map", "map_50")
    default_metric = "map"
    headline_metric = "map"
    prediction_suffix = ".boxes"

    # ---------------------------------------------------------------- data

    def reader(self, image_column=None, label_column=None):
        from ..vision.boxes import BoxReader

        return BoxReader()

    def load_data(self, train, validation=None, test=None):
        from ..data import load_splits
        from ..vision.boxes import class_names_of

        splits = load_splits(self.reader(), train, validation, test, seed=self.config.seed)
        self.label_names = splits.label_names = class_names_of(splits.train)
        if not self.label_names:
            raise ConfigError(f"invalid data: {train} has no labelled box to learn from")
        return splits

    # ---------------------------------------------------------------- model

    def network(self, backbone):
        from ..vision.detection import DetectionModel

        return DetectionModel(backbone, len(self.label_names))

    def load_network(self, folder: Path):
        from ..vision.detection import load_detection_model

        return load_detection_model(folder)

    def save(self, model, directory: Path) -> None:
        from ..vision.detection import save_detection_model

        save_detection_model(model, directory, self.label_names)

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False):
        from ..vision.boxes import decode_boxed

        cfg = self.config
        return decode_boxed(examples, self.input_spec.image_size, self.label_names, getattr(cfg, "bad_images", "skip"),
                            getattr(cfg, "fix_annotations", False))

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..vision.augment import box_batch, to_float

        cfg, index = self.config, np.asarray(indices)
        pixels = torch.from_numpy(dataset.pixels[index])
        if dataset.boxes is None:
            return {"pixel_values": self.pixel_batch(to_float(pixels))}
        boxes, labels = [dataset.boxes[i] for i in index], [dataset.labels[i] for i in index]
        if rng is not None and getattr(cfg, "image_augment", False):
            x, boxes, labels = box_batch(pixels, boxes, labels, cfg.crop_scale, cfg.hflip, rng)
        else:
            x = to_float(pixels)
        most = max(1, max(len(b) for b in boxes))
        padded, classes = torch.zeros(len(index), most, 4), torch.zeros(len(index), most, dtype=torch.long)
        present = torch.zeros(len(index), most, dtype=torch.bool)
        for i, (b, y) in enumerate(zip(boxes, labels)):
            padded[i, :len(b)], classes[i, :len(b)], present[i, :len(b)] = torch.from_numpy(b), torch.from_numpy(y), True
        return {"pixel_values": self.pixel_batch(x), "boxes": padded, "labels": classes, "box_mask": present}

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        from types import SimpleNamespace

        return SimpleNamespace(logits=model(batch["pixel_values"])["logits"], hidden_states=None, attentions=None)

    def loss(self, model, batch: dict):
        return model.loss(batch["pixel_values"], batch["boxes"], batch["labels"], batch["box_mask"])

    def predict(self, model, batch: dict):
        return model.detect(batch["pixel_values"], getattr(self.config, "max_detections", 100))

    # ---------------------------------------------------------------- metrics

    def _original(self, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        """Per image, its detections [n, 6] in its own pixels, best first (padding removed)."""
        side = self.input_spec.image_size
        out = []
        for rows, (w, h) in zip(outputs, dataset.sizes):
            rows = rows[rows[:, 5] >= 0].astype(np.float64)
            rows[:, :4] *= np.array([w / side, h / side] * 2)
            out.append(rows)
        return out

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        from ..vision.coco import coco_map

        side = self.input_spec.image_size
        truth = [(b * np.array([w / side, h / side] * 2), y) for b, y, (w, h) in
                 zip(dataset.boxes, dataset.labels, dataset.sizes)]
        scores = coco_map(truth, self._original(dataset, outputs), dataset.sizes, self.label_names)
        return {**scores, "n": len(dataset), "objects": int(sum(len(y) for y in dataset.labels))}

    def summary(self, metrics: dict) -> str:
        return (f"mAP [bold green]{metrics['map']:.4f}[/]  mAP@.5 [bold]{metrics['map_50']:.4f}[/]  "
                f"(n={metrics.get('n', '?')}, {metrics.get('objects', '?')} objects)")

    # ---------------------------------------------------------------- predictions

    def _kept(self, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        threshold = getattr(self.config, "score_threshold", 0.3)
        return [rows[rows[:, 4] >= threshold] for rows in self._original(dataset, outputs)]

    def probabilities(self, examples, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        """Per image, the scores of the boxes kept [n]."""
        return [rows[:, 4].astype(np.float32) for rows in self._kept(dataset, outputs)]

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list[list[dict]]:
        """Per image, its boxes: {"label", "score", "box": [x1, y1, x2, y2] in the image's pixels}."""
        return [[{"label": self.label_names[int(r[5])], "score": round(float(r[4]), 4),
                  "box": [round(float(v), 1) for v in r[:4]]} for r in rows] for rows in self._kept(dataset, outputs)]

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        return [{"path": name, "width": w, "height": h, "detections": found} for name, (w, h), found in
                zip(dataset.names, dataset.sizes, self.predictions(examples, dataset, outputs))]

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        """A folder: predictions.jsonl (boxes per image) and NAME.boxes.png, each image with its boxes drawn."""
        from .._io import atomic_dir
        from ..outputs.tables import write_jsonl
        from ..vision.decode import to_pil

        records = self.records(examples, dataset, outputs)
        stems = unique_stems(dataset.names)
        with atomic_dir(Path(path), overwrite=True) as tmp:
            for stem, index, record in zip(stems, dataset.index, records):
                image = to_pil(examples.items[index]).convert("RGB")
                (tmp / f"{stem}.boxes.png").write_bytes(png(self.draw(np.asarray(image), record["detections"])))
            write_jsonl(tmp / "predictions.jsonl", [{**r, "drawn": f"{s}.boxes.png"} for r, s in zip(records, stems)])
        return len(records)

    def draw(self, image: np.ndarray, detections: list[dict]) -> np.ndarray:
        """The image with each box outlined in its class's colour and labelled with its score."""
        from PIL import Image, ImageDraw

        canvas = Image.fromarray(image)
        pen = ImageDraw.Draw(canvas)
        colours = palette(len(self.label_names) + 1)
        for d in detections:
            colour = tuple(int(c) for c in colours[self.label_names.index(d["label"]) + 1])
            pen.rectangle(d["box"], outline=colour, width=2)
            pen.text((d["box"][0] + 2, d["box"][1] + 1), f"{d['label']} {d['score']:.2f}", fill=colour)
        return np.asarray(canvas)

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        for record in self.records(examples, dataset, outputs):
            print(record["path"], [(d["label"], d["score"], d["box"]) for d in record["detections"]])

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ..vision.tiny import box_scenes, write_coco_folder

        workdir = Path(workdir)
        return TaskExample(model="mobilenet-v2", train=write_coco_folder(workdir / "train", *box_scenes(16, 1)),
                           validation=write_coco_folder(workdir / "validation", *box_scenes(8, 2)),
                           inputs=list(box_scenes(3, 3)[0]),
                           settings={"batch_size": 4, "lr": 3e-3, "image_size": 64, "pretrained": False,
                                     "precision": "fp32", "score_threshold": 0.05})
