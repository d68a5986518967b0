"""Image classification: a pretrained ImageBackbone (transferkit.vision) with a new linear head.

Images are decoded once per split into uint8 squares at the backbone's resize size (see
vision/images.py); training batches are augmented in torch from the loop's seeded Generator,
evaluation batches are the centre crop. The loss is cross-entropy (soft targets under
mixup/cutmix), with label smoothing and class weights as for text. The saved model is
`model.safetensors` + `backbone.json` (backbone name, classes, InputSpec): no pickle, no code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write_json, read_json
from ..errors import ConfigError, TransferkitError
from . import Task, register_task
from .text_classification import TextClassification

BACKBONE_FILE = "backbone.json"


@dataclass
class ImageData:
    train: Any
    validation: Any
    test: Any
    label_names: list[str]
    split_info: dict | None = None


def augment_settings(cfg):
    from ..vision.augment import AugmentSettings

    return AugmentSettings(crop_scale=cfg.crop_scale, hflip=cfg.hflip, color_jitter=cfg.color_jitter,
                           randaugment=cfg.randaugment, mixup=cfg.mixup, cutmix=cfg.cutmix)


@register_task("image-classification")
class ImageClassification(Task):
    metric_names = TextClassification.metric_names
    # Same semantics as text: "balanced", a list in label order, or {label: weight}; same metrics.
    _class_weights = TextClassification._class_weights
    evaluate = TextClassification.evaluate

    def check_config(self) -> None:
        super().check_config()
        if self.config.strategy == "lora":
            raise ConfigError("invalid strategy: lora adapts transformer attention layers; for image backbones "
                              "use full, head-only, top-k, gradual-unfreeze or llrd")

    def load_data(self, train, validation=None, test=None) -> ImageData:
        from ..vision.images import load_image_splits

        cfg = self.config
        splits = load_image_splits(train, validation, test, seed=cfg.seed, path_column=cfg.text_column,
                                   label_column=cfg.label_column)
        return ImageData(splits.train, splits.validation, splits.test, list(splits.labels.names), splits.split_info)

    # ---------------------------------------------------------------- model

    def build_model(self, model_path: Path, data: ImageData):
        import torch

        from ..vision.registry import TIMM_PREFIX, backbone_name_of_folder, create_backbone, list_backbones

        cfg = self.config
        self.label_names = list(data.label_names)
        if str(cfg.model).startswith(TIMM_PREFIX):
            model = create_backbone(cfg.model, pretrained=cfg.pretrained, num_classes=len(self.label_names),
                                    drop_rate=cfg.dropout)
        else:
            name = backbone_name_of_folder(model_path)
            if name is None:
                raise ConfigError(f"invalid model: {cfg.model} is not an image backbone; choose from "
                                  f"{', '.join(list_backbones())} or timm:NAME")
            model = create_backbone(name, pretrained=cfg.pretrained, weights=model_path,
                                    num_classes=len(self.label_names), drop_rate=cfg.dropout)
        model.reset_head(len(self.label_names))  # always a fresh head, even for 1000 classes
        model.input_spec = self.input_spec = model.input_spec.resized(cfg.image_size)
        self.num_classes = len(self.label_names)
        self.class_weights = self._class_weights(data)
        # channels_last: PyTorch's CPU kernels for depthwise/1x1 convs are several times faster in NHWC.
        return model.to(memory_format=torch.channels_last).train()

    # ---------------------------------------------------------------- data

    def encode(self, examples, *, training: bool = False):
        from ..vision.images import decode

        spec = self.input_spec
        return decode(examples, spec.resize_size, spec.interpolation, self.config.bad_images)

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..vision.augment import center_crop, mix, normalise, train_batch

        cfg, spec = self.config, self.input_spec
        index = np.asarray(indices)
        pixels = torch.from_numpy(dataset.pixels[index])
        training = rng is not None and cfg.image_augment
        x = train_batch(pixels, spec.image_size, augment_settings(cfg), rng) if training \
            else center_crop(pixels, spec.image_size)
        batch: dict = {}
        if dataset.labels is not None:
            batch["labels"] = torch.from_numpy(dataset.labels[index])
            if training:
                x, targets = mix(x, batch["labels"], self.num_classes, augment_settings(cfg), rng)
                if targets is not None:
                    batch["targets"] = targets
        batch["pixel_values"] = normalise(x, spec.mean, spec.std).contiguous(memory_format=torch.channels_last)
        return batch

    # ---------------------------------------------------------------- training and evaluation

    def predict(self, model, batch: dict):
        return model(batch["pixel_values"])

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits = self.predict(model, batch).float()
        weight = self.class_weights
        if weight is not None and weight.device != logits.device:
            weight = self.class_weights = weight.to(logits.device)
        smoothing = self.config.label_smoothing
        if "targets" not in batch:
            return F.cross_entropy(logits, batch["labels"], weight=weight, label_smoothing=smoothing)
        targets = batch["targets"].to(logits.device) * (1 - smoothing) + smoothing / logits.shape[1]
        per_class = -targets * F.log_softmax(logits, dim=1)
        if weight is not None:
            per_class = per_class * weight
        return per_class.sum(1).mean()

    def save(self, model, directory: Path) -> None:
        save_image_model(model, directory, self.label_names)

    # ---------------------------------------------------------------- distillation

    def load_trained(self, folder: Path, label_names):
        import torch

        model, names = load_image_model(folder)
        self.label_names, self.num_classes, self.class_weights = names, len(names), None
        self.input_spec = model.input_spec
        return model.to(memory_format=torch.channels_last)

    def read_unlabeled(self, source):
        from ..vision.images import ImageExamples, load_images
        from ..vision.runs import as_examples

        if isinstance(source, ImageExamples):
            return source
        if isinstance(source, (str, Path)):
            return load_images(source, require_labels=False, path_column=self.config.text_column)
        return as_examples(source)

    def concat(self, parts):
        from ..vision.images import DecodedImages

        channels = max(p.pixels.shape[-1] for p in parts)
        pixels = np.concatenate([np.broadcast_to(p.pixels, (*p.pixels.shape[:-1], channels)) for p in parts])
        labels = np.concatenate([p.labels if p.labels is not None else np.full(len(p), -100, dtype=np.int64)
                                 for p in parts]).astype(np.int64)
        return DecodedImages(pixels, labels, [n for p in parts for n in p.names])

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        from types import SimpleNamespace

        features = model.forward_features(batch["pixel_values"])
        # The pooled features are the one "hidden state" shared by every CNN backbone.
        return SimpleNamespace(logits=model.forward_head(features), hidden_states=(features,) if hidden_states else None,
                               attentions=None)

    def teacher_inputs(self, batch: dict, teacher_task: "ImageClassification") -> dict:
        """The student's (augmented) view, re-normalised and resized for the teacher: the teacher
        judges exactly the image the student sees (consistent teaching)."""
        import torch
        import torch.nn.functional as F

        from ..vision.augment import normalise

        mine, theirs = self.input_spec, teacher_task.input_spec
        x = batch["pixel_values"]
        x = x * x.new_tensor(mine.std).view(1, 3, 1, 1) + x.new_tensor(mine.mean).view(1, 3, 1, 1)
        if theirs.image_size != x.shape[-1]:
            x = F.interpolate(x, size=(theirs.image_size,) * 2, mode="bilinear", align_corners=False, antialias=True)
        return {"pixel_values": normalise(x, theirs.mean, theirs.std).contiguous(memory_format=torch.channels_last)}

    # ---------------------------------------------------------------- inference

    def predictor(self, model, run_dir: Path | None):
        from ..vision.runs import ImageClassifierRun

        return ImageClassifierRun(model, self.label_names, self.config.eval_batch_size or 64, self.config.bad_images,
                                  run_dir)

    @classmethod
    def load_predictor(cls, run_dir: Path, config: dict):
        from ..vision.runs import ImageClassifierRun

        folder = run_dir / "model"
        if not (folder / BACKBONE_FILE).is_file():
            raise TransferkitError(f"{run_dir}: no fine-tuned model in model/ (the run did not finish; "
                                   "continue it with --resume)")
        model, names = load_image_model(folder)
        return ImageClassifierRun(model, names, config.get("eval_batch_size") or 64,
                                  config.get("bad_images", "skip"), run_dir)


def save_image_model(model, directory: Path, label_names: list[str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_json(directory / BACKBONE_FILE, {"backbone": model.name, "num_classes": len(label_names),
                                                  "label_names": list(label_names),
                                                  "input_spec": model.input_spec.to_dict(),
                                                  "drop_rate": model.drop_rate})


def load_image_model(folder: Path):
    """(backbone with the trained head, label names) from a folder written by `save_image_model`."""
    from ..vision.backbone import InputSpec
    from ..vision.registry import create_backbone, load_weights

    doc = read_json(folder / BACKBONE_FILE)
    model = create_backbone(doc["backbone"], pretrained=False, num_classes=int(doc["num_classes"]),
                            drop_rate=doc.get("drop_rate"))
    load_weights(model, folder / "model.safetensors")
    model.input_spec = InputSpec.from_dict(doc["input_spec"])
    return model.eval(), list(doc["label_names"])
