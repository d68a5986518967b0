"""Semantic segmentation on an ImageBackbone: its stride 8/16/32 maps through a decoder, logits
upsampled to the input. Three decoders (`--decoder`):

- `lraspp` (default; Howard et al., "Searching for MobileNetV3", torchvision's
  `lraspp_mobilenet_v3_large` head): the deep map, gated by its own global context, upsampled to
  the stride-8 map, each classified by a 1x1 conv and summed. A few thousand parameters per class,
  so the pretrained backbone does the work.
- `aspp` (DeepLabV3+, Chen et al. 2018): atrous spatial pyramid pooling on the stride-32 map
  (rates 3/6/9: DeepLab's 6/12/18 at output stride 16, halved for stride 32, plus image pooling),
  fused with a 48-channel projection of the stride-8 map by two 3x3 convs.
- `unet` (Ronneberger et al. 2015): top-down from stride 32, each step upsampling, concatenating
  the skip map and two 3x3 conv + BN + ReLU, classified at stride 8.

Stored as `model.safetensors` + `segmentation.json` (backbone name, decoder, classes, InputSpec):
no pickle, no code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import DenseModel, ImageBackbone
from .models import SEGMENTATION_FILE, dense_backbone, load_weights_into, read_doc, save_weights


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


def _conv_bn(cin: int, cout: int, k: int = 3, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=dilation * (k // 2), dilation=dilation, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ASPP(nn.Module):
    """DeepLabV3+'s decoder: takes the three maps, uses the stride-8 and stride-32 ones."""

    def __init__(self, channels: list[int], num_classes: int, inter: int = 128, rates=(3, 6, 9)):
        super().__init__()
        low, _, high = channels
        self.branches = nn.ModuleList([_conv_bn(high, inter, 1), *(_conv_bn(high, inter, 3, r) for r in rates)])
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.ReLU(inplace=True))
        self.project = _conv_bn(inter * (len(rates) + 2), inter, 1)
        self.low = _conv_bn(low, 48, 1)
        self.fuse = nn.Sequential(_conv_bn(inter + 48, inter), _conv_bn(inter, inter), nn.Conv2d(inter, num_classes, 1))

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        low, high = maps[0], maps[-1]
        pooled = self.pool(high).expand(-1, -1, *high.shape[-2:])
        x = self.project(torch.cat([b(high) for b in self.branches] + [pooled], 1))
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([x, self.low(low)], 1))


class UNetDecoder(nn.Module):
    """Top-down over the stride 32 -> 16 -> 8 maps, skip connections concatenated."""

    def __init__(self, channels: list[int], num_classes: int, widths=(128, 64)):
        super().__init__()
        c8, c16, c32 = channels
        self.up16 = nn.Sequential(_conv_bn(c32 + c16, widths[0]), _conv_bn(widths[0], widths[0]))
        self.up8 = nn.Sequential(_conv_bn(widths[0] + c8, widths[1]), _conv_bn(widths[1], widths[1]))
        self.classifier = nn.Conv2d(widths[1], num_classes, 1)

    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:
        s8, s16, x = maps
        x = self.up16(torch.cat([F.interpolate(x, size=s16.shape[-2:], mode="nearest"), s16], 1))
        x = self.up8(torch.cat([F.interpolate(x, size=s8.shape[-2:], mode="nearest"), s8], 1))
        return self.classifier(x)


class _LRASPPMaps(LRASPP):
    def forward(self, maps: list[torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        return super().forward(maps[0], maps[-1])


DECODERS = ("lraspp", "aspp", "unet")


def make_decoder(kind: str, channels: list[int], num_classes: int) -> nn.Module:
    """A decoder from the three maps' channels to class logits at stride 8."""
    if kind == "lraspp":
        return _LRASPPMaps(channels[0], channels[-1], num_classes)
    if kind == "aspp":
        return ASPP(channels, num_classes)
    if kind == "unet":
        return UNetDecoder(channels, num_classes)
    raise ValueError(f"decoder {kind!r}: choose from {', '.join(DECODERS)}")


class SegmentationModel(DenseModel):
    """backbone (no classifier) + decoder; forward: normalised images [B, 3, H, W] -> logits [B, K, H, W]."""

    head_names = ("decoder",)

    def __init__(self, backbone: ImageBackbone, num_classes: int, decoder: str = "lraspp"):
        super().__init__()
        backbone.reset_head(0)  # the classifier is not used: the maps are
        self.backbone = backbone
        self.decoder = make_decoder(decoder, backbone.map_channels(), num_classes)
        self.num_classes, self.kind = num_classes, decoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.decoder(self.backbone.forward_maps(x))
        return F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)


def save_segmentation_model(model: SegmentationModel, directory: Path, label_names: Sequence[str]) -> None:
    save_weights(model, directory, SEGMENTATION_FILE, {"backbone": model.name, "decoder": model.kind,
                                                       "label_names": list(label_names),
                                                       "input_spec": model.input_spec.to_dict(),
                                                       "drop_rate": model.backbone.drop_rate})


def load_segmentation_model(folder: Path) -> tuple[SegmentationModel, list[str]]:
    doc = read_doc(folder, SEGMENTATION_FILE)
    model = SegmentationModel(dense_backbone(doc), len(doc["label_names"]), doc.get("decoder", "lraspp"))
    return load_weights_into(model, folder, "segmenter"), list(doc["label_names"])
