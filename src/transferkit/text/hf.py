"""Hugging Face text models: a pretrained encoder with a new task head, saved and reloaded as a
plain Hugging Face folder (config with the label names, safetensors weights, tokenizer).

The text tasks differ only in the Auto class (sequence vs token classification); everything
they share about transformers lives here once.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator, Sequence

from ..errors import ConfigError, ModelSourceError


@contextlib.contextmanager
def loading(folder: Path, what: str = "model") -> Iterator[None]:
    """Loading a model folder is reading the user's files: whatever transformers, safetensors or
    torch raise about them becomes one line naming the folder and what to do."""
    try:
        yield
    except (ConfigError, ModelSourceError):
        raise
    except Exception as e:  # the libraries raise many kinds for a bad folder
        raise ModelSourceError(describe_load_error(folder, what, e)) from e


def describe_load_error(folder: Path, what: str, error: BaseException) -> str:
    text = str(error).strip()
    first = text.splitlines()[0][:200] if text else type(error).__name__
    if "Weights only load failed" in text or type(error).__name__ == "UnpicklingError":
        return (f"{folder}: unsafe pickle refused (its pickled weights reference code, which transferkit never runs); "
                "convert the weights to safetensors (model.safetensors) and try again")
    if "trust_remote_code" in text or "custom code" in text:
        return (f"{folder}: this {what} needs custom code from the model's authors, and transferkit never runs it; use "
                "a model whose architecture transformers ships (BERT, RoBERTa, DeBERTa, MPNet, ...)")
    if any(word in text for word in ("deserializing", "header", "incomplete", "truncated", "unexpected EOF")):
        return f"{folder}: the {what} files are damaged or incomplete ({first}); pull or copy the model again"
    return f"{folder}: cannot load the {what} ({first}); check that it is a complete Hugging Face model folder"


def load_tokenizer(folder: Path, *, need_fast: str | None = None):
    """The folder's tokenizer; `need_fast` names why a fast (Rust) tokenizer is required."""
    from transformers import AutoTokenizer

    with loading(folder, "tokenizer"):
        tokenizer = AutoTokenizer.from_pretrained(folder)
    if need_fast and not getattr(tokenizer, "is_fast", False):
        raise ConfigError(f"invalid model: {folder} has no fast tokenizer (tokenizer.json); {need_fast}")
    return tokenizer


def with_new_head(auto_class, folder: Path, label_names: Sequence[str], dropout: float | None = None):
    """A pretrained encoder from `folder` with a freshly initialised head over `label_names`;
    `dropout` replaces every dropout probability of the config when given."""
    import torch
    from transformers import AutoConfig

    from ..progress import quiet_transformers

    quiet_transformers()  # the "newly initialized head" notice is the expected state here
    names = list(label_names)
    with loading(folder):
        config = AutoConfig.from_pretrained(folder, num_labels=len(names), id2label=dict(enumerate(names)),
                                            label2id={n: i for i, n in enumerate(names)})
        if dropout is not None:
            set_dropout(config, dropout)
        return auto_class.from_pretrained(folder, config=config, dtype=torch.float32)


def set_dropout(config, dropout: float) -> None:
    """Replace every dropout probability of a transformers config."""
    for key, value in config.to_dict().items():
        if "dropout" in key and (value is None or isinstance(value, float)):
            setattr(config, key, dropout)


def load_trained(auto_class, folder: Path):
    """A fine-tuned model saved by `save` (fp32, eval mode)."""
    import torch

    from ..progress import quiet_transformers

    quiet_transformers()
    with loading(folder):
        return auto_class.from_pretrained(folder, dtype=torch.float32).eval()


def label_names_of(model) -> list[str]:
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


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
