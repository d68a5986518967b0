"""The one interface every image backbone obeys (native, or wrapped from timm).

    model = create_backbone("mobilenet-v2")           # ImageBackbone, eval-ready, ImageNet head
    feats = model.forward_features(x)                 # [B, num_features], pooled
    p3, p4, p5 = model.forward_maps(x)                # feature maps at strides 8, 16, 32
    logits = model(x)                                 # [B, num_classes]
    model.reset_head(10)                              # fresh nn.Linear(num_features, 10)
    for group in model.layer_groups(): ...            # stem, stages..., head conv, classifier

A subclass builds its modules with the upstream parameter names (so the original state dict
loads with strict=True) and implements `steps` (its convolutional body as callables in order)
plus the `_head_path` attribute naming its classifier Linear; the final map, the multi-scale
maps (`forward_maps`, strides 8/16/32), pooling, dropout, the head, `reset_head` and the config
live here once.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import nn

from .spec import IMAGENET_MEAN, IMAGENET_STD, InputSpec  # noqa: F401 - part of this module's interface

TIMM_PREFIX = "timm:"  # timm:NAME builds any timm model behind this interface (vision/timm.py)




class LayerGroup(NamedTuple):
    """One depth level of a backbone. `module` holds exactly the group's parameters (it may be a
    container made for the occasion: it is not registered in the backbone, the state dict is unchanged)."""

    name: str
    module: nn.Module


def group_of(*modules: nn.Module) -> nn.Module:
    """A container over existing modules (not registered anywhere) for a LayerGroup."""
    return modules[0] if len(modules) == 1 else nn.ModuleList(modules)


class ImageBackbone(nn.Module):
    """Base class: subclasses set `num_features`, `_head_path`, `input_spec` and build the layers."""

    architecture: str = ""
    num_features: int
    num_classes: int
    input_spec: InputSpec
    _head_path: str  # dotted path of the classifier Linear, e.g. "classifier.1" or "_fc"
    _first_conv: str
    min_input_size: int = 32  # smallest square input (px) the network reads

    def __init__(self, *, name: str, input_spec: InputSpec | None, drop_rate: float) -> None:
        super().__init__()
        self.name = name
        self.input_spec = input_spec or InputSpec()
        self.drop_rate = drop_rate
        self.pool = nn.AdaptiveAvgPool2d(1)

    # -- what subclasses provide -------------------------------------------------------------------
    def steps(self) -> list:
        """The convolutional body as callables applied in order (stem, blocks or stages, final conv)."""
        raise NotImplementedError

    def _groups(self) -> list[LayerGroup]:
        """Stem, stages, final conv (everything but the classifier), from input to output."""
        raise NotImplementedError

    # -- the uniform interface ---------------------------------------------------------------------
    def forward_map(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] normalised images -> the final (stride-32) feature map."""
        for step in self.steps():
            x = step(x)
        return x

    def forward_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps at strides 8, 16 and 32 (the deepest of each), what dense tasks (segmentation,
        detection) build on. The input's sides should be multiples of 32."""
        at = self.map_steps()
        if at is not None:
            maps = []
            for i, step in enumerate(self.steps()):
                x = step(x)
                if i in at:
                    maps.append(x)
            return maps
        side, found = x.shape[-1], {}
        for step in self.steps():
            x = step(x)
            found[max(1, round(side / x.shape[-1]))] = x
        missing = [s for s in (8, 16, 32) if s not in found]
        if missing:
            raise ValueError(f"{self.name}: a {side} px input gives no feature map at stride {missing[0]}; use a "
                             "multiple of 32 px")
        return [found[s] for s in (8, 16, 32)]

    def map_steps(self) -> list[int] | None:
        """Indices into `steps()` after which `forward_maps` takes its three maps; None: by stride."""
        return None

    def map_channels(self) -> list[int]:
        """Channels of the `forward_maps` outputs (from one small forward pass, cached)."""
        if getattr(self, "_map_channels", None) is None:
            was_training = self.training
            with torch.no_grad():
                self.eval()
                side = max(64, self.min_input_size)
                maps = self.forward_maps(torch.zeros(1, 3, side, side, device=next(self.parameters()).device))
            self.train(was_training)
            self._map_channels = [int(m.shape[1]) for m in maps]
        return self._map_channels

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> pooled features [B, num_features] (what a linear probe or a new head sees)."""
        return torch.flatten(self.pool(self.forward_map(x)), 1)

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        if self.drop_rate > 0:
            features = nn.functional.dropout(features, p=self.drop_rate, training=self.training)
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def train(self, mode: bool = True) -> ImageBackbone:
        """Like nn.Module.train, but a BatchNorm whose parameters are all frozen stays in eval mode:
        a frozen layer (head-only, top-k) must not drift its running statistics towards the new data."""
        super().train(mode)
        if mode:
            for module in self.modules():
                if isinstance(module, nn.modules.batchnorm._BatchNorm):
                    params = list(module.parameters(recurse=False))
                    if params and not any(p.requires_grad for p in params):
                        module.eval()
        return self

    @property
    def head(self) -> nn.Module:
        """The classifier: nn.Linear(num_features, num_classes), or nn.Identity when num_classes == 0."""
        return self.get_submodule(self._head_path)

    def reset_head(self, num_classes: int) -> nn.Module:
        """Replace the classifier by a freshly initialised one (num_classes=0: identity, logits = features)."""
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        new: nn.Module = nn.Linear(self.num_features, num_classes) if num_classes else nn.Identity()
        if isinstance(new, nn.Linear):
            nn.init.normal_(new.weight, std=0.01)
            nn.init.zeros_(new.bias)
        old = self.head
        if isinstance(old, nn.Linear):
            new = new.to(device=old.weight.device, dtype=old.weight.dtype)
        parent_path, _, attr = self._head_path.rpartition(".")
        parent = self.get_submodule(parent_path) if parent_path else self
        if isinstance(parent, nn.Sequential):
            parent[int(attr)] = new
        else:
            setattr(parent, attr, new)
        self.num_classes = num_classes
        return new

    def layer_groups(self) -> list[LayerGroup]:
        """Ordered module groups from input to output, the classifier last; every parameter is in
        exactly one group (used for freezing top-k, gradual unfreezing and layer-wise LR decay)."""
        return [*self._groups(), LayerGroup("head", self.head)]

    def layer_group_names(self) -> list[list[str]]:
        """The same groups as parameter names of this backbone (as in named_parameters())."""
        names = {id(p): n for n, p in self.named_parameters()}
        return [[names[id(p)] for p in group.module.parameters()] for group in self.layer_groups()]

    @property
    def default_cfg(self) -> dict[str, Any]:
        """timm-style description: input size, normalisation, classifier and first conv names."""
        spec = self.input_spec
        return {"name": self.name, "architecture": self.architecture, "num_classes": self.num_classes,
                "num_features": self.num_features, "input_size": (3, spec.image_size, spec.image_size),
                "resize_size": spec.resize_size, "crop_pct": round(spec.crop_pct, 4), "mean": spec.mean,
                "std": spec.std, "interpolation": spec.interpolation, "classifier": self._head_path,
                "first_conv": self._first_conv, "drop_rate": self.drop_rate,
                "layer_groups": [g.name for g in self.layer_groups()]}


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of `divisor`, never more than 10% down (TF/torchvision rule)."""
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


class DenseModel(nn.Module):
    """A backbone's maps through task modules (segmentation decoder, detection FPN + head): what
    those models share. `head_names`: the attributes that make the head for the strategies."""

    head_names: tuple[str, ...] = ()
    backbone: ImageBackbone

    @property
    def input_spec(self):
        return self.backbone.input_spec

    @property
    def name(self) -> str:
        return self.backbone.name

    def layer_group_names(self) -> list[list[str]]:
        """The backbone's groups (stem, stages), then the task modules as the head."""
        groups = [[f"backbone.{n}" for n in g] for g in self.backbone.layer_group_names()]
        groups = [g for g in groups if g]  # the identity classifier has no parameters
        return [*groups, [f"{h}.{n}" for h in self.head_names for n, _ in getattr(self, h).named_parameters()]]

    def train(self, mode: bool = True):
        super().train(mode)
        self.backbone.train(mode)  # keeps frozen BatchNorms in eval mode (ImageBackbone.train)
        return self
