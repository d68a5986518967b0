"""lora: low-rank adapters (peft) on the attention projections; the head trains fully.

The head is everything outside the encoder blocks: the classifier and, for BERT, the pooler
(sentence-transformers checkpoints often ship no pooler weights, so it starts random and must
train). peft keeps trainable copies of these modules (modules_to_save).

Only the adapters (r * (d_in + d_out) per adapted matrix) and the head train, so optimizer
memory and checkpoints are tiny and the encoder cannot forget. On export the adapters are
merged into the weights: the saved model is a plain Hugging Face model, no peft needed.
"""

import warnings
from typing import Any

from pydantic import Field, field_validator

from ..settings import Settings
from . import STRATEGIES
from .base import Strategy
from .layers import layer_groups


class LoRAOptions(Settings):
    lora_r: int = Field(8, ge=1, description="lora: adapter rank.")
    lora_alpha: float = Field(16.0, gt=0, description="lora: scaling alpha.")
    lora_dropout: float = Field(0.1, ge=0, lt=1, description="lora: dropout on the adapter input.")
    lora_target_modules: list[str] | None = Field(
        None, description="lora: module names to adapt, comma-separated (default per architecture, query,value for "
                          "BERT).")

    @field_validator("lora_target_modules", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def head_modules(model) -> list[str]:
    """Module paths that hold the head's parameters: `classifier`, `bert.pooler`, ..."""
    prefix = getattr(model, "base_model_prefix", "")
    modules = []
    for name in layer_groups(model).head:
        parts = name.split(".")
        module = ".".join(parts[:2]) if parts[0] == prefix else parts[0]
        if module not in modules:
            modules.append(module)
    return modules


@STRATEGIES.register("lora")
class LoRA(Strategy):
    Options = LoRAOptions
    applies_llrd = False  # the encoder's weights are frozen: there is no depth to decay over
    default_lr_scale = 5.0  # low-rank adapters start at zero: benchmarks/defaults.py, strategy group

    def prepare(self, model):
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = self.config
        # peft's wrapper class follows the task type; a per-token head needs the token one.
        token_head = type(model).__name__.endswith("ForTokenClassification")
        lora = LoraConfig(
            task_type=TaskType.TOKEN_CLS if token_head else TaskType.SEQ_CLS,
            modules_to_save=head_modules(model),
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target_modules,  # None: peft's default for the architecture
        )
        with warnings.catch_warnings():
            # peft still calls transformers' deprecated is_gradient_checkpointing: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            return get_peft_model(model, lora)

    def lr_scales(self, model):
        cfg = self.config
        if cfg.head_lr is None:
            return {}
        return {name: cfg.head_lr / cfg.lr for name, _ in model.named_parameters() if "modules_to_save" in name}

    def export(self, model):
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
