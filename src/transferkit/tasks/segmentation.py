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

import math
from pathlib import Path

import numpy as np
from pydantic import Field

from ..data import SEGMENTATION_MASKS
from ..errors import ConfigError
from ..vision.options import BackboneStart, GeometricAugment, ImageInput
from . import TASKS
from .base import Task, TaskExample

SMALLEST, LARGEST = 64, 512  # the default image size follows the images within these bounds


class SegmentationData(ImageInput):
    mask_column: str | None = Field(None, description="Segmentation: column of a table holding the mask paths "
                                                      "(detected when unset: mask, label, ...).")
    fix_annotations: bool = Field(False, description="Segmentation (and detection): repair bad annotations instead "
                                                     "of stopping (masks resized to their image, unknown classes "
                                                     "ignored), with a count.")


class SegmentationTraining(BackboneStart, GeometricAugment):
    dice_weight: float = Field(0.0, ge=0, le=10, description="Segmentation: weight of a Dice loss added to the "
                                                             "cross-entropy (0: off; e.g. 0.5 for rare classes).")


@TASKS.register("segmentation")
class Segmentation(Task):
    dataset_kind = SEGMENTATION_MASKS
    families = ("image-backbone",)
    DataOptions = SegmentationData
    TrainOptions = SegmentationTraining
    student_inherits = ("image_size",)
    metric_names = ("miou", "pixel_accuracy")
    default_metric = "miou"
    headline_metric = "miou"
    prediction_suffix = ".masks"
    reads_text = False
    input_kind = "image"
    input_spec = None

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "strategy", None) == "lora":
            raise ConfigError("invalid strategy: lora adapts transformer attention layers; for image backbones "
                              "use full, head-only, top-k, gradual-unfreeze or llrd")

    def search_space(self) -> dict[str, dict]:
        space = super().search_space()
        space.pop("lora_r")
        space["strategy"] = {"type": "categorical", "choices": ["full", "llrd"]}
        return space

    def data_settings(self, data, given: set[str]) -> dict:
        from ..vision.images import native_size

        side = None if "image_size" in given else native_size(data.train)
        if side is None:
            return {}
        size = min(LARGEST, max(SMALLEST, 32 * math.ceil(side / 32)))
        return {"image_size": (size, f"the training images are {side} px: their size rounded up to a multiple of 32 "
                                     f"(within {SMALLEST}-{LARGEST} px), so masks keep their detail")}

    # ---------------------------------------------------------------- data

    def _reader(self, image_column=None, mask_column=None):
        from ..vision.masks import MaskReader

        return MaskReader(image_column or self.config.image_column, mask_column or self.config.mask_column)

    def load_data(self, train, validation=None, test=None):
        from ..data import load_splits
        from ..vision.masks import class_names_of

        splits = load_splits(self._reader(), train, validation, test, seed=self.config.seed)
        self.label_names = splits.label_names = class_names_of(splits.train)
        return splits

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Images to segment (paths, a folder, arrays) or, `labelled`, images with their masks."""
        from ..data import load_split

        if not labelled and not isinstance(source, (str, Path)):
            return self._reader().read(source, source="images", require_labels=False)
        return load_split(self._reader(column, label_column), source, require_labels=labelled,
                          seed=self.config.seed, source="images")

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        import torch

        from ..vision.backbones import backbone_for
        from ..vision.segmentation import SegmentationModel

        cfg = self.config
        backbone = backbone_for(str(model), cfg.pretrained, None, cfg.dropout, cfg.weights)
        size = cfg.image_size or backbone.input_spec.image_size
        size = max(32 * -(-backbone.min_input_size // 32), 32 * math.ceil(size / 32))  # strides up to 32
        if cfg.image_size is not None and size != cfg.image_size and "image_size" in cfg.model_fields_set:
            raise ConfigError(f"invalid image_size: segmentation reads squares whose side is a multiple of 32 (and at "
                              f"least {backbone.min_input_size} px for {model}); pass --image-size {size}")
        cfg.image_size = size
        backbone.input_spec = backbone.input_spec.resized(size)
        network = SegmentationModel(backbone, len(self.label_names))
        self.input_spec = network.input_spec
        return network.to(memory_format=torch.channels_last).train()

    def save(self, model, directory: Path) -> None:
        from ..vision.segmentation import save_segmentation_model

        save_segmentation_model(model, directory, self.label_names)

    def load_model(self, folder: Path, label_names):
        import torch

        from ..vision.segmentation import load_segmentation_model

        model, self.label_names = load_segmentation_model(Path(folder))
        self.input_spec = model.input_spec
        return model.to(memory_format=torch.channels_last)

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False):
        from ..vision.masks import decode_masked

        cfg = self.config
        return decode_masked(examples, self.input_spec.image_size, len(self.label_names),
                             getattr(cfg, "bad_images", "skip"), getattr(cfg, "fix_annotations", False))

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..vision.augment import joint_batch, normalise, to_float

        cfg, index = self.config, np.asarray(indices)
        pixels = torch.from_numpy(dataset.pixels[index])
        masks = None if dataset.masks is None else torch.from_numpy(dataset.masks[index])
        if rng is not None and masks is not None and getattr(cfg, "image_augment", False):
            x, masks = joint_batch(pixels, masks, cfg.crop_scale, cfg.hflip, rng)
        else:
            x = to_float(pixels)
            masks = None if masks is None else masks.long()
        batch = {"pixel_values": normalise(x, self.input_spec.mean, self.input_spec.std).contiguous(
            memory_format=torch.channels_last)}
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
                        "mask_png": base64.b64encode(_png(mask)).decode("ascii")})
        return out

    def raw_inputs(self, examples) -> list:
        return list(examples.items)

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        """A folder: NAME.png (class indices) and NAME.overlay.png per image, and predictions.jsonl."""
        from .._io import atomic_dir
        from ..outputs.tables import write_jsonl
        from ..vision.decode import to_pil

        names = dataset.names
        stems = _unique_stems(names)
        masks = self.predictions(examples, dataset, outputs)
        with atomic_dir(Path(path), overwrite=True) as tmp:
            for stem, index, mask in zip(stems, dataset.index, masks):
                (tmp / f"{stem}.png").write_bytes(_png(mask))
                item = examples.items[index]
                (tmp / f"{stem}.overlay.png").write_bytes(_png(_overlay(np.asarray(to_pil(item).convert("RGB")), mask)))
            rows = [{**{k: v for k, v in r.items() if k != "mask_png"}, "mask": f"{stem}.png"}
                    for r, stem in zip(self.records(examples, dataset, outputs), stems)]
            write_jsonl(tmp / "predictions.jsonl", rows)
        return len(masks)

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        for record in self.records(examples, dataset, outputs):
            print(record["path"], record["classes"])

    def check_distillation(self, config) -> None:
        raise ConfigError("invalid task: segmentation runs cannot be distilled yet; fine-tune the smaller backbone")

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


def _png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def palette(classes: int) -> np.ndarray:
    """Pascal VOC's colour map: distinct, fixed colours per class index (0 black)."""
    colours = np.zeros((max(classes, 1), 3), dtype=np.uint8)
    for i in range(len(colours)):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


def _overlay(image: np.ndarray, mask: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    colours = palette(int(mask.max()) + 1)[mask]
    blended = np.where(mask[..., None] > 0, (1 - alpha) * image + alpha * colours, image)
    return blended.astype(np.uint8)


def _unique_stems(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for name in names:
        stem = Path(name).stem if "[" not in name else name.replace("[", "_").replace("]", "")
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return out
