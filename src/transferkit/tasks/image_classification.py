"""Image classification: a pretrained ImageBackbone (transferkit.vision) with a new linear head.

Images are decoded once per split into uint8 squares at the backbone's resize size
(vision/decode.py); training batches are augmented in torch from the loop's seeded Generator,
evaluation batches are the centre crop. The loss is cross-entropy (soft targets under
mixup/cutmix), with label smoothing and class weights as for text. The saved model is
`model.safetensors` + `backbone.json` (backbone name, classes, InputSpec): no pickle, no code.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
from pydantic import Field

from ..data import LABELLED_IMAGES, LabelMap
from ..errors import ConfigError
from ..vision.models import BACKBONE_FILE
from ..vision.options import BackboneStart, GeometricAugment, ImageInput
from . import TASKS
from .base import TaskExample
from .classification import Classification, ClassWeights, LabelColumn
from .pixel_export import PixelExport

# Small images (28 px digits, 32 px CIFAR) are upscaled SMALL_IMAGE_SCALE x, not blown up to the
# backbone's 224 px: at 64 px an epoch costs ~1/12 of 224 px and scores as well or better
# (benchmarks/defaults.py, image group). Images that reach FULL_SIZE when scaled keep the backbone's.
SMALL_IMAGE_SCALE = 2.0
SMALLEST_IMAGE_SIZE = 64
FULL_SIZE = 224
# Upsampled thumbnails have no background border: they are fed whole (no 87.5 % centre crop) and
# trained with flips only. ImageNet-style random crops + colour jitter on top of the crop cost
# 3-4 points on Fashion-MNIST (2,000 images: 85.2 -> 89.2 % validation, median of 3 seeds) and
# 1 on sklearn's digits (97.2 -> 98.3 %); either change alone did not help (README, Benchmarks).
THUMBNAIL_AUGMENT = {"crop_scale": 1.0, "color_jitter": 0.0}
THUMBNAILS = 24  # mistakes shown as pictures in a report


def thumbnail_uri(pixels: np.ndarray, size: int = 96) -> str:
    """A small PNG of one decoded image (uint8 [S, S, C]) as a data: URI."""
    import io

    from PIL import Image

    from ..outputs.html import png_uri

    square = pixels[..., 0] if pixels.shape[-1] == 1 else pixels
    image = Image.fromarray(np.ascontiguousarray(square)).resize((size, size), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return png_uri(buffer.getvalue())


class ImageData(LabelColumn, ImageInput):
    pass


class ImageTraining(ClassWeights, BackboneStart, GeometricAugment):
    color_jitter: float = Field(0.2, ge=0, lt=1, description="Images: brightness/contrast/saturation jitter.")
    randaugment: int = Field(0, ge=0, le=4, description="Images: RandAugment ops per image, light magnitude (0: off).")
    mixup: float = Field(0.0, ge=0, description="Images: mixup Beta alpha (0: off; e.g. 0.2).")
    cutmix: float = Field(0.0, ge=0, description="Images: cutmix Beta alpha (0: off; e.g. 1.0).")
    progressive_resize: float | None = Field(
        None, gt=0, lt=1, description="Images: train the first epoch at this fraction of the image size, growing "
                                      "linearly to the full size at the last (progressive resizing; e.g. 0.6).")


def augment_settings(cfg):
    from ..vision.augment import AugmentSettings

    return AugmentSettings(crop_scale=cfg.crop_scale, hflip=cfg.hflip, color_jitter=cfg.color_jitter,
                           randaugment=cfg.randaugment, mixup=cfg.mixup, cutmix=cfg.cutmix)


@TASKS.register("image-classification")
class ImageClassification(PixelExport, Classification):
    dataset_kind = LABELLED_IMAGES
    spec_file = BACKBONE_FILE
    families = ("image-backbone",)
    default_for = ("image-backbone",)
    DataOptions = ImageData
    TrainOptions = ImageTraining
    student_inherits = ("image_size", "hflip")
    reads_text = False
    input_kind = "image"

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "strategy", None) == "lora":
            raise ConfigError("invalid strategy: lora adapts transformer attention layers; for image backbones "
                              "use full, head-only, top-k, gradual-unfreeze or llrd")

    def start_epoch(self, epoch: int, epochs: int) -> None:
        start = getattr(self.config, "progressive_resize", None)
        self.train_size = None
        if start and epochs > 1:
            fraction = start + (1 - start) * epoch / (epochs - 1)
            self.train_size = max(16, int(round(self.input_spec.image_size * fraction / 8)) * 8)

    def search_space(self) -> dict[str, dict]:
        space = super().search_space()
        space.pop("lora_r")  # LoRA adapts attention layers; CNNs have none
        space["strategy"] = {"type": "categorical", "choices": ["full", "llrd"]}
        space["crop_scale"] = {"type": "float", "low": 0.2, "high": 1.0}
        return space

    def data_settings(self, data, given: set[str]) -> dict:
        from ..vision.images import native_size

        side = native_size(data.train)
        if side is None:
            return {}
        chosen, target = {}, self.config.image_size
        if "image_size" not in given:
            size = max(SMALLEST_IMAGE_SIZE, 32 * math.ceil(SMALL_IMAGE_SCALE * side / 32))
            if size < FULL_SIZE:  # else large enough: the backbone's own size
                self.chose_image_size = True  # build_model may still raise it to what the backbone reads
                chosen["image_size"] = (size, f"the training images are {side} px: {SMALL_IMAGE_SCALE:g}x, rounded up "
                                              f"to a multiple of 32, instead of the backbone's {FULL_SIZE} px")
                target = size
        if target and side < target:
            self.whole_frame = True  # build_model: no centre crop
            why = f"the training images ({side} px) are upsampled to {target} px: thumbnails train on flips only"
            chosen.update({name: (value, why) for name, value in THUMBNAIL_AUGMENT.items()})
        return chosen

    def _reader(self, image_column=None, label_column=None, min_class_count=None):
        from ..vision.images import ImageReader

        return ImageReader(image_column, label_column, min_class_count)

    # ---------------------------------------------------------------- data

    def load_data(self, train, validation=None, test=None):
        from ..data import load_splits

        cfg = self.config
        reader = self._reader(cfg.image_column, cfg.label_column, cfg.min_class_count)
        splits = load_splits(reader, train, validation, test, seed=cfg.seed)
        self.label_names = list(splits.label_names)
        return splits

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Images to predict: paths, a folder, a table of paths, arrays or PIL images; with
        `labelled`, labelled images encoded with this run's label names."""
        from ..data import load_split
        from ..vision.images import IMAGE_SUFFIXES, as_examples

        labels = LabelMap(list(self.label_names)) if labelled else None
        if not labelled and (not isinstance(source, (str, Path)) or Path(source).is_dir()
                             or Path(source).suffix.lower() in IMAGE_SUFFIXES):
            return as_examples(source)
        return load_split(self._reader(column, label_column), source, labels=labels, require_labels=labelled,
                          seed=self.config.seed, source="images")

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        import torch

        cfg = self.config
        from ..vision.backbones import backbone_for

        network = backbone_for(str(model), cfg.pretrained, len(self.label_names), cfg.dropout, cfg.weights)
        network.reset_head(len(self.label_names))  # always a fresh head, even for 1000 classes
        network.input_spec = self.input_spec = network.input_spec.resized(cfg.image_size)
        if getattr(self, "whole_frame", False):  # an upsampled thumbnail is read whole
            network.input_spec = self.input_spec = replace(self.input_spec, resize_size=self.input_spec.image_size)
        if self.input_spec.image_size < network.min_input_size:  # Inception-v3's unpadded convolutions
            smallest = 32 * -(-network.min_input_size // 32)
            if cfg.image_size is not None and not getattr(self, "chose_image_size", False):
                raise ConfigError(f"invalid image_size: {model} reads images of at least {network.min_input_size} px; "
                                  f"pass --image-size {smallest} or more")
            cfg.image_size = smallest
            network.input_spec = self.input_spec = network.input_spec.resized(smallest)
        self.class_weights = self.resolve_class_weights(data.train.labels)
        # channels_last: PyTorch's CPU kernels for depthwise/1x1 convs are several times faster in NHWC.
        return network.to(memory_format=torch.channels_last).train()

    def save(self, model, directory: Path) -> None:
        from ..vision.models import save_image_model

        save_image_model(model, directory, self.label_names)

    def load_model(self, folder: Path, label_names):
        import torch

        from ..vision.models import load_image_model

        model, names = load_image_model(folder)
        self.label_names, self.class_weights = names, None
        self.input_spec = model.input_spec
        return model.to(memory_format=torch.channels_last)

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False):
        from ..vision.decode import decode

        spec = self.input_spec
        return decode(examples, spec.resize_size, spec.interpolation, getattr(self.config, "bad_images", "skip"))

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..vision.augment import eval_batch, mix, normalise, train_batch

        cfg, spec = self.config, self.input_spec
        index = np.asarray(indices)
        pixels = torch.from_numpy(dataset.pixels[index])
        training = rng is not None and getattr(cfg, "image_augment", False)
        batch: dict = {}
        if training:
            x = train_batch(pixels, getattr(self, "train_size", None) or spec.image_size, augment_settings(cfg), rng)
        if dataset.labels is not None:
            batch["labels"] = torch.from_numpy(dataset.labels[index])
            if training:
                x, targets = mix(x, batch["labels"], len(self.label_names), augment_settings(cfg), rng)
                if targets is not None:
                    batch["targets"] = targets
        batch["pixel_values"] = normalise(x, spec.mean, spec.std).contiguous(memory_format=torch.channels_last) \
            if training else eval_batch(pixels, spec)
        return batch

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        from types import SimpleNamespace

        features = model.forward_features(batch["pixel_values"])
        # The pooled features are the one "hidden state" shared by every CNN backbone.
        return SimpleNamespace(logits=model.forward_head(features), hidden_states=(features,) if hidden_states else None,
                               attentions=None)

    def predict(self, model, batch: dict):
        return model(batch["pixel_values"])

    def input_columns(self, examples) -> dict[str, list]:
        return {"path": examples.names}

    def raw_inputs(self, examples) -> list:
        return list(examples.items)

    def review_inputs(self, examples, dataset) -> dict[str, list]:
        return {"path": list(dataset.names)}

    def review_rows(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        """The classification rows, with thumbnails of the most confident mistakes."""
        rows = super().review_rows(examples, dataset, outputs)
        wrong = sorted((i for i, r in enumerate(rows) if not r["correct"]), key=lambda i: -rows[i]["confidence"])
        try:
            for i in wrong[:THUMBNAILS]:
                rows[i]["thumbnail"] = thumbnail_uri(dataset.pixels[i])
        except ImportError:  # Pillow (the image extra) absent: the report lists the mistakes without pictures
            pass
        return rows

    # ---------------------------------------------------------------- probe

    def feature_encoder(self, model: str):
        from ..vision.encoder import ImageEncoder

        encoder = ImageEncoder.from_ref(model, self.config.image_size, self.config.batch_size)
        self.input_spec = encoder.input_spec  # the probe's images are decoded for the encoder
        return encoder

    # ---------------------------------------------------------------- distillation

    def check_distillation(self, config) -> None:
        super().check_distillation(config)
        if config.mixup or config.cutmix:
            raise ConfigError("invalid mixup/cutmix: mixed images have no teacher outputs of their own; turn them off "
                              "for distill (the teacher's soft labels already regularise)")

    def read_unlabeled(self, source):
        from ..vision.images import load_images

        return load_images(source, require_labels=False, image_column=self.config.image_column) \
            if isinstance(source, (str, Path)) else self.read_inputs(source)

    def concat(self, parts):
        from ..vision.decode import DecodedImages

        channels = max(p.pixels.shape[-1] for p in parts)
        pixels = np.concatenate([np.broadcast_to(p.pixels, (*p.pixels.shape[:-1], channels)) for p in parts])
        labels = np.concatenate([p.labels if p.labels is not None else np.full(len(p), -100, dtype=np.int64)
                                 for p in parts]).astype(np.int64)
        return DecodedImages(pixels, labels, [n for p in parts for n in p.names])

    def teacher_inputs(self, batch: dict, teacher_task: ImageClassification) -> dict:
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

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ..vision.tiny import colour_images, write_image_folder

        workdir = Path(workdir)
        return TaskExample(model="mobilenet-v2", train=write_image_folder(workdir / "train", *colour_images(32, 1)),
                           validation=write_image_folder(workdir / "validation", *colour_images(16, 2)),
                           inputs=colour_images(4, 3)[0],
                           settings={"batch_size": 8, "lr": 3e-3, "image_size": 32, "pretrained": False,
                                     "precision": "fp32"})
