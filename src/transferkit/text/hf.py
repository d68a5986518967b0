"""Hugging Face text models: a pretrained encoder with a new task head, saved and reloaded as a
plain Hugging Face folder (config with the label names, safetensors weights, tokenizer).

The text tasks differ only in the Auto class (sequence vs token classification); everything
they share about transformers lives here once (model loading itself is sources/hf_models.py,
shared with the other modalities).
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from ..sources.hf_models import (  # noqa: F401 - the text tasks reach these through this module
    describe_load_error,
    label_names_of,
    load_trained,
    loading,
    set_dropout,
    with_new_head,
)


def load_tokenizer(folder: Path, *, need_fast: str | None = None):
    """The folder's tokenizer; `need_fast` names why a fast (Rust) tokenizer is required."""
    from transformers import AutoTokenizer

    with loading(folder, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if need_fast and not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"invalid model: {folder} has no fast tokenizer (tokenizer.json); {need_fast}")
    return tokenizer


def save(model, tokenizer, directory: Path) -> None:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def forward(model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
    """Model outputs with `.logits` (and `.hidden_states` / `.attentions` when asked)."""
    extra = {"token_type_ids": batch["token_type_ids"]} if "token_type_ids" in batch else {}
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], **extra,
                 output_hidden_states=hidden_states, output_attentions=attentions)


def position_limit(config) -> int | None:
    """The longest input (in tokens) the encoder's position embeddings cover; `config` is a
    transformers config or its config.json as a dict. RoBERTa-style models reserve two positions."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    limit = get("max_position_embeddings")
    if not isinstance(limit, int) or get("position_embedding_type", "absolute") not in ("absolute", None):
        return None
    return limit - 2 if get("model_type") in ("roberta", "xlm-roberta", "camembert", "longformer") else limit


def capped_length(configured: int, limit: int | None) -> int:
    """max_length, cut to what the model can read (a longer setting would crash its position lookup)."""
    return min(configured, limit) if limit else configured
