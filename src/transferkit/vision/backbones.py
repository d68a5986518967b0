"""Image backbones by name (the timm pattern): `@register_backbone` on a constructor, `create_backbone`.

    model = create_backbone("mobilenet-v2")                  # packaged ImageNet weights, strict load
    model = create_backbone("efficientnet-lite0", num_classes=10)   # new 10-way head
    model = create_backbone("timm:resnet18")                 # only when timm is installed

A native backbone names the model-registry entry (`transferkit.sources`) holding its weights;
the entry is pulled on first use and its stored ImageInput becomes the backbone's InputSpec.
Weights are safetensors, loaded with strict=True so a renamed or missing key is an error.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import ModelSourceError
from ..registry import Registry
from .backbone import TIMM_PREFIX, ImageBackbone, InputSpec


@dataclass(frozen=True)
class BackboneEntry:
    name: str
    build: Callable[..., ImageBackbone]
    weights: str | None  # model-registry entry with the pretrained weights


def _unknown(name: str, names: list[str]) -> ModelSourceError:
    return ModelSourceError(f"unknown image backbone {name!r}; choose from {', '.join(sorted(names))} "
                            "or timm:NAME (needs timm)")


BACKBONES: Registry[BackboneEntry] = Registry("image backbone", builtins=(f"{__package__}.mobilenet",
                                                                          f"{__package__}.efficientnet",
                                                                          f"{__package__}.resnet",
                                                                          f"{__package__}.vgg",
                                                                          f"{__package__}.inception"),
                                              unknown=_unknown)


def register_backbone(name: str, *, weights: str | None = None):
    def deco(fn):
        BACKBONES.register(name, BackboneEntry(name, fn, weights))
        return fn
    return deco


def list_backbones() -> list[str]:
    return sorted(BACKBONES.names())


def is_backbone(ref) -> bool:
    """A backbone name, timm:NAME, or a model-registry folder holding an image backbone."""
    ref = str(ref)
    return ref.startswith(TIMM_PREFIX) or ref in list_backbones() or (
        Path(ref).is_dir() and backbone_name_of_folder(Path(ref)) is not None)


def backbone_from_ref(ref, **kwargs) -> ImageBackbone:
    """create_backbone for a name, timm:NAME or a registry folder (e.g. a copied cache entry)."""
    ref = str(ref)
    if not ref.startswith(TIMM_PREFIX) and ref not in list_backbones() and Path(ref).is_dir():
        name = backbone_name_of_folder(Path(ref))
        if name is None:
            raise ModelSourceError(f"{ref}: not an image backbone folder (no spec.json of an image backbone)")
        return create_backbone(name, weights=Path(ref), **kwargs)
    return create_backbone(ref, **kwargs)


def registry_input_spec(weights: str) -> InputSpec:
    from ..sources import get_spec

    return InputSpec.from_image_input(get_spec(weights).inputs)


def create_backbone(name: str, *, pretrained: bool = True, num_classes: int | None = None,
                    drop_rate: float | None = None, weights: str | Path | None = None) -> ImageBackbone:
    """A backbone in eval mode. `weights`: a safetensors or PyTorch state-dict file (torchvision
    names), or a folder holding model.safetensors (default: the registry entry's, pulled if
    needed); pretrained=False keeps the random init."""
    if name.startswith(TIMM_PREFIX):
        from .timm import TimmBackbone

        return TimmBackbone(name[len(TIMM_PREFIX):], pretrained=pretrained, num_classes=num_classes,
                            drop_rate=drop_rate)
    entry = BACKBONES.get(name)
    kwargs = {"drop_rate": drop_rate} if drop_rate is not None else {}
    spec = registry_input_spec(entry.weights) if entry.weights else None
    model = entry.build(input_spec=spec, **kwargs)
    if pretrained:
        path = Path(weights) if weights is not None else _registry_folder(entry)
        load_weights(model, path / "model.safetensors" if path.is_dir() else path)
    if num_classes is not None and num_classes != model.num_classes:
        model.reset_head(num_classes)
    return model.eval()


def _registry_folder(entry: BackboneEntry) -> Path:
    if entry.weights is None:
        raise ModelSourceError(f"{entry.name}: no pretrained weights ship for it; pass --no-pretrained "
                               "(pretrained=False) to train from random init, or --weights FILE (a torchvision state "
                               "dict)")
    from ..sources import resolve_model

    return Path(resolve_model(entry.weights).path)


PICKLED_SUFFIXES = (".pth", ".pt", ".bin", ".ckpt")


def read_state_dict(path: Path) -> dict:
    """A state dict from safetensors, or from a PyTorch file read with weights_only=True (tensors and
    plain containers only: a pickle that references code is refused; checkpoints unwrapped)."""
    from safetensors.torch import load_file

    from ..sources.catalog import load_torch_state_dict

    if not path.is_file():
        raise ModelSourceError(f"{path}: no such weights file")
    if path.suffix.lower() in PICKLED_SUFFIXES:
        return load_torch_state_dict(path)
    try:
        return load_file(str(path))
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for a damaged file
        raise ModelSourceError(f"{path}: the weights file is damaged or incomplete ({str(e).splitlines()[0][:120]}); "
                               "pull or copy it again") from None


def load_weights(model: ImageBackbone, path: Path) -> None:
    """Load a state dict strictly (torchvision names), resizing the head first if its class count differs."""
    state = read_state_dict(Path(path))
    head_weight = state.get(model._head_path + ".weight")
    if head_weight is not None and head_weight.shape[0] != model.num_classes:
        model.reset_head(int(head_weight.shape[0]))
    head = {f"{model._head_path}.weight", f"{model._head_path}.bias"}
    try:
        # A backbone-only file (no classifier: the head is replaced for every task anyway) loads
        # everything else strictly.
        missing, unexpected = model.load_state_dict(state, strict=bool(head & set(state)))
    except RuntimeError as e:
        first = str(e).strip().splitlines()[:2]
        raise ModelSourceError(f"{path}: weights do not fit {model.name} ({' '.join(first)[:300]})") from None
    if unexpected or set(missing) - head:
        names = sorted(unexpected or set(missing) - head)
        raise ModelSourceError(f"{path}: weights do not fit {model.name} ({'unexpected' if unexpected else 'missing'} "
                               f"keys {', '.join(names[:3])}{' ...' if len(names) > 3 else ''})")


def backbone_name_of_folder(folder: Path) -> str | None:
    """The backbone a model-registry folder (spec.json) holds, or None when it is not an image backbone."""
    spec_file = Path(folder) / "spec.json"
    if not spec_file.is_file():
        return None
    try:
        spec = json.loads(spec_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{spec_file}: unreadable ({e}); pull or copy the model again") from None
    return spec.get("name") if spec.get("family") == "image-backbone" else None


def backbone_for(model: str, pretrained: bool, num_classes: int | None, drop_rate, weights: str | None = None):
    """The backbone a task starts from: a registry entry (pulled), timm:NAME, an architecture from
    random init or the user's `weights` file, or a folder holding a saved backbone."""
    from ..errors import ConfigError

    if model.startswith(TIMM_PREFIX):
        return create_backbone(model, pretrained=pretrained, num_classes=num_classes, drop_rate=drop_rate)
    if model in BACKBONES and (weights or not pretrained or BACKBONES.get(model).weights is None):
        # a random init or the user's file needs no registry entry; no entry and neither: say what to do
        return create_backbone(model, pretrained=bool(weights) or pretrained, weights=weights,
                               num_classes=num_classes, drop_rate=drop_rate)
    from ..sources import resolve_model

    try:
        folder = Path(resolve_model(model).path)
    except ModelSourceError:
        if model in BACKBONES:
            raise
        raise ConfigError(f"invalid model: {model} is not an image backbone; choose from "
                          f"{', '.join(sorted(BACKBONES.names()))} or timm:NAME") from None
    name = backbone_name_of_folder(folder)
    if name is None:
        raise ConfigError(f"invalid model: {model} is not an image backbone; choose from "
                          f"{', '.join(sorted(BACKBONES.names()))} or timm:NAME")
    return create_backbone(name, pretrained=pretrained, weights=folder, num_classes=num_classes, drop_rate=drop_rate)
