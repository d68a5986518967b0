"""VGG-16 (Simonyan & Zisserman 2015), with and without batch norm, in torchvision's layout.

The parameter names are exactly torchvision's (`features.<i>`, `classifier.0/3/6`), so a
torchvision state dict loads with strict=True (`--weights FILE`). The pooled features are the
4,096 outputs of the second fully connected layer (ImageNet-trained in torchvision's weights);
`classifier.6` is the head. Dense tasks read the convolutional maps (`forward_maps`).

`vgg-16-mri` is the convolutional base alone (13 convolutions, torchvision's `features.<i>`
names) with global average pooling (512 features) and one linear head, `classifier`: the
packaged weights (sources/onnx_vgg.py) are a Keras VGG16 base, which has no ImageNet FC layers.
"""

from __future__ import annotations

import torch
from torch import nn

from .backbone import ImageBackbone, InputSpec, LayerGroup, group_of
from .backbones import register_backbone

VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


def make_layers(config, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    channels = 3
    for v in config:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
            continue
        layers.append(nn.Conv2d(channels, v, 3, padding=1))
        layers += [nn.BatchNorm2d(v), nn.ReLU(inplace=True)] if batch_norm else [nn.ReLU(inplace=True)]
        channels = v
    return nn.Sequential(*layers)


class VGG(ImageBackbone):
    architecture = "VGG-16"
    _head_path = "classifier.6"
    _first_conv = "features.0"

    def __init__(self, *, name: str, batch_norm: bool, fc: bool = True, num_classes: int = 1000,
                 drop_rate: float = 0.0, input_spec: InputSpec | None = None) -> None:
        super().__init__(name=name, input_spec=input_spec, drop_rate=drop_rate)
        self.architecture = ("VGG-16-BN" if batch_norm else "VGG-16") + ("" if fc else " conv base")
        self.features = make_layers(VGG16, batch_norm)
        self.fc = fc
        if fc:
            self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
            self.num_features = 4096
            self.classifier = nn.Sequential(nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
                                            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
                                            nn.Linear(4096, num_classes))
        else:  # global average pooling over the last map, one linear head
            self._head_path = "classifier"
            self.num_features = 512
            self.classifier = nn.Linear(512, num_classes)
        self.num_classes = num_classes
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The 4,096 outputs of the second fully connected layer (what torchvision's head reads);
        the conv base alone: the last map, average-pooled."""
        if not self.fc:
            return super().forward_features(x)
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.classifier[:6](x)

    def steps(self) -> list:
        return list(self.features)

    def _groups(self) -> list[LayerGroup]:
        blocks, current = [], []
        for module in self.features:
            current.append(module)
            if isinstance(module, nn.MaxPool2d):
                blocks.append(current)
                current = []
        groups = [LayerGroup("stem" if i == 0 else f"block{i + 1}",
                             group_of(*[m for m in block if any(True for _ in m.parameters())]))
                  for i, block in enumerate(blocks)]
        return [*groups, LayerGroup("fc", group_of(self.classifier[0], self.classifier[3]))] if self.fc else groups


@register_backbone("vgg-16")
def vgg16(**kwargs) -> VGG:
    return VGG(name="vgg-16", batch_norm=False, **kwargs)


@register_backbone("vgg-16-bn")
def vgg16_bn(**kwargs) -> VGG:
    return VGG(name="vgg-16-bn", batch_norm=True, **kwargs)


@register_backbone("vgg-16-mri", weights="vgg-16-mri")
def vgg16_mri(**kwargs) -> VGG:
    return VGG(name="vgg-16-mri", batch_norm=False, fc=False, **kwargs)
