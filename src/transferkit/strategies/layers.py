"""Where each parameter sits in a pretrained encoder: embeddings, layer i, or the task head.

Strategies that freeze or re-weight by depth (top-k, gradual unfreezing, layer-wise LR decay)
need the same split, so it is computed here once, from parameter names. Hugging Face encoders
name their blocks `<backbone>.encoder.layer.<i>.` (BERT, RoBERTa, DeBERTa), `.transformer.layer.<i>.`
(DistilBERT) or `.layers.<i>.` (ModernBERT, Whisper, Wav2Vec2); everything outside the backbone
(and BERT's pooler, which only the classification head uses) is the head. An encoder-decoder's
decoder blocks count above its encoder's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import ConfigError

if TYPE_CHECKING:
    from torch import nn

_LAYER_INDEX = re.compile(r"\.(?:layer|layers|h|block|blocks)\.(\d+)\.")
_PEFT_PREFIX = "base_model.model."


@dataclass
class LayerGroups:
    """Parameter names by depth: embeddings at the bottom, then layers 0..N-1, then the head."""

    embeddings: list[str] = field(default_factory=list)
    layers: list[list[str]] = field(default_factory=list)
    head: list[str] = field(default_factory=list)

    def top_down(self) -> list[list[str]]:
        """Groups from the head down to the embeddings (the order of unfreezing and LR decay)."""
        return [self.head, *reversed(self.layers), self.embeddings]


# Below the first block of a speech encoder: Whisper's convolutions, Wav2Vec2's feature encoder.
_EMBEDDING_PARTS = ("embed", "conv1.", "conv2.", "feature_extractor.", "feature_projection.")


def _backbone_prefix(model: nn.Module) -> str:
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    prefix = getattr(inner, "base_model_prefix", "") or ""
    if prefix and not hasattr(inner, prefix) and hasattr(inner, "encoder"):
        return "encoder"  # a head over an encoder alone (WhisperForAudioClassification keeps `encoder`, not `model`)
    return prefix


def layer_groups(model: nn.Module) -> LayerGroups:
    if hasattr(model, "layer_group_names"):  # an image backbone names its own groups: stem, stages, head
        *body, head = model.layer_group_names()
        return LayerGroups(embeddings=body[0], layers=[list(g) for g in body[1:]], head=list(head))
    prefix = _backbone_prefix(model)
    groups = LayerGroups()
    by_index: dict[int, list[str]] = {}
    top_extras: list[str] = []
    # An encoder-decoder (Whisper) stacks its decoder's blocks above the encoder's: depth runs
    # from the audio in to the text out.
    below_decoder = 1 + max((int(m.group(1)) for n, _ in model.named_parameters()
                             if ".encoder." in n and (m := _LAYER_INDEX.search(n))), default=-1)
    for name, _ in model.named_parameters():
        inner = name.removeprefix(_PEFT_PREFIX)
        in_backbone = bool(prefix) and inner.startswith(prefix + ".")
        match = _LAYER_INDEX.search(inner)
        if not in_backbone or ".pooler." in inner:
            groups.head.append(name)
        elif match:
            depth = int(match.group(1)) + (below_decoder if ".decoder." in inner else 0)
            by_index.setdefault(depth, []).append(name)
        elif any(part in inner for part in _EMBEDDING_PARTS):
            groups.embeddings.append(name)
        else:
            top_extras.append(name)  # e.g. a final norm after the last block
    if not by_index:
        raise ConfigError(f"strategy: cannot find the transformer layers of {type(model).__name__} "
                          "(layer-wise strategies need parameters named like encoder.layer.<i>)")
    groups.layers = [by_index[i] for i in sorted(by_index)]
    if groups.head:
        groups.layers[-1].extend(top_extras)
    else:  # a decoder whose output projection is tied to its input embeddings: its final norm is the top
        groups.head = top_extras
    return groups


def set_trainable(model: nn.Module, names: set[str]) -> None:
    """requires_grad exactly for `names`; everything else is frozen."""
    for name, param in model.named_parameters():
        param.requires_grad_(name in names)


def llrd_scales(groups: LayerGroups, factor: float) -> dict[str, float]:
    """LR multiplier per parameter: 1 for the head, factor**d for the d-th group below it."""
    return {name: factor ** depth for depth, group in enumerate(groups.top_down()) for name in group}
