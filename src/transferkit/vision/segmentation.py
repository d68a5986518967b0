"""Semantic segmentation on an ImageBackbone: its stride-8 and stride-32 maps through a light
decoder, logits upsampled to the input.

The decoder is LR-ASPP (Howard et al., "Searching for MobileNetV3"; torchvision's
`lraspp_mobilenet_v3_large` head): the deep map, gated by its own global context, upsampled to
the stride-8 map, each classified by a 1x1 conv and summed. A few thousand parameters per class,
so the pretrained backbone does the work. Stored as `model.safetensors` + `segmentation.json`
(backbone name, classes, InputSpec): no pickle, no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .._io import atomic_write_json, read_json
from ..errors import ModelSourceError
from .backbone import ImageBackbone

SEGMENTATION_FILE = "segmentation.json"


class LRASPP(nn.Module):
    def __init__(self, low_channels: int, high_channels: int, num_classes: int, inter_channels: int = 128):
        super().__init__()
        self.cbr = nn.Sequential(nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                 nn.BatchNorm2d(inter_channels), nn.ReLU(inplace=True))
        self.scale = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high_channels, inter_channels, 1, bias=False),
                                   nn.Sigmoid())
        self.low_classifier = nn.Conv2d(low_channels, num_classes, 1)
        self.high_classifier = nn.Conv2d(inter_channels, num_classes, 1)

    def forward(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x = self.cbr(high) * self.scale(high)
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class SegmentationModel(nn.Module):
    """backbone (no classifier) + decoder; forward: normalised images [B, 3, H, W] -> logits [B, K, H, W]."""

    def __init__(self, backbone: ImageBackbone, num_classes: int):
        super().__init__()
        backbone.reset_head(0)  # the classifier is not used: the maps are
        self.backbone = backbone
        low, _, high = backbone.map_channels()
        self.decoder = LRASPP(low, high, num_classes)
        self.num_classes = num_classes

    @property
    def input_spec(self):
        return self.backbone.input_spec

    @property
    def name(self) -> str:
        return self.backbone.name

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.backbone.forward_maps(x)
        logits = self.decoder(maps[0], maps[-1])
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)

    def layer_group_names(self) -> list[list[str]]:
        """The backbone's groups (stem, stages) then the decoder as the head, for the strategies."""
        groups = [[f"backbone.{n}" for n in g] for g in self.backbone.layer_group_names()]
        groups = [g for g in groups if g]  # the identity classifier has no parameters
        return [*groups, [f"decoder.{n}" for n, _ in self.decoder.named_parameters()]]

    def train(self, mode: bool = True) -> SegmentationModel:
        super().train(mode)
        self.backbone.train(mode)  # keeps frozen BatchNorms in eval mode (ImageBackbone.train)
        return self


def save_segmentation_model(model: SegmentationModel, directory: Path, label_names: Sequence[str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_json(directory / SEGMENTATION_FILE, {"backbone": model.name, "decoder": "lraspp",
                                                      "label_names": list(label_names),
                                                      "input_spec": model.input_spec.to_dict(),
                                                      "drop_rate": model.backbone.drop_rate})


def load_segmentation_model(folder: Path) -> tuple[SegmentationModel, list[str]]:
    from safetensors.torch import load_file

    from .backbones import create_backbone
    from .spec import InputSpec

    try:
        doc = read_json(Path(folder) / SEGMENTATION_FILE)
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{Path(folder) / SEGMENTATION_FILE}: unreadable ({e})") from None
    backbone = create_backbone(doc["backbone"], pretrained=False, drop_rate=doc.get("drop_rate"))
    backbone.input_spec = InputSpec.from_dict(doc["input_spec"])
    model = SegmentationModel(backbone, len(doc["label_names"]))
    try:
        model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    except (OSError, RuntimeError) as e:
        raise ModelSourceError(f"{folder}: the segmentation weights do not load ({str(e).splitlines()[0][:160]})") \
            from None
    return model.eval(), list(doc["label_names"])
