"""Semantic segmentation: a class per pixel, on a pretrained ImageBackbone with an LR-ASPP decoder
(transferkit.vision.segmentation).

Images and masks are decoded once per split at `image_size` (images bilinear, masks nearest;
vision/masks.py); training batches get one random resized crop and flip applied to both
(vision.augment.joint_batch). The loss is cross-entropy over the labelled pixels (255 is
ignored), plus Dice with `--dice-weight`. Metrics come from one confusion matrix over every
pixel: mIoU (the mean over classes present in the truth or the prediction), pixel accuracy and
IoU per class. Outputs per image are [2, S, S] (class, its probability); predictions are masks at
the image's own size, written as PNGs (class indices) with colour overlays.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ..data import SEGMENTATION_MASKS
from ..vision.models import SEGMENTATION_FILE
from ..vision.options import AnnotationInput, BackboneStart, GeometricAugment, ImageInput
from . import TASKS
from .base import TaskExample
from .dense import DenseImageTask, palette, png, unique_stems
from .pixel_export import PixelExport


class SegmentationData(ImageInput, AnnotationInput):
    mask_column: str | None = Field(None, description="Segmentation: column of a table holding the mask paths "
                                                      "(detected when unset: mask, label, ...).")


class SegmentationTraining(BackboneStart, GeometricAugment):
    decoder: Literal["lraspp", "aspp", "unet"] = Field("lraspp", description="Segmentation: the decoder on the "
                                                                              "backbone's maps: lraspp (lightest), "
                                                                              "aspp (DeepLabV3+) or unet.")
    dice_weight: float = Field(0.0, ge=0, le=10, description="Segmentation: weight of a Dice loss added to the "
                                                             "cross-entropy (0: off; e.g. 0.5 for rare classes).")


@TASKS.register("segmentation")
class Segmentation(PixelExport, DenseImageTask):
    dataset_kind = SEGMENTATION_MASKS
    spec_file = SEGMENTATION_FILE  # exported runs: the stored squares are the input size, only normalised
    DataOptions = SegmentationData
    TrainOptions = SegmentationTraining
    metric_names = ("miou", "pixel_accuracy")
    default_metric = "miou"
    headline_metric = "miou"
    prediction_suffix = ".masks"

    # ---------------------------------------------------------------- data

    def reader(self, image_column=None, mask_column=None):
        from ..vision.masks import MaskReader

        return MaskReader(image_column or self.config.image_column, mask_column or self.config.mask_column)

    def load_data(self, train, validation=None, test=None):
        from ..data import load_splits
        from ..vision.masks import class_names_of

        splits = load_splits(self.reader(), train, validation, test, seed=self.config.seed)
        self.label_names = splits.label_names = class_names_of(splits.train)
        return splits

    # ---------------------------------------------------------------- model

    def network(self, backbone):
        from ..vision.segmentation import SegmentationModel

        return SegmentationModel(backbone, len(self.label_names), getattr(self.config, "decoder", "lraspp"))

    def load_network(self, folder: Path):
        from ..vision.segmentation import load_segmentation_model

        return load_segmentation_model(folder)

    def save(self, model, directory: Path) -> None:
        from ..vision.segmentation import save_segmentation_model

        save_segmentation_model(model, directory, self.label_names)

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False):
        from ..vision.masks import decode_masked

        cfg = self.config
        return decode_masked(examples, self.input_spec.image_size, len(self.label_names),
                             getattr(cfg, "bad_images", "skip"), getattr(cfg, "fix_annotations", False))

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..vision.augment import joint_batch, to_float

        cfg, index = self.config, np.asarray(indices)
        pixels = torch.from_numpy(dataset.pixels[index])
        masks = None if dataset.masks is None else torch.from_numpy(dataset.masks[index])
        if rng is not None and masks is not None and getattr(cfg, "image_augment", False):
            x, masks = joint_batch(pixels, masks, cfg.crop_scale, cfg.hflip, rng)
        else:
            x = to_float(pixels)
            masks = None if masks is None else masks.long()
        batch = {"pixel_values": self.pixel_batch(x)}
        if masks is not None:
            batch["labels"] = masks
        return batch

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        from types import SimpleNamespace

        return SimpleNamespace(logits=model(batch["pixel_values"]), hidden_states=None, attentions=None)

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        from ..vision.masks import IGNORE

        logits = model(batch["pixel_values"]).float()
        labels = batch["labels"]
        loss = F.cross_entropy(logits, labels, ignore_index=IGNORE,
                               label_smoothing=getattr(self.config, "label_smoothing", 0.0))
        weight = getattr(self.config, "dice_weight", 0.0)
        return loss + weight * _dice(logits, labels) if weight else loss

    def predict(self, model, batch: dict):
        import torch

        probs = torch.softmax(model(batch["pixel_values"]).float(), dim=1)
        confidence, classes = probs.max(dim=1)
        return torch.stack([classes.float(), confidence], dim=1)

    # ---------------------------------------------------------------- metrics

    def score_parts(self, dataset, outputs: np.ndarray) -> np.ndarray:
        """Per image: intersection and union per class, then correct and labelled pixels."""
        from ..vision.masks import IGNORE

        k = len(self.label_names)
        rows = []
        for predicted, truth in zip(outputs[:, 0].astype(np.int64), dataset.masks.astype(np.int64)):
            valid = truth != IGNORE
            p, t = predicted[valid], truth[valid]
            inter = np.bincount(t[p == t], minlength=k)[:k]
            union = np.bincount(t, minlength=k)[:k] + np.bincount(p, minlength=k)[:k] - inter
            rows.append(np.concatenate([inter, union, [(p == t).sum(), valid.sum()]]))
        return np.asarray(rows, dtype=np.float64).reshape(-1, 2 * k + 2)

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        k = len(self.label_names)
        inter, union = sums[..., :k], sums[..., k:2 * k]
        iou = np.where(union > 0, inter / np.maximum(union, 1), np.nan)
        return np.nanmean(iou, axis=-1)

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        k = len(self.label_names)
        sums = self.score_parts(dataset, outputs).sum(axis=0)
        inter, union = sums[:k], sums[k:2 * k]
        per_class = {name: round(float(i / u), 6) for name, i, u in zip(self.label_names, inter, union) if u > 0}
        return {"miou": float(self.headline_from_parts(sums)), "pixel_accuracy": float(sums[-2] / max(sums[-1], 1)),
                "per_class_iou": per_class, "n": len(dataset)}

    def summary(self, metrics: dict) -> str:
        return (f"mIoU [bold green]{metrics['miou']:.4f}[/]  pixel accuracy [bold]{metrics['pixel_accuracy']:.4f}[/]  "
                f"(n={metrics.get('n', '?')})")

    # ---------------------------------------------------------------- predictions

    def probabilities(self, examples, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        """Per image, the probability of each pixel's predicted class [S, S]."""
        return [o[1].astype(np.float32) for o in outputs]

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        """Per image, its mask (uint8 class indices) at the image's own size."""
        from PIL import Image

        return [np.asarray(Image.fromarray(o[0].astype(np.uint8)).resize(size, Image.Resampling.NEAREST))
                for o, size in zip(outputs, dataset.sizes)]

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        import base64

        out = []
        for name, mask, size in zip(dataset.names, self.predictions(examples, dataset, outputs), dataset.sizes):
            counts = np.bincount(mask.ravel(), minlength=len(self.label_names))
            out.append({"path": name, "width": size[0], "height": size[1],
                        "classes": {n: round(float(c) / mask.size, 6) for n, c in zip(self.label_names, counts) if c},
                        "mask_png": base64.b64encode(png(mask)).decode("ascii")})
        return out

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        """A folder: NAME.png (class indices) and NAME.overlay.png per image, and predictions.jsonl."""
        from .._io import atomic_dir
        from ..outputs.tables import write_jsonl
        from ..vision.decode import to_pil

        names = dataset.names
        stems = unique_stems(names)
        masks = self.predictions(examples, dataset, outputs)
        with atomic_dir(Path(path), overwrite=True) as tmp:
            for stem, index, mask in zip(stems, dataset.index, masks):
                (tmp / f"{stem}.png").write_bytes(png(mask))
                item = examples.items[index]
                (tmp / f"{stem}.overlay.png").write_bytes(png(_overlay(np.asarray(to_pil(item).convert("RGB")), mask)))
            rows = [{**{k: v for k, v in r.items() if k != "mask_png"}, "mask": f"{stem}.png"}
                    for r, stem in zip(self.records(examples, dataset, outputs), stems)]
            write_jsonl(tmp / "predictions.jsonl", rows)
        return len(masks)

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        for record in self.records(examples, dataset, outputs):
            print(record["path"], record["classes"])

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ..vision.tiny import square_scenes, write_mask_folder

        workdir = Path(workdir)
        return TaskExample(model="mobilenet-v2", train=write_mask_folder(workdir / "train", *square_scenes(16, 1)),
                           validation=write_mask_folder(workdir / "validation", *square_scenes(8, 2)),
                           inputs=list(square_scenes(3, 3)[0]),
                           settings={"batch_size": 4, "lr": 3e-3, "image_size": 32, "pretrained": False,
                                     "precision": "fp32"})


def _dice(logits, labels):
    """1 - mean soft Dice over classes, on the labelled pixels."""
    import torch

    from ..vision.masks import IGNORE

    valid = (labels != IGNORE).unsqueeze(1)
    probs = torch.softmax(logits, dim=1) * valid
    onehot = torch.nn.functional.one_hot(labels.clamp(max=logits.shape[1] - 1), logits.shape[1]).permute(0, 3, 1, 2)
    onehot = onehot * valid
    inter = (probs * onehot).sum((0, 2, 3))
    total = probs.sum((0, 2, 3)) + onehot.sum((0, 2, 3))
    return 1 - ((2 * inter + 1) / (total + 1)).mean()


def _overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    colours = palette(int(mask.max()) + 1)[mask]
    blended = np.where(mask[..., None] > 0, (1 - alpha) * image + alpha * colours, image)
    return blended.astype(np.uint8)
