"""MobileNetV2 (Sandler et al. 2018) with torchvision's module layout.

The parameter names are exactly torchvision's (`features.<i>...`, `classifier.1`), so the
packaged `mobilenet_v2-b0353104.pth` state dict loads with strict=True and gives torchvision's
ImageNet outputs, without torchvision being installed.
"""

from __future__ import annotations

from torch import nn

from .backbone import ImageBackbone, InputSpec, LayerGroup, group_of, make_divisible
from .backbones import register_backbone

# (expansion t, output channels c, repeats n, first stride s) per stage, as in the paper's Table 2.
STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


class ConvBNReLU(nn.Sequential):
    """torchvision's Conv2dNormActivation: conv (no bias) -> BatchNorm -> ReLU6, 'same' padding."""

    def __init__(self, inp: int, out: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> None:
        super().__init__(nn.Conv2d(inp, out, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(out), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp: int, out: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = int(round(inp * expand))
        self.use_res_connect = stride == 1 and inp == out
        layers: list[nn.Module] = [ConvBNReLU(inp, hidden, kernel=1)] if expand != 1 else []
        layers += [ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, out, 1, bias=False), nn.BatchNorm2d(out)]  # linear bottleneck
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(ImageBackbone):
    architecture = "MobileNetV2"
    _head_path = "classifier.1"
    _first_conv = "features.0.0"

    def __init__(self, *, name: str = "mobilenet-v2", num_classes: int = 1000, width: float = 1.0,
                 drop_rate: float = 0.2, input_spec: InputSpec | None = None) -> None:
        super().__init__(name=name, input_spec=input_spec, drop_rate=drop_rate)
        channels = make_divisible(32 * width)
        self.num_features = make_divisible(1280 * max(1.0, width))
        features: list[nn.Module] = [ConvBNReLU(3, channels, stride=2)]
        self._stage_ends = []  # index into `features` after each stage, for layer groups
        for t, c, n, s in STAGES:
            out = make_divisible(c * width)
            for i in range(n):
                features.append(InvertedResidual(channels, out, s if i == 0 else 1, t))
                channels = out
            self._stage_ends.append(len(features))
        features.append(ConvBNReLU(channels, self.num_features, kernel=1))
        self.features = nn.Sequential(*features)
        # Dropout lives in forward_head (drop_rate); this Dropout keeps torchvision's indices.
        self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(self.num_features, num_classes))
        self.num_classes = num_classes
        self._init_weights()

    def _init_weights(self) -> None:  # torchvision's initialisation (matters for training from scratch)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def steps(self) -> list:
        return list(self.features)

    def _groups(self) -> list[LayerGroup]:
        groups, start = [LayerGroup("stem", self.features[0])], 1
        for i, end in enumerate(self._stage_ends, start=1):
            groups.append(LayerGroup(f"stage{i}", group_of(*self.features[start:end])))
            start = end
        groups.append(LayerGroup("conv_head", self.features[-1]))
        return groups


@register_backbone("mobilenet-v2", weights="mobilenet-v2")
def mobilenet_v2(**kwargs) -> MobileNetV2:
    return MobileNetV2(name="mobilenet-v2", **kwargs)
