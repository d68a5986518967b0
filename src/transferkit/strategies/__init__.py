"""Fine-tuning strategies: which parameters of a pretrained model train, and how fast.

Each strategy is one small class in its own module, registered by name:

    @register_strategy("head-only")
    class HeadOnly(Strategy): ...

The training loop calls `prepare` once before training, `param_groups` to build the optimizer,
`update` before every optimizer step (gradual unfreezing changes the trainable set over time)
and `export` on the trained model (LoRA merges its adapters into plain weights there).
"""

from __future__ import annotations

import importlib

from torch import nn

from ..engine.optim import param_groups
from ..errors import ConfigError
from .layers import layer_groups, llrd_scales

STRATEGIES: dict[str, type["Strategy"]] = {}
_BUILTIN_MODULES = ("full", "head_only", "top_k", "gradual_unfreeze", "llrd", "lora")


def register_strategy(name: str):
    def deco(cls):
        cls.name = name
        STRATEGIES[name] = cls
        return cls
    return deco


def get_strategy(name: str) -> type["Strategy"]:
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    if name not in STRATEGIES:
        raise ConfigError(f"invalid strategy: {name!r}; choose from {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


class Strategy:
    """Full fine-tuning behaviour; subclasses override the steps they change.

    The constructor only stores the run's settings (a FinetuneConfig).
    """

    name = "full"
    # True when `update` changes requires_grad during training (DDP must then look for unused
    # parameters, since a frozen block produces no gradient to reduce).
    changes_trainable = False

    def __init__(self, config):
        self.config = config

    def prepare(self, model: nn.Module) -> nn.Module:
        """Freeze or wrap the freshly built model; returns the model to train."""
        return model

    def llrd_factor(self) -> float | None:
        return self.config.llrd

    def lr_scales(self, model: nn.Module) -> dict[str, float]:
        """LR multiplier per parameter name: layer-wise decay if set, and the head's own LR."""
        cfg, factor = self.config, self.llrd_factor()
        if factor is None and cfg.head_lr is None:
            return {}
        groups = layer_groups(model)
        scales = llrd_scales(groups, factor) if factor is not None else {}
        if cfg.head_lr is not None:
            scales.update({name: cfg.head_lr / cfg.lr for name in groups.head})
        return scales

    def param_groups(self, model: nn.Module) -> list[dict]:
        cfg = self.config
        return param_groups(model, cfg.lr, cfg.weight_decay, self.lr_scales(model))

    def update(self, model: nn.Module, epoch: int, step: int) -> None:
        """Called before each optimizer step with the 0-based epoch and completed steps."""

    def export(self, model: nn.Module) -> nn.Module:
        """The plain model to save and serve."""
        return model
