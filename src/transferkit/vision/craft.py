"""CRAFT (Baek et al., "Character Region Awareness for Text Detection", CVPR 2019): a pretrained
text detector, predicting through the detection task like any detection run.

The network is clovaai/CRAFT-pytorch's, with its parameter names, so its published checkpoint
(`craft_mlt_25k.pth`, trained on SynthText, ICDAR 2013 and ICDAR 2017 MLT; MIT) loads with
strict=True: a VGG16-BN body cut into slices at torchvision's indices (its 12 first convolutions;
conv5_3 is replaced by CRAFT's pooling + dilated fc6 + fc7), a U-Net-style decoder of four
`double_conv` blocks, and a head giving two maps at half the input's resolution: the region score
(how central to a character a pixel is) and the affinity score (how central to the gap between two
characters of one word). Boxes come from CRAFT's own post-processing: pixels above `low_text` in
the region map or above `link_threshold` in the affinity map, joined into connected components
(scipy.ndimage), each kept when its peak region score reaches `text_threshold`, dilated in
proportion to its size, and boxed (axis-aligned). Score of a box: its peak region score.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .spec import InputSpec
from .vgg import VGG16, make_layers

TEXT_THRESHOLD, LINK_THRESHOLD, LOW_TEXT = 0.7, 0.4, 0.4  # CRAFT's defaults
SLICES = ((0, 12), (12, 19), (19, 29), (29, 39))  # torchvision vgg16_bn feature indices, CRAFT's cut


class _VGGSlices(nn.Module):
    def __init__(self):
        super().__init__()
        features = list(make_layers(VGG16, batch_norm=True))
        for n, (start, stop) in enumerate(SLICES, 1):
            part = nn.Sequential()
            for i in range(start, stop):
                part.add_module(str(i), features[i])
            setattr(self, f"slice{n}", part)
        self.slice5 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(512, 1024, 3, padding=6, dilation=6),
                                    nn.Conv2d(1024, 1024, 1))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for n in range(1, 6):
            x = getattr(self, f"slice{n}")(x)
            out.append(x)
        return out[::-1]  # fc7, conv5, conv4, conv3, conv2


class _DoubleConv(nn.Module):
    def __init__(self, cin: int, mid: int, cout: int):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin + mid, mid, 1), nn.BatchNorm2d(mid), nn.ReLU(inplace=True),
                                  nn.Conv2d(mid, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class CRAFT(nn.Module):
    """forward: normalised images [B, 3, H, W] (sides multiples of 32) -> region and affinity
    scores [B, 2, H/2, W/2] (sigmoid-free, as published: already in [0, 1] after training)."""

    name = "craft-mlt"

    def __init__(self, input_spec: InputSpec | None = None):
        super().__init__()
        self.basenet = _VGGSlices()
        self.upconv1, self.upconv2 = _DoubleConv(1024, 512, 256), _DoubleConv(512, 256, 128)
        self.upconv3, self.upconv4 = _DoubleConv(256, 128, 64), _DoubleConv(128, 64, 32)
        self.conv_cls = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(32, 16, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv2d(16, 16, 1), nn.ReLU(inplace=True), nn.Conv2d(16, 2, 1))
        self.input_spec = input_spec or InputSpec(image_size=640, resize_size=640)
        self.num_classes = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        fc7, c5, c4, c3, c2 = self.basenet(x)
        y = self.upconv1(torch.cat([fc7, c5], 1))
        for block, skip in ((self.upconv2, c4), (self.upconv3, c3), (self.upconv4, c2)):
            y = F.interpolate(y, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            y = block(torch.cat([y, skip], 1))
        return self.conv_cls(y)

    def detect(self, x: torch.Tensor, max_detections: int) -> torch.Tensor:
        """[B, max_detections, 6] (x1, y1, x2, y2, score, class 0) in the input's pixels, best first."""
        maps = self(x).detach().float().cpu().numpy()
        out = torch.zeros(len(x), max_detections, 6)
        out[..., 5] = -1
        scale = x.shape[-1] / maps.shape[-1]
        for i, (region, link) in enumerate(maps):
            found = text_boxes(region, link)[:max_detections]
            if len(found):
                rows = torch.from_numpy(found).float()
                rows[:, :4] *= scale
                out[i, :len(rows), :5], out[i, :len(rows), 5] = rows, 0
        return out.to(x.device)

    def layer_group_names(self) -> list[list[str]]:
        return [[n for n, _ in self.named_parameters()]]


def text_boxes(region: np.ndarray, link: np.ndarray, text_threshold: float = TEXT_THRESHOLD,
               link_threshold: float = LINK_THRESHOLD, low_text: float = LOW_TEXT) -> np.ndarray:
    """CRAFT's word boxes from its two score maps [h, w]: [n, 5] (x1, y1, x2, y2, score), best first."""
    from scipy import ndimage

    text, joint = region > low_text, link > link_threshold
    labels, count = ndimage.label(text | joint)
    h, w = region.shape
    rows = []
    for k, where in enumerate(ndimage.find_objects(labels), 1):
        if where is None:
            continue
        component = labels[where] == k
        size = int(component.sum())
        peak = float(region[where][component].max())
        if size < 10 or peak < text_threshold:
            continue
        segment = component & ~(joint[where] & ~text[where])  # affinity-only pixels do not widen the box
        ys, xs = np.nonzero(segment)
        if len(xs) == 0:
            continue
        bh, bw = component.shape
        # CRAFT dilates by a (1 + niter) kernel, niter growing with the word: niter / 2 on each side
        grow = int(math.sqrt(size * min(bw, bh) / (bw * bh)) * 2) // 2
        x1, y1 = where[1].start + xs.min() - grow, where[0].start + ys.min() - grow
        x2, y2 = where[1].start + xs.max() + 1 + grow, where[0].start + ys.max() + 1 + grow
        rows.append((max(x1, 0), max(y1, 0), min(x2, w), min(y2, h), peak))
    rows.sort(key=lambda r: -r[4])
    return np.asarray(rows, dtype=np.float32).reshape(-1, 5)


def convert_checkpoint(state: dict) -> dict:
    """The published checkpoint (saved from nn.DataParallel: keys prefixed `module.`) as this module's state dict."""
    return {k.removeprefix("module."): v for k, v in state.items()}
