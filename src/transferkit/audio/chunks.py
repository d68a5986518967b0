"""Long clips for speech recognition: cut into overlapping windows, transcripts joined again
(and the dataset of windows the engine batches).

A model reads a window (Whisper: 30 s). A longer clip is cut into windows that overlap by
`overlap` seconds (default a sixth of the window, at most 5 s), each transcribed on its own;
neighbouring transcripts then repeat the words spoken in the overlap, which `join_transcripts`
finds (the longest run of matching words where one transcript ends and the next begins, as
Hugging Face's chunked pipeline aligns tokens) and keeps once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np


@dataclass
class SpeechDataset:
    """What the engine batches for speech recognition: windows of at most the model's length,
    each from one clip (`owner`); transcripts and their token ids are per clip."""

    waves: list[np.ndarray]
    owner: np.ndarray  # window -> clip index
    targets: list[np.ndarray] | None  # per clip: transcript token ids (labelled data only)
    texts: list[str] | None  # per clip: the reference transcript
    names: list[str]  # per clip
    sample_rate: int

    @property
    def lengths(self) -> np.ndarray:  # samples: batches are grouped by duration
        return np.array([len(w) for w in self.waves], dtype=np.int64)

    @property
    def clips(self) -> int:
        return len(self.names)

    def __len__(self) -> int:
        return len(self.waves)


def overlap_for(window_seconds: float) -> float:
    return min(5.0, window_seconds / 6)


def chunk_spans(samples: int, window: int, overlap: int) -> list[tuple[int, int]]:
    """[start, end) sample spans covering `samples` with windows of `window` overlapping by `overlap`
    (one span when it fits; the last window ends at the clip's end)."""
    if samples <= window:
        return [(0, samples)]
    step = max(1, window - overlap)
    spans, start = [], 0
    while start + window < samples:
        spans.append((start, start + window))
        start += step
    spans.append((max(0, samples - window), samples))
    return spans


def _overlap(left: list[str], right: list[str], longest: int) -> int:
    """How many leading words of `right` repeat the end of `left` (0: no convincing match)."""
    best, best_score = 0, 0.0
    for k in range(1, min(len(left), len(right), longest) + 1):
        matches = sum(a == b for a, b in zip(left[-k:], right[:k]))
        score = matches / k + k / 10000  # the most exact match, the longer one on ties
        if matches >= min(2, k) and matches / k >= 0.5 and score > best_score:
            best, best_score = k, score
    return best


def join_transcripts(parts: Sequence[str], longest: int = 40) -> str:
    """One transcript of consecutive overlapping windows' transcripts, the repeated words kept once."""
    words: list[str] = []
    for part in parts:
        new = part.split()
        if not words:
            words = new
            continue
        # Compare case- and punctuation-blind: a word at a window's edge may be cut or capitalised.
        fold = [w.strip(".,!?;:\"'").lower() for w in words]
        k = _overlap(fold, [w.strip(".,!?;:\"'").lower() for w in new], longest)
        words += new[k:]
    return " ".join(words)


def cut_windows(waves: Sequence[np.ndarray], window: int, overlap: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Every clip as windows of at most `window` samples (see `chunk_spans`) and each window's clip."""
    pieces, owner = [], []
    for i, wave in enumerate(waves):
        for start, end in chunk_spans(len(wave), window, overlap):
            pieces.append(wave[start:end])
            owner.append(i)
    return pieces, np.asarray(owner, dtype=np.int64)


def per_clip(dataset: SpeechDataset, outputs: np.ndarray,
             decode: Callable[[list[np.ndarray]], list[str]]) -> tuple[list[str], list[np.ndarray]]:
    """Window outputs [windows, T, 2] (token id + 1, 0: none; log-probability) -> per clip, its
    transcript (the windows' decoded texts joined) and the log-probabilities of its tokens."""
    ids = [row[row[:, 0] > 0] for row in outputs]
    texts = decode([(r[:, 0] - 1).astype(np.int64) for r in ids])
    parts: list[list[str]] = [[] for _ in range(dataset.clips)]
    logps: list[list[np.ndarray]] = [[] for _ in range(dataset.clips)]
    for window, clip in enumerate(dataset.owner):
        parts[clip].append(texts[window])
        logps[clip].append(ids[window][:, 1])
    return [join_transcripts(p) for p in parts], [np.concatenate(x) if x else np.zeros(0) for x in logps]
