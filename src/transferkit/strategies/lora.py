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


def head_modules(model) -> tuple[list[str], list[str]]:
    """(module paths that hold the head's parameters: `classifier`, `bert.pooler`, ...; head
    parameters to train directly). A module that contains a weight tied to the input embeddings
    (a language model's decoder) is not copied whole: peft would train an untied copy of the
    embeddings that saving ties back, so its own parameters (the decoder bias) train in place
    and its sub-modules (the MLM transform) are kept as copies."""
    prefix = getattr(model, "base_model_prefix", "")
    try:
        embeddings = model.get_input_embeddings()
    except (AttributeError, NotImplementedError):  # speech encoders read waves or spectrograms: no embedding table
        embeddings = None
    tied = {id(p) for p in embeddings.parameters()} if embeddings is not None else set()

    def holds_tied(path: str) -> bool:
        return any(id(p) in tied for p in model.get_submodule(path).parameters())

    modules, direct = [], []
    for name in layer_groups(model).head:
        parts = name.split(".")
        depth = 2 if parts[0] == prefix else 1
        while depth < len(parts) - 1 and holds_tied(".".join(parts[:depth])):
            depth += 1
        module = ".".join(parts[:depth])
        if depth == len(parts) - 1 and holds_tied(module) or depth == len(parts):
            direct.append(name)
        elif module not in modules:
            modules.append(module)
    return modules, direct


def default_targets(model) -> list[str] | None:
    """None where peft knows the architecture; else the attention's query and value projections
    by their common names (Whisper's and Wav2Vec2's q_proj/v_proj, which peft has no entry for)."""
    from peft.utils.constants import TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING as KNOWN

    if getattr(model.config, "model_type", None) in KNOWN:
        return None
    leaves = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    for names in (["q_proj", "v_proj"], ["query", "value"]):
        if set(names) <= leaves:
            return names
    return None


@STRATEGIES.register("lora")
class LoRA(Strategy):
    Options = LoRAOptions
    applies_llrd = False  # the encoder's weights are frozen: there is no depth to decay over
    default_lr_scale = 5.0  # low-rank adapters start at zero: benchmarks/defaults.py, strategy group

    def prepare(self, model):
        from peft import LoraConfig, TaskType, get_peft_model

        cfg = self.config
        # peft's wrapper class follows the task type; a per-token head needs the token one.
        kind = type(model).__name__
        task_type = TaskType.TOKEN_CLS if kind.endswith("ForTokenClassification") else \
            TaskType.SEQ_CLS if kind.endswith("ForSequenceClassification") else None
        copied, direct = head_modules(model)
        lora = LoraConfig(
            task_type=task_type,
            modules_to_save=copied,
            r=cfg.lora_r,
            lora_alpha=cfg.lora_alpha,
            lora_dropout=cfg.lora_dropout,
            target_modules=cfg.lora_target_modules or default_targets(model),
        )
        with warnings.catch_warnings():
            # peft still calls transformers' deprecated is_gradient_checkpointing: not the user's concern
            warnings.simplefilter("ignore", FutureWarning)
            wrapped = get_peft_model(model, lora)
        params = dict(wrapped.named_parameters())
        for name in direct:
            params[f"base_model.model.{name}"].requires_grad_(True)
        return wrapped

    def lr_scales(self, model):
        cfg = self.config
        if cfg.head_lr is None:
            return {}
        return {name: cfg.head_lr / cfg.lr for name, _ in model.named_parameters() if "modules_to_save" in name}

    def export(self, model):
        return model.merge_and_unload() if hasattr(model, "merge_and_unload") else model
