"""Any timm model behind the ImageBackbone interface (`timm:NAME`), when timm is installed.

timm is an optional extra: its torchvision dependency is a CUDA build that breaks next to CPU
torch on these machines, so it is imported only when a timm: model is asked for.
"""

from __future__ import annotations

import importlib

from ..errors import ModelSourceError
from .backbone import TIMM_PREFIX, ImageBackbone, InputSpec, LayerGroup


def import_timm():
    try:
        return importlib.import_module("timm")
    except ImportError as e:  # torchvision missing or broken counts too: timm imports it
        raise ModelSourceError(f"timm: models need the timm package, which does not import here ({e}); "
                               "install timm, or use a packaged backbone (`transferkit models list`)") from None


class TimmBackbone(ImageBackbone):
    """Any timm model behind the same interface; its top-level children are the layer groups."""

    _first_conv = ""

    def __init__(self, model_name: str, *, pretrained: bool, num_classes: int | None, drop_rate: float | None):
        timm = import_timm()
        super().__init__(name=TIMM_PREFIX + model_name, input_spec=None, drop_rate=0.0)
        kwargs = {"drop_rate": drop_rate} if drop_rate is not None else {}
        self.model = timm.create_model(model_name, pretrained=pretrained, **kwargs)
        cfg = self.model.pretrained_cfg
        size = int(cfg.get("input_size", (3, 224, 224))[-1])
        self.input_spec = InputSpec(size, int(round(size / cfg.get("crop_pct", 0.875))), tuple(cfg["mean"]),
                                    tuple(cfg["std"]), str(cfg.get("interpolation", "bilinear")))
        self.architecture, self.num_features = model_name, self.model.num_features
        self._head_path = "model." + cfg.get("classifier", "fc")
        self.num_classes = self.model.num_classes
        if num_classes is not None and num_classes != self.num_classes:
            self.reset_head(num_classes)

    def forward_features(self, x):
        # timm pools its own way (tokens for ViTs, average for CNNs); pre_logits stops before the head.
        return self.model.forward_head(self.model.forward_features(x), pre_logits=True)

    def forward_head(self, features):
        return self.head(features)

    def _groups(self) -> list[LayerGroup]:
        head = self._head_path[len("model."):].split(".")[0]
        return [LayerGroup(n, m) for n, m in self.model.named_children() if n != head and any(True for _ in m.parameters())]
