"""Pretrained speech encoders with a classification head, their feature extractors, pooled features.

Two kinds of model folders work through the same code: Whisper (the `speech-seq2seq` family;
its encoder is kept, the decoder dropped, transformers' WhisperForAudioClassification) and
Wav2Vec2-style encoders (`audio-encoder`: Wav2Vec2, HuBERT, WavLM, ...; AutoModelForAudioClassification).

Whisper's encoder reads a fixed 30 s window of log-mel frames, padding shorter audio with
silence: a 1 s command word would cost 30 s of compute. Its positions are sinusoidal and frozen,
so the window is cut to what the data needs (`shorten_window`: the first N positions kept, the
feature extractor's chunk length set to match), which is how the classifier is saved and reloaded.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

WHISPER_TYPES = ("whisper",)
DEFAULT_WINDOW_LIMIT = 30  # seconds: Whisper's window, and the cap for encoders without one


def model_type(folder: Path) -> str:
    try:
        return str(json.loads((Path(folder) / "config.json").read_text(encoding="utf-8")).get("model_type", ""))
    except (OSError, ValueError, AttributeError):
        return ""


def is_whisper(folder_or_model) -> bool:
    if isinstance(folder_or_model, (str, Path)):
        return model_type(Path(folder_or_model)) in WHISPER_TYPES
    return getattr(folder_or_model.config, "model_type", "") in WHISPER_TYPES


def window_limit(folder: Path) -> int:
    """The longest window (s) the model reads: Whisper's positions x 2 frames x 10 ms; else the default cap."""
    if not is_whisper(folder):
        return DEFAULT_WINDOW_LIMIT
    config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
    return max(1, int(config.get("max_source_positions", 1500)) * 2 // 100)


def clip_seconds(item, sample_rate: int) -> float | None:
    """A clip's duration from its file header (no decoding), or from an array's length; None if unreadable."""
    import os

    try:
        if isinstance(item, (str, os.PathLike)):
            import soundfile

            info = soundfile.info(str(item))
            return info.frames / info.samplerate
        if isinstance(item, tuple) and len(item) == 2:
            return len(item[0]) / int(item[1])
        return len(item) / sample_rate
    except Exception:  # noqa: BLE001 - an unreadable clip is reported where it is decoded
        return None


def choose_window(items: Sequence, sample_rate: int, limit: int) -> int:
    """The window (whole seconds) that holds the longest clip, at least 1 s and at most `limit`."""
    seconds = [s for s in (clip_seconds(x, sample_rate) for x in items) if s]
    return int(min(limit, max(1, math.ceil(max(seconds, default=1.0) - 1e-6))))


def feature_extractor(folder: Path, window_seconds: int):
    """The folder's feature extractor; Whisper's made for a `window_seconds` chunk."""
    from transformers import AutoFeatureExtractor, WhisperFeatureExtractor

    from ..sources.hf_models import loading

    with loading(Path(folder), "feature extractor"):
        extractor = AutoFeatureExtractor.from_pretrained(folder)
    if isinstance(extractor, WhisperFeatureExtractor) and extractor.chunk_length != window_seconds:
        extractor = WhisperFeatureExtractor(feature_size=extractor.feature_size, sampling_rate=extractor.sampling_rate,
                                            hop_length=extractor.hop_length, chunk_length=int(window_seconds),
                                            n_fft=extractor.n_fft, padding_value=extractor.padding_value)
    return extractor


def shorten_window(model, window_seconds: int):
    """Cut a Whisper encoder to `window_seconds` (no-op when it already reads that window or less)."""
    import torch
    from torch import nn

    if not is_whisper(model):
        return model
    encoder = model.get_encoder() if hasattr(model, "get_encoder") else model.encoder
    positions = int(window_seconds) * 50  # 100 log-mel frames a second, halved by the second conv's stride
    old = encoder.embed_positions
    if positions >= old.num_embeddings:
        return model
    new = nn.Embedding(positions, old.embedding_dim)
    with torch.no_grad():
        new.weight.copy_(old.weight[:positions])
    new.requires_grad_(False)  # sinusoidal, frozen in Whisper too
    encoder.embed_positions = new
    encoder.max_source_positions = positions
    model.config.max_source_positions = positions  # the encoder checks its input length against this
    return model


def build_classifier(folder: Path, label_names: Sequence[str], window_seconds: int, dropout: float | None = None):
    """The pretrained encoder of `folder` with a new head over `label_names`, reading `window_seconds`."""
    from transformers import AutoModelForAudioClassification, WhisperForAudioClassification

    from ..sources.hf_models import with_new_head

    auto = WhisperForAudioClassification if is_whisper(folder) else AutoModelForAudioClassification
    return shorten_window(with_new_head(auto, Path(folder), label_names, dropout), window_seconds)


def model_inputs(extractor, waves: Sequence[np.ndarray], sample_rate: int) -> dict:
    """Tensors the model reads (Whisper: `input_features`; others: `input_values` + `attention_mask`)
    and `frames`, the encoder frames that hold audio (for pooling without the padding)."""
    import torch
    from transformers import WhisperFeatureExtractor

    lengths = torch.tensor([len(w) for w in waves])
    if isinstance(extractor, WhisperFeatureExtractor):
        out = extractor(list(waves), sampling_rate=sample_rate, return_tensors="pt", return_attention_mask=False)
        frames = torch.clamp(torch.ceil(lengths / (2 * extractor.hop_length)).long(), 1, extractor.nb_max_frames // 2)
        return {"input_features": out["input_features"], "frames": frames}
    out = extractor(list(waves), sampling_rate=sample_rate, padding=True, return_tensors="pt",
                    return_attention_mask=True)
    return {"input_values": out["input_values"], "attention_mask": out["attention_mask"]}


def forward(model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
    names = ("input_features",) if is_whisper(model) else ("input_values", "attention_mask")
    return model(**{k: batch[k] for k in names if k in batch}, output_hidden_states=hidden_states,
                 output_attentions=attentions)


def pooled_features(model, batch: dict):
    """The encoder's last hidden states averaged over the frames that hold audio: [B, hidden]."""
    import torch

    if is_whisper(model):
        hidden = model.encoder(batch["input_features"]).last_hidden_state
        mask = torch.arange(hidden.shape[1], device=hidden.device)[None] < batch["frames"].to(hidden.device)[:, None]
    else:
        base = getattr(model, model.base_model_prefix)
        hidden = base(batch["input_values"], attention_mask=batch.get("attention_mask")).last_hidden_state
        mask = model._get_feature_vector_attention_mask(hidden.shape[1], batch["attention_mask"]) \
            if "attention_mask" in batch else torch.ones(hidden.shape[:2], dtype=torch.bool, device=hidden.device)
    mask = mask.to(hidden.dtype).unsqueeze(-1)
    return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
