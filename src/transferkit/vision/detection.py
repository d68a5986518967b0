"""Object detection on an ImageBackbone: its stride 8/16/32 maps through a light FPN and one
FCOS head shared by the levels (transferkit.vision.fcos has the targets, loss and decoding).

FPN (Lin et al.): 1x1 laterals to `channels`, top-down nearest upsampling and sums, a 3x3 conv
per level. The head: two 3x3 conv + GroupNorm + ReLU towers (classes; box sides and
centre-ness), FCOS's four made two to stay light on CPU; side distances are exp(scale_l * x) *
stride, a learnt scale per level. The class bias starts at a 1 % prior (focal loss' init), so the
first steps do not drown in background. Stored as `model.safetensors` + `detection.json`
(backbone name, classes, InputSpec, channels): no pickle, no code.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from . import fcos
from .backbone import DenseModel, ImageBackbone
from .models import DETECTION_FILE, dense_backbone, load_weights_into, read_doc, save_weights

STRIDES = (8, 16, 32)


class FPN(nn.Module):
    def __init__(self, in_channels: Sequence[int], channels: int):
        super().__init__()
        self.lateral = nn.ModuleList(nn.Conv2d(c, channels, 1) for c in in_channels)
        self.output = nn.ModuleList(nn.Conv2d(channels, channels, 3, padding=1) for _ in in_channels)

    def forward(self, maps: list[torch.Tensor]) -> list[torch.Tensor]:
        x = self.lateral[-1](maps[-1])
        outs = [self.output[-1](x)]
        for lateral, output, feature in zip(reversed(self.lateral[:-1]), reversed(self.output[:-1]),
                                            reversed(maps[:-1])):
            x = lateral(feature) + F.interpolate(x, size=feature.shape[-2:], mode="nearest")
            outs.insert(0, output(x))
        return outs


def _tower(channels: int, depth: int) -> nn.Sequential:
    layers = []
    for _ in range(depth):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.GroupNorm(8, channels), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


class FCOSHead(nn.Module):
    def __init__(self, channels: int, num_classes: int, depth: int = 2, levels: int = 3):
        super().__init__()
        self.cls_tower, self.box_tower = _tower(channels, depth), _tower(channels, depth)
        self.cls = nn.Conv2d(channels, num_classes, 3, padding=1)
        self.box = nn.Conv2d(channels, 4, 3, padding=1)
        self.centreness = nn.Conv2d(channels, 1, 3, padding=1)
        self.scales = nn.Parameter(torch.ones(levels))
        for conv in (self.cls, self.box, self.centreness):
            nn.init.normal_(conv.weight, std=0.01)
            nn.init.zeros_(conv.bias)
        nn.init.constant_(self.cls.bias, -math.log(99))  # p = 0.01

    def forward(self, levels: list[torch.Tensor]) -> dict[str, torch.Tensor]:
        logits, distances, centreness = [], [], []
        for i, (x, stride) in enumerate(zip(levels, STRIDES)):
            c, b = self.cls_tower(x), self.box_tower(x)
            logits.append(self.cls(c).flatten(2).transpose(1, 2))
            side = (self.scales[i] * self.box(b).float()).clamp(max=10).exp() * stride
            distances.append(side.flatten(2).transpose(1, 2))
            centreness.append(self.centreness(b).flatten(1))
        return {"logits": torch.cat(logits, 1), "distances": torch.cat(distances, 1),
                "centreness": torch.cat(centreness, 1)}


class DetectionModel(DenseModel):
    """backbone (no classifier) + FPN + FCOS head; forward: normalised images [B, 3, S, S] -> the
    head's outputs per point ("logits" [B, L, K], "distances" [B, L, 4], "centreness" [B, L])."""

    head_names = ("fpn", "head")

    def __init__(self, backbone: ImageBackbone, num_classes: int, channels: int = 96):
        super().__init__()
        backbone.reset_head(0)  # the classifier is not used: the maps are
        self.backbone = backbone
        self.fpn = FPN(backbone.map_channels(), channels)
        self.head = FCOSHead(channels, num_classes)
        self.num_classes, self.channels = num_classes, channels
        self._points: dict = {}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.fpn(self.backbone.forward_maps(x)))

    def points(self, side: int, device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The point centres, strides and size ranges of an input `side` px square (cached)."""
        key = (side, str(device))
        if key not in self._points:
            sides = [(math.ceil(side / s), math.ceil(side / s)) for s in STRIDES]
            self._points[key] = fcos.points(sides, list(STRIDES), device)
        return self._points[key]

    def loss(self, x: torch.Tensor, boxes, labels, valid) -> torch.Tensor:
        outputs = self(x)
        return fcos.fcos_loss(outputs, *self.points(x.shape[-1], x.device), boxes, labels, valid)

    def detect(self, x: torch.Tensor, max_detections: int) -> torch.Tensor:
        """[B, max_detections, 6] (x1, y1, x2, y2, score, class) in the input's pixels."""
        centres = self.points(x.shape[-1], x.device)[0]
        return fcos.decode(self(x), centres, x.shape[-1], max_detections)


def save_detection_model(model: DetectionModel, directory: Path, label_names: Sequence[str]) -> None:
    save_weights(model, directory, DETECTION_FILE, {"backbone": model.name, "head": "fcos", "channels": model.channels,
                                                    "label_names": list(label_names),
                                                    "input_spec": model.input_spec.to_dict(),
                                                    "drop_rate": model.backbone.drop_rate})


def load_detection_model(folder: Path) -> tuple[DetectionModel, list[str]]:
    from .spec import InputSpec

    doc = read_doc(folder, DETECTION_FILE)
    if doc.get("head") == "craft":  # a pretrained text detector (vision/craft.py), not an FCOS run
        from .craft import CRAFT

        model = CRAFT(InputSpec.from_dict(doc["input_spec"]))
    else:
        model = DetectionModel(dense_backbone(doc), len(doc["label_names"]), int(doc.get("channels", 96)))
    return load_weights_into(model, folder, "detector"), list(doc["label_names"])
