"""Loading Hugging Face model folders as trainable models, for every modality: a pretrained
model with a new task head, a fine-tuned one reloaded, and the one-line errors a bad folder gets.
(Tokenizers and text batches live in text/hf.py; audio feature extractors in audio/.)
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
