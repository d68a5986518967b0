"""The Strategy interface, with full fine-tuning as its behaviour."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ConfigError
from ..settings import NoSettings, Settings

if TYPE_CHECKING:
    from torch import nn


class Strategy:
    """Full fine-tuning behaviour; subclasses override the steps they change.

    The constructor only stores the run's settings (a FinetuneConfig).
    """

    name = "full"
    Options: type[Settings] = NoSettings  # the strategy's own settings
    applies_llrd = True  # whether --llrd (layer-wise LR decay) can combine with it
    # True when `update` changes requires_grad during training (DDP must then look for unused
    # parameters, since a frozen block produces no gradient to reduce).
    changes_trainable = False
    # The default learning rate is multiplied by this when the user gives none: a strategy that
    # trains few weights (a head, low-rank adapters) needs larger steps (benchmarks/defaults.py).
    default_lr_scale = 1.0

    def __init__(self, config):
        self.config = config

    def check_config(self) -> None:
        """Reject settings that contradict this strategy, before any work."""
        if getattr(self.config, "llrd", None) is not None and not self.applies_llrd:
            raise ConfigError(f"llrd: layer-wise LR decay does not apply to strategy {self.name!r}")

    def prepare(self, model: nn.Module) -> nn.Module:
        """Freeze or wrap the freshly built model; returns the model to train."""
        return model

    def llrd_factor(self) -> float | None:
        return self.config.llrd

    def lr_scales(self, model: nn.Module) -> dict[str, float]:
        """LR multiplier per parameter name: layer-wise decay if set, and the head's own LR."""
        from .layers import layer_groups, llrd_scales

        cfg, factor = self.config, self.llrd_factor()
        if factor is None and cfg.head_lr is None:
            return {}
        groups = layer_groups(model)
        scales = llrd_scales(groups, factor) if factor is not None else {}
        if cfg.head_lr is not None:
            scales.update({name: cfg.head_lr / cfg.lr for name in groups.head})
        return scales

    def param_groups(self, model: nn.Module) -> list[dict]:
        from ..engine.optim import param_groups

        cfg = self.config
        return param_groups(model, cfg.lr, cfg.weight_decay, self.lr_scales(model))

    def update(self, model: nn.Module, epoch: int, step: int) -> None:
        """Called before each optimizer step with the 0-based epoch and completed steps."""

    def export(self, model: nn.Module) -> nn.Module:
        """The plain model to save and serve."""
        return model
