"""Hugging Face text models: a pretrained encoder with a new task head, saved and reloaded as a
plain Hugging Face folder (config with the label names, safetensors weights, tokenizer).

The text tasks differ only in the Auto class (sequence vs token classification); everything
they share about transformers lives here once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..errors import ConfigError


def load_tokenizer(folder: Path, *, need_fast: str | None = None):
    """The folder's tokenizer; `need_fast` names why a fast (Rust) tokenizer is required."""
    from transformers import AutoTokenizer

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
    config = AutoConfig.from_pretrained(folder, num_labels=len(names), id2label=dict(enumerate(names)),
                                        label2id={n: i for i, n in enumerate(names)})
    if dropout is not None:
        for key, value in config.to_dict().items():
            if "dropout" in key and (value is None or isinstance(value, float)):
                setattr(config, key, dropout)
    return auto_class.from_pretrained(folder, config=config, dtype=torch.float32)


def load_trained(auto_class, folder: Path):
    """A fine-tuned model saved by `save` (fp32, eval mode)."""
    import torch

    from ..progress import quiet_transformers

    quiet_transformers()
    return auto_class.from_pretrained(folder, dtype=torch.float32).eval()


def label_names_of(model) -> list[str]:
    id2label = model.config.id2label
    return [id2label[i] for i in range(len(id2label))]


def save(model, tokenizer, directory: Path) -> None:
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def forward(model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
    """Model outputs with `.logits` (and `.hidden_states` / `.attentions` when asked)."""
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                 output_hidden_states=hidden_states, output_attentions=attentions)
