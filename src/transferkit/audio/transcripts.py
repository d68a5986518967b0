"""Transcribed audio: clips with the text spoken in each, for speech recognition.

    load_transcribed_splits("recordings/")     # a.wav + a.txt, b.flac + b.txt, ... (searched recursively)
    load_transcribed_splits("manifest.csv")    # audio (path) + text columns, paths relative to the file
    load_transcribed_splits(([wave, ...], ["hello there", ...]))   # waves at the model's rate

A folder may instead hold a manifest (`metadata.csv`/`.jsonl`/`.tsv`, as Hugging Face's
audiofolder does) or train/validation/test sub-folders or manifests. One source without
validation/test is split by seed 80/10/10 (a seeded shuffle: transcripts are not classes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data import TRANSCRIBED_AUDIO, load_split, load_splits, read_table
from ..data.columns import find_column
from ..data.splits import DEFAULT_SEED, find_splits, shuffled_split
from ..data.tables import check_file, table_format
from ..errors import DataError
from .files import AUDIO, AUDIO_SUFFIXES, PATH_COLUMNS, as_audio_examples

TRANSCRIPT_COLUMNS = ("text", "transcript", "transcription", "sentence", "normalized_text")
MANIFEST_NAMES = ("metadata", "manifest")


@dataclass
class TranscribedAudio:
    """Clips (`items[i]`: a path, a wave at the model's rate, or a (wave, rate) pair) and, when
    labelled, the transcript of each."""

    items: Sequence[Any]
    texts: list[str] | None
    rows: np.ndarray  # 1-based position in the source, for messages and prediction files
    source: str
    label_map: None = None  # transcripts are not classes

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, index, source: str | None = None) -> TranscribedAudio:
        index = np.asarray(index, dtype=np.int64)
        return TranscribedAudio([self.items[i] for i in index], None if self.texts is None else
                                [self.texts[i] for i in index], self.rows[index], source or self.source)

    @property
    def names(self) -> list[str]:
        return [str(x) if isinstance(x, (str, os.PathLike)) else f"{self.source}[{r}]"
                for x, r in zip(self.items, self.rows)]


def _is_table(path: Path) -> bool:
    """A CSV/TSV/JSONL/Parquet file (not a .txt transcript: those sit beside their clips)."""
    try:
        return path.is_file() and table_format(path)[0] not in ("txt", "text")
    except DataError:
        return False


def _manifest_in(folder: Path) -> Path | None:
    found = [p for p in sorted(folder.iterdir()) if _is_table(p) and p.name.split(".")[0].lower() in MANIFEST_NAMES]
    if len(found) > 1:
        raise DataError(f"{folder}: several manifests ({', '.join(p.name for p in found)}); keep one")
    return found[0] if found else None


class TranscriptReader:
    """The split reader of speech recognition (see `transferkit.data.loading.SplitReader`)."""

    kind = TRANSCRIBED_AUDIO
    unit = "clip"
    label_map = None

    def __init__(self, audio_column: str | None = None, transcript_column: str | None = None):
        self.audio_column, self.transcript_column = audio_column, transcript_column

    def entries(self, folder: Path) -> dict[str, Path]:
        return find_splits(folder, lambda p: p.is_dir() or _is_table(p))

    def read(self, ref: Any, *, source: str, spec=None, labels=None, require_labels: bool = True) -> TranscribedAudio:
        if isinstance(ref, TranscribedAudio):
            return ref
        if isinstance(ref, tuple) and len(ref) == 2 and isinstance(ref[1], (list, tuple, np.ndarray)):
            bad = next((i for i, t in enumerate(ref[1]) if not isinstance(t, str)), None)
            if bad is not None:
                raise DataError(f"{source}[{bad + 1}]: a transcript must be text, got {type(ref[1][bad]).__name__} "
                                f"{ref[1][bad]!r}; for class labels pass --task audio-classification")
            return self._pair(ref, source)
        if not isinstance(ref, (str, os.PathLike)):
            clips = as_audio_examples(ref, source)
            return self._unlabelled(list(clips.items), source, require_labels)
        path = Path(ref)
        if path.is_dir():
            manifest = _manifest_in(path)
            return self._table(manifest, source, require_labels) if manifest else \
                self._folder(path, source, require_labels)
        check_file(path)
        if path.suffix.lower() in AUDIO_SUFFIXES:
            return self._folder_files([path], source, require_labels)
        return self._table(path, source, require_labels)

    def _unlabelled(self, items: list, source: str, require_labels: bool) -> TranscribedAudio:
        if require_labels:
            raise DataError(f"{source}: clips without transcripts; give (clips, texts), a manifest with audio and "
                            "text columns, or a .txt file beside each clip (for one label per clip, in class "
                            "folders, pass --task audio-classification)")
        return TranscribedAudio(items, None, np.arange(1, len(items) + 1), source)

    def _pair(self, ref: tuple, source: str) -> TranscribedAudio:
        items, texts = ref
        items = [items] if isinstance(items, np.ndarray) and items.ndim == 1 else list(items)
        if len(items) != len(texts):
            raise DataError(f"{source}: {len(items)} clips but {len(texts)} transcripts")
        return TranscribedAudio([str(x) if isinstance(x, Path) else x for x in items], [str(t) for t in texts],
                                np.arange(1, len(items) + 1), source)

    def _folder(self, folder: Path, source: str, require_labels: bool) -> TranscribedAudio:
        files = sorted(p for p in folder.rglob("*") if AUDIO.is_file(p))
        if not files:
            raise DataError(f"{folder}: no audio files ({', '.join(AUDIO_SUFFIXES)}) and no manifest; a speech "
                            "recognition dataset is a folder of clips with a .txt transcript beside each, or a "
                            "CSV/JSONL of audio,text")
        return self._folder_files(files, source, require_labels)

    def _folder_files(self, files: list[Path], source: str, require_labels: bool) -> TranscribedAudio:
        sidecars = [f.with_suffix(".txt") for f in files]
        present = [s.is_file() for s in sidecars]
        if not any(present):
            return self._unlabelled([str(f) for f in files], source, require_labels)
        if not all(present) and require_labels:
            missing = next(f for f, ok in zip(files, present) if not ok)
            raise DataError(f"{missing}: no transcript ({missing.with_suffix('.txt').name}) beside it; add one, "
                            f"or remove the clip ({present.count(False)} of {len(files)} clips have none)")
        keep = [i for i, ok in enumerate(present) if ok]
        texts = [" ".join(sidecars[i].read_text(encoding="utf-8", errors="replace").split()) for i in keep]
        return TranscribedAudio([str(files[i]) for i in keep], texts, np.arange(1, len(keep) + 1), source)

    def _table(self, path: Path, source: str, require_labels: bool) -> TranscribedAudio:
        frame = read_table(path)
        pcol = find_column(frame.columns, self.audio_column, PATH_COLUMNS, source=str(path), role="audio path",
                           option="--audio-column")
        tcol = find_column(frame.columns, self.transcript_column, TRANSCRIPT_COLUMNS, source=str(path),
                           role="transcript", option="--transcript-column", required=require_labels, exclude=pcol)
        items = [str(p) if os.path.isabs(str(p)) else str(path.parent / str(p)) for p in frame[pcol].tolist()]
        rows = np.asarray(frame.index, dtype=np.int64)
        if tcol is None:
            return TranscribedAudio(items, None, rows, source)
        texts = []
        for row, text in zip(rows, frame[tcol].tolist()):
            if not isinstance(text, str):
                if text is None or (isinstance(text, float) and np.isnan(text)):
                    raise DataError(f"{path}: line {row}, column {tcol}: no transcript; write the spoken text (an "
                                    "empty string for a clip of silence) or remove the row")
                text = str(text)
            texts.append(" ".join(text.split()))
        return TranscribedAudio(items, texts, rows, source)

    def split(self, examples: TranscribedAudio, seed: int, fractions: Sequence[float]):
        index = shuffled_split(len(examples), seed, fractions, source=examples.source, unit="clip")
        return index, "seeded shuffle"

    def relabel(self, examples, labels):
        return examples

    def check_train(self, examples: TranscribedAudio) -> TranscribedAudio:
        if examples.texts is None:
            raise DataError(f"{examples.source}: the training clips have no transcripts")
        if not any(t.strip() for t in examples.texts):
            raise DataError(f"{examples.source}: every transcript is empty; check the text column")
        return examples


def load_transcribed(ref, *, require_labels: bool = True, audio_column=None, transcript_column=None,
                     seed: int = DEFAULT_SEED) -> TranscribedAudio:
    """One split for evaluate/predict: a path, NAME:SPLIT, or clips in memory."""
    return load_split(TranscriptReader(audio_column, transcript_column), ref, require_labels=require_labels,
                      seed=seed, source="audio")


def load_transcribed_splits(train, validation=None, test=None, *, seed: int = DEFAULT_SEED, audio_column=None,
                            transcript_column=None):
    """Transcribed train/validation/test clips."""
    return load_splits(TranscriptReader(audio_column, transcript_column), train, validation, test, seed=seed)
