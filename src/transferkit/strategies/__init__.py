"""Fine-tuning strategies: which parameters of a pretrained model train, and how fast.

Each strategy is one small class in its own module, registered by name:

    @STRATEGIES.register("head-only")
    class HeadOnly(Strategy): ...

plus its module in the registry's built-ins below. The training loop calls `prepare` once
before training, `param_groups` to build the optimizer, `update` before every optimizer step
(gradual unfreezing changes the trainable set over time) and `export` on the trained model
(LoRA merges its adapters into plain weights there). A strategy's own settings (`--top-k`,
`--lora-r`) are its `Options`. Importing this package loads no torch.
"""

from __future__ import annotations

from ..registry import Registry
from .base import Strategy

STRATEGIES: Registry[type[Strategy]] = Registry(
    "strategy", builtins=tuple(f"{__name__}.{m}" for m in ("full", "head_only", "top_k", "gradual_unfreeze", "llrd",
                                                            "lora")))
register_strategy = STRATEGIES.register


def get_strategy(name: str) -> type[Strategy]:
    return STRATEGIES.get(name)


__all__ = ["STRATEGIES", "Strategy", "get_strategy", "register_strategy"]
