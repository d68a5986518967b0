"""Audio data: where clips come from (class folders, tables of paths, arrays, named datasets).

    splits = load_audio_splits("commands/")        # one sub-folder of clips per class
    splits = load_audio_splits("clips.csv")        # audio (path) + label columns, paths relative to the file
    splits = load_audio_splits(([wave, ...], labels))  # float arrays at the model's rate (or (wave, rate) pairs)

As for every kind of data (`transferkit.data.loading`), one source without validation/test is
split by seed, stratified 80/10/10. Examples keep references; `audio.decode` reads them once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import LABELLED_AUDIO, LabelMap, load_split, load_splits
from ..data.files import MediaExamples, MediaKind, MediaReader, read_class_folders
from ..data.splits import DEFAULT_SEED

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au")
PATH_COLUMNS = ("audio", "path", "file", "filename", "audio_path", "filepath")
AUDIO = MediaKind("audio file", AUDIO_SUFFIXES, PATH_COLUMNS, "--audio-column")


class AudioExamples(MediaExamples):
    """Labelled (or not) clips: `items[i]` is a path, a float array at the model's sample rate,
    or a (array, sample_rate) pair."""


def as_audio_examples(inputs, source: str = "audio") -> AudioExamples:
    """Unlabelled clips given in memory: a path, a folder, one wave (1-D array or (wave, rate)), or a list of them."""
    if isinstance(inputs, AudioExamples):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        if path.is_dir():
            return read_class_folders(AUDIO, AudioExamples, path, require_labels=False)
        inputs = [str(path)]
    elif isinstance(inputs, np.ndarray) and inputs.ndim == 1 or _is_pair(inputs):
        inputs = [inputs]
    items = [str(x) if isinstance(x, Path) else x for x in inputs]
    return AudioExamples(items, None, np.arange(1, len(items) + 1), source)


def _is_pair(x: Any) -> bool:
    return isinstance(x, tuple) and len(x) == 2 and isinstance(x[1], (int, np.integer)) and np.ndim(x[0]) >= 1


class AudioReader(MediaReader):
    """Labelled clips for `data.load_splits`: class folders, tables of paths, waves in memory."""

    kind = LABELLED_AUDIO
    unit = "clip"
    media = AUDIO
    examples = AudioExamples

    def is_labelled_pair(self, ref: Any) -> bool:  # not one (wave, rate) clip
        return super().is_labelled_pair(ref) and not _is_pair(ref)

    def as_examples(self, ref: Any, source: str) -> AudioExamples:
        return as_audio_examples(ref, source)


def load_audio(ref, *, labels: LabelMap | None = None, require_labels: bool = True, audio_column=None,
               label_column=None, seed: int = DEFAULT_SEED) -> AudioExamples:
    """One split for evaluate/predict: a path, NAME:SPLIT, or clips in memory."""
    return load_split(AudioReader(audio_column, label_column), ref, labels=labels, require_labels=require_labels,
                      seed=seed, source="audio")


def load_audio_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED, audio_column=None,
                      label_column=None):
    """Labelled train/validation/test clips, label ids fixed by the training split."""
    return load_splits(AudioReader(audio_column, label_column), train, validation, test, seed=seed)
