"""EfficientNet-Lite0..2 (TF's mobile variants) with the efficientnet_pytorch module names.

The packaged weights are a port of the TF checkpoints that keeps lukemelas/efficientnet_pytorch's
names (`_conv_stem`, `_blocks.<i>._expand_conv`, `_bn0`, `_fc`, ...), so they load with strict=True.
Lite differs from EfficientNet-B*: no squeeze-excitation, ReLU6 instead of swish, and a fixed stem
(32) and head (1280) with the first and last stage never repeated more. Two TF details matter for
exact outputs: BatchNorm eps 1e-3 and TF "SAME" padding (asymmetric for stride 2: the extra pixel
goes right/bottom), done here dynamically so any input size works.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .backbone import ImageBackbone, InputSpec, LayerGroup, group_of, make_divisible
from .backbones import register_backbone

# EfficientNet-B0's stages: (repeats, kernel, stride, expansion, in, out).
BASE_STAGES = ((1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
               (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320))
# name: (width multiplier, depth multiplier, dropout), from TF's efficientnet_lite_builder.
LITE_PARAMS = {"efficientnet-lite0": (1.0, 1.0, 0.2), "efficientnet-lite1": (1.0, 1.1, 0.2),
               "efficientnet-lite2": (1.1, 1.2, 0.3)}
BN = {"eps": 1e-3, "momentum": 0.01}  # TF's epsilon and decay 0.99


class SameConv2d(nn.Conv2d):
    """Conv2d with TF 'SAME' padding computed from the input size (the ported weights expect it)."""

    def forward(self, x):
        ih, iw = x.shape[-2:]
        (kh, kw), (sh, sw), (dh, dw) = self.kernel_size, self.stride, self.dilation
        ph = max((math.ceil(ih / sh) - 1) * sh + (kh - 1) * dh + 1 - ih, 0)
        pw = max((math.ceil(iw / sw) - 1) * sw + (kw - 1) * dw + 1 - iw, 0)
        if ph or pw:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return F.conv2d(x, self.weight, self.bias, self.stride, 0, self.dilation, self.groups)


def drop_path(x: torch.Tensor, rate: float, training: bool) -> torch.Tensor:
    """Stochastic depth: drop the whole residual branch per example (scaled to keep the mean)."""
    if not training or rate <= 0:
        return x
    keep = 1 - rate
    mask = x.new_empty((x.shape[0], 1, 1, 1)).bernoulli_(keep)
    return x * mask / keep


class MBConvBlock(nn.Module):
    def __init__(self, inp: int, out: int, kernel: int, stride: int, expand: int, drop_path_rate: float) -> None:
        super().__init__()
        hidden = inp * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = SameConv2d(inp, hidden, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(hidden, **BN)
        self._depthwise_conv = SameConv2d(hidden, hidden, kernel, stride, groups=hidden, bias=False)
        self._bn1 = nn.BatchNorm2d(hidden, **BN)
        self._project_conv = SameConv2d(hidden, out, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(out, **BN)
        self.residual = stride == 1 and inp == out
        self.drop_path_rate = drop_path_rate

    def forward(self, x):
        y = F.relu6(self._bn0(self._expand_conv(x))) if self.has_expand else x
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + drop_path(y, self.drop_path_rate, self.training) if self.residual else y


class EfficientNetLite(ImageBackbone):
    architecture = "EfficientNet-Lite"
    _head_path = "_fc"
    _first_conv = "_conv_stem"

    def __init__(self, *, name: str = "efficientnet-lite0", num_classes: int = 1000, drop_rate: float | None = None,
                 drop_path_rate: float = 0.0, input_spec: InputSpec | None = None) -> None:
        width, depth, default_drop = LITE_PARAMS[name]
        super().__init__(name=name, input_spec=input_spec, drop_rate=default_drop if drop_rate is None else drop_rate)
        self.architecture = f"EfficientNet-Lite{name[-1]}"
        self._conv_stem = SameConv2d(3, 32, 3, 2, bias=False)
        self._bn0 = nn.BatchNorm2d(32, **BN)
        specs = []
        for i, (repeats, kernel, stride, expand, inp, out) in enumerate(BASE_STAGES):
            fixed = i in (0, len(BASE_STAGES) - 1)  # Lite keeps the first and last stage at one block
            n = repeats if fixed else int(math.ceil(depth * repeats))
            inp, out = make_divisible(inp * width), make_divisible(out * width)
            specs += [(i, inp if j == 0 else out, out, kernel, stride if j == 0 else 1, expand) for j in range(n)]
        self._stage_of = [s[0] for s in specs]
        self._blocks = nn.ModuleList(
            MBConvBlock(inp, out, k, s, e, drop_path_rate * b / len(specs))  # deeper blocks drop more
            for b, (_, inp, out, k, s, e) in enumerate(specs))
        self.num_features = 1280
        self._conv_head = SameConv2d(specs[-1][2], self.num_features, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(self.num_features, **BN)
        self._fc = nn.Linear(self.num_features, num_classes)
        self.num_classes = num_classes
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.uniform_(m.weight, -1 / math.sqrt(m.out_features), 1 / math.sqrt(m.out_features))
                nn.init.zeros_(m.bias)

    def steps(self) -> list:
        return [lambda x: F.relu6(self._bn0(self._conv_stem(x))), *self._blocks,
                lambda x: F.relu6(self._bn1(self._conv_head(x)))]

    def _groups(self) -> list[LayerGroup]:
        groups = [LayerGroup("stem", group_of(self._conv_stem, self._bn0))]
        for stage in sorted(set(self._stage_of)):
            blocks = [b for b, s in zip(self._blocks, self._stage_of) if s == stage]
            groups.append(LayerGroup(f"stage{stage + 1}", group_of(*blocks)))
        groups.append(LayerGroup("conv_head", group_of(self._conv_head, self._bn1)))
        return groups


@register_backbone("efficientnet-lite0", weights="efficientnet-lite0")
def efficientnet_lite0(**kwargs) -> EfficientNetLite:
    return EfficientNetLite(name="efficientnet-lite0", **kwargs)


@register_backbone("efficientnet-lite2", weights="efficientnet-lite2")
def efficientnet_lite2(**kwargs) -> EfficientNetLite:
    return EfficientNetLite(name="efficientnet-lite2", **kwargs)
