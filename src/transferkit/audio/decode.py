"""Decoding clips once: every clip as float32 mono at the model's sample rate.

Files are read with soundfile (libsndfile: WAV, FLAC, OGG/Opus, MP3, AIFF), channels are
averaged, other sample rates are resampled with soxr (its high-quality preset). An unreadable,
empty or non-finite clip is found here, before training (skipped with one counted warning, or
an error naming the file), never in the middle of an epoch.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from ..data.files import decode_each
from ..errors import DataError
from .files import AUDIO, AudioExamples


@dataclass
class DecodedAudio:
    """What the engine batches: one float32 mono wave per clip, at `sample_rate`."""

    waves: list[np.ndarray]
    labels: np.ndarray | None
    names: list[str]
    sample_rate: int

    @property
    def lengths(self) -> np.ndarray:  # samples: batches are grouped by duration
        return np.array([len(w) for w in self.waves], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.waves)


def _libraries():
    try:
        import soundfile
        import soxr
    except ImportError:
        raise DataError("audio needs soundfile and soxr, which are not installed; "
                        "pip install 'transferkit[audio]'") from None
    return soundfile, soxr


def read_wave(item, sample_rate: int) -> np.ndarray:
    """float32 mono at `sample_rate` from a path, a (wave, rate) pair, or a wave already at `sample_rate`."""
    soundfile, soxr = _libraries()
    if isinstance(item, (str, os.PathLike)):
        data, rate = soundfile.read(str(item), dtype="float32", always_2d=True)
        wave = data.mean(axis=1)
    elif isinstance(item, tuple) and len(item) == 2:
        wave, rate = np.asarray(item[0], dtype=np.float32), int(item[1])
    else:
        wave, rate = np.asarray(item, dtype=np.float32), sample_rate
    if wave.ndim == 2:  # [samples, channels] in memory
        wave = wave.mean(axis=1)
    if wave.ndim != 1:
        raise ValueError(f"expected a mono wave [samples] or [samples, channels], got shape {wave.shape}")
    if wave.size == 0:
        raise ValueError("empty audio (0 samples)")
    if not np.isfinite(wave).all():
        raise ValueError("the audio holds NaN or infinite samples")
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(wave, dtype=np.float32)


def decode_audio(examples: AudioExamples, sample_rate: int, bad_audio: str = "skip") -> DecodedAudio:
    """Every clip read and resampled; unreadable ones skipped (one warning with the count) or an error."""
    _libraries()  # a missing library is an install problem, not a thousand unreadable files
    kept, waves = decode_each(examples, lambda item: read_wave(item, sample_rate), AUDIO, bad_audio, "--bad-audio")
    labels = None if examples.labels is None else examples.labels[np.asarray(kept, dtype=np.int64)]
    names = examples.names
    return DecodedAudio(waves, labels, [names[i] for i in kept], sample_rate)
