"""Students: a registry model, or a shallower copy of the teacher (`from-teacher:K`).

`from-teacher:3` keeps 3 of the teacher's transformer layers, evenly spaced and ending with its
last one (the layer whose output the teacher's head was trained on), plus its embeddings and
head: DistilBERT's initialisation, here from the fine-tuned teacher. The copy is an ordinary
model of the same class with `num_hidden_layers = K`, so it saves and reloads with plain
`transformers`.
"""

from __future__ import annotations

import re

from torch import nn

from ...errors import ConfigError

FROM_TEACHER = "from-teacher:"
_LAYER_LIST = re.compile(r"(^|\.)(layer|layers|h|block|blocks)$")


def parse_from_teacher(ref: str) -> int | None:
    """K of `from-teacher:K`, None for any other model reference."""
    if not ref.startswith(FROM_TEACHER):
        return None
    k = ref[len(FROM_TEACHER):]
    if not k.isdigit() or int(k) < 1:
        raise ConfigError(f"invalid student: {ref!r}; write from-teacher:K with K >= 1 layers, e.g. from-teacher:3")
    return int(k)


def kept_layers(total: int, keep: int) -> list[int]:
    """`keep` of `total` layer indices, evenly spaced and ending with the last: 6 -> 3 keeps 1, 3, 5."""
    return [round((i + 1) * total / keep) - 1 for i in range(keep)]


def transformer_layers(model: nn.Module) -> tuple[nn.Module, str, nn.ModuleList]:
    """(parent module, attribute, the ModuleList of transformer blocks) of a Hugging Face model."""
    found = [(name, module) for name, module in model.named_modules()
             if isinstance(module, nn.ModuleList) and _LAYER_LIST.search(name) and len(module) > 0]
    if not found:
        raise ConfigError(f"invalid student: from-teacher:K needs a transformer teacher; {type(model).__name__} has no "
                          "list of layers (pick a registry model as the student instead)")
    name, layers = min(found, key=lambda item: item[0].count("."))  # the outermost list: the encoder's
    parent_name, _, attr = name.rpartition(".")
    return model.get_submodule(parent_name) if parent_name else model, attr, layers


def shallow_copy(model: nn.Module, keep: int) -> nn.Module:
    """`model` itself, cut down to `keep` of its transformer layers (in place; returns it)."""
    parent, attr, layers = transformer_layers(model)
    if keep > len(layers):
        raise ConfigError(f"invalid student: from-teacher:{keep} keeps more layers than the teacher has ({len(layers)})")
    chosen = kept_layers(len(layers), keep)
    setattr(parent, attr, nn.ModuleList([layers[i] for i in chosen]))
    for new_index, block in enumerate(getattr(parent, attr)):
        for module in block.modules():  # attention modules that index a cache by layer
            if hasattr(module, "layer_idx"):
                module.layer_idx = new_index
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "num_hidden_layers"):
        config.num_hidden_layers = keep
    return model
