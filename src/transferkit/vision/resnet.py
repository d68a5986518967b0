"""ResNet-18/34/50 (He et al. 2016) with torchvision's module layout.

The parameter names are exactly torchvision's (`conv1`, `bn1`, `layer<i>.<j>.conv1`, ...,
`downsample.0/1`, `fc`; ResNet-50 is v1.5, the stride on the 3x3 conv), so a torchvision
state dict loads with strict=True (`--weights FILE`). No ResNet weights ship on the package
index that we know of: without a file they train from random init (`pretrained=False`).
"""

from __future__ import annotations

from torch import nn

from .backbone import ImageBackbone, InputSpec, LayerGroup, group_of
from .backbones import register_backbone


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inp: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inp, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (self.downsample(x) if self.downsample is not None else x))


class ResNet(ImageBackbone):
    architecture = "ResNet"
    _head_path = "fc"
    _first_conv = "conv1"

    def __init__(self, block: type[BasicBlock | Bottleneck], layers: tuple[int, int, int, int], *, name: str,
                 num_classes: int = 1000, drop_rate: float = 0.0, input_spec: InputSpec | None = None) -> None:
        super().__init__(name=name, input_spec=input_spec, drop_rate=drop_rate)
        self.architecture = f"ResNet-{name.rsplit('-', 1)[-1]}"
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self._inp = 64
        self.layer1 = self._make_layer(block, 64, layers[0], 1)
        self.layer2 = self._make_layer(block, 128, layers[1], 2)
        self.layer3 = self._make_layer(block, 256, layers[2], 2)
        self.layer4 = self._make_layer(block, 512, layers[3], 2)
        self.num_features = 512 * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        self.num_classes = num_classes
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def _make_layer(self, block, planes: int, blocks: int, stride: int) -> nn.Sequential:
        downsample = None
        if stride != 1 or self._inp != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self._inp, planes * block.expansion, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self._inp, planes, stride, downsample)]
        self._inp = planes * block.expansion
        layers += [block(self._inp, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _stem(self, x):
        return self.maxpool(self.relu(self.bn1(self.conv1(x))))

    def steps(self) -> list:
        return [self._stem, self.layer1, self.layer2, self.layer3, self.layer4]

    def _groups(self) -> list[LayerGroup]:
        return [LayerGroup("stem", group_of(self.conv1, self.bn1)),
                *(LayerGroup(f"stage{i}", getattr(self, f"layer{i}")) for i in range(1, 5))]


@register_backbone("resnet-18")
def resnet18(**kwargs) -> ResNet:
    return ResNet(BasicBlock, (2, 2, 2, 2), name="resnet-18", **kwargs)


@register_backbone("resnet-34")
def resnet34(**kwargs) -> ResNet:
    return ResNet(BasicBlock, (3, 4, 6, 3), name="resnet-34", **kwargs)


@register_backbone("resnet-50")
def resnet50(**kwargs) -> ResNet:
    return ResNet(Bottleneck, (3, 4, 6, 3), name="resnet-50", **kwargs)
