"""Audio classification: a pretrained speech encoder (Whisper's, or a Wav2Vec2-style one) with a
new classification head (transferkit.audio).

Clips are decoded once per split to float32 mono at the model's sample rate (audio/decode.py);
batches are turned into the model's features (Whisper log-mel frames, or normalised waves) as
they are drawn. Every clip is read through one window, `max_seconds` (default: the longest
training clip rounded up to whole seconds, at most the model's 30 s): longer clips are cut to it
(training takes a random window, prediction the start, and `truncated` reports it). The saved
model is a plain Hugging Face folder (AutoModelForAudioClassification + its feature extractor).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..audio.options import AudioInput
from ..data import LABELLED_AUDIO, LabelMap
from ..errors import ConfigError
from . import TASKS
from .base import TaskExample
from .classification import Classification, ClassWeights, LabelColumn


class AudioData(LabelColumn, AudioInput):
    pass


class AudioTraining(ClassWeights):
    pass


@TASKS.register("audio-classification")
class AudioClassification(Classification):
    dataset_kind = LABELLED_AUDIO
    families = ("audio-encoder", "speech-seq2seq")
    default_for = ("audio-encoder",)
    DataOptions = AudioData
    TrainOptions = AudioTraining
    student_inherits = ("max_seconds",)
    reads_text = False
    input_kind = "audio"
    folder: Path | None = None  # the model folder whose feature extractor reads the clips
    _extractor = None

    # ---------------------------------------------------------------- window and features

    @property
    def window(self) -> int:
        """The window in whole seconds (set from the data when not given; see `fix_window`)."""
        return int(math.ceil(self.config.max_seconds - 1e-6))

    def fix_window(self, examples) -> None:
        """Resolve `max_seconds` from the longest clip of `examples` (the training split), capped at
        what the model reads; recorded in the config so the saved run reads clips the same way."""
        from ..audio.models import choose_window, window_limit

        limit = window_limit(self.folder)
        if self.config.max_seconds is None:
            self.config.max_seconds = float(choose_window(examples.items, self.sample_rate, limit))
        elif self.config.max_seconds > limit:
            raise ConfigError(f"invalid max_seconds: {self.config.max_seconds:g} s is longer than the {limit} s this "
                              f"model reads; pass --max-seconds {limit} or less")

    @property
    def extractor(self):
        from ..audio.models import feature_extractor

        if self._extractor is None or getattr(self, "_extractor_window", None) != self.window:
            self._extractor, self._extractor_window = feature_extractor(self.folder, self.window), self.window
        return self._extractor

    @property
    def sample_rate(self) -> int:
        import json

        if self._extractor is not None:
            return int(self._extractor.sampling_rate)
        doc = json.loads((Path(self.folder) / "preprocessor_config.json").read_text(encoding="utf-8"))
        return int(doc.get("sampling_rate", 16000))

    def _use_folder(self, model: str) -> Path:
        from ..sources import resolve_model

        self.folder = Path(resolve_model(str(model)).path)
        if not (self.folder / "preprocessor_config.json").is_file():
            raise ConfigError(f"invalid model: {model} has no feature extractor (preprocessor_config.json); an audio "
                              "model folder needs one")
        self._extractor = None
        return self.folder

    # ---------------------------------------------------------------- data

    def _reader(self, audio_column=None, label_column=None, min_class_count=None):
        from ..audio.files import AudioReader

        return AudioReader(audio_column, label_column, min_class_count)

    def load_data(self, train, validation=None, test=None):
        from ..data import load_splits

        cfg = self.config
        splits = load_splits(self._reader(cfg.audio_column, cfg.label_column, cfg.min_class_count), train, validation,
                             test, seed=cfg.seed)
        self.label_names = list(splits.label_names)
        return splits

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Clips to predict: paths, a folder, a table of paths, waves; with `labelled`, labelled
        clips encoded with this run's label names."""
        from ..audio.files import AUDIO_SUFFIXES, as_audio_examples
        from ..data import load_split

        labels = LabelMap(list(self.label_names)) if labelled else None
        if not labelled and (not isinstance(source, (str, Path)) or Path(source).is_dir()
                             or Path(source).suffix.lower() in AUDIO_SUFFIXES):
            return as_audio_examples(source)
        return load_split(self._reader(column, label_column), source, labels=labels, require_labels=labelled,
                          seed=self.config.seed, source="audio")

    def read_unlabeled(self, source):
        from ..audio.files import load_audio

        return load_audio(source, require_labels=False, audio_column=self.config.audio_column) \
            if isinstance(source, (str, Path)) else self.read_inputs(source)

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        from ..audio.models import build_classifier

        cfg = self.config
        self._use_folder(model)
        self.fix_window(data.train)
        network = build_classifier(self.folder, self.label_names, self.window, cfg.dropout)
        self.class_weights = self.resolve_class_weights(data.train.labels)
        return network.train()

    def save(self, model, directory: Path) -> None:
        from ..progress import quiet_transformers

        quiet_transformers()  # no "writing shards" bar of its own
        model.save_pretrained(directory)
        self.extractor.save_pretrained(directory)

    def load_model(self, folder: Path, label_names):
        from transformers import AutoModelForAudioClassification

        from ..sources.hf_models import label_names_of, load_trained

        model = load_trained(AutoModelForAudioClassification, Path(folder))
        self.folder, self._extractor, self.class_weights = Path(folder), None, None
        self.label_names = label_names_of(model)
        if self.config.max_seconds is None:  # runs save it; a bare folder reads its own window
            from ..audio.models import window_limit

            self.config.max_seconds = float(window_limit(self.folder))
        return model

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False):
        from ..audio.decode import decode_audio

        if self.config.max_seconds is None:  # a probe: the first split it encodes is the training split
            self.fix_window(examples)
        return decode_audio(examples, self.sample_rate, getattr(self.config, "bad_audio", "skip"))

    def collate(self, dataset, indices, rng=None) -> dict:
        import torch

        from ..audio.models import model_inputs

        size = self.window * dataset.sample_rate
        waves = []
        for i in np.asarray(indices):
            wave = dataset.waves[i]
            start = int(rng.integers(0, len(wave) - size + 1)) if rng is not None and len(wave) > size else 0
            waves.append(wave[start:start + size])
        batch = model_inputs(self.extractor, waves, dataset.sample_rate)
        if dataset.labels is not None:
            batch["labels"] = torch.from_numpy(dataset.labels[np.asarray(indices)])
        return batch

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        from ..audio.models import forward

        return forward(model, batch, hidden_states=hidden_states, attentions=attentions)

    def truncated(self, examples, dataset):
        size = self.window * dataset.sample_rate
        return [len(w) > size for w in dataset.waves]

    def input_columns(self, examples) -> dict[str, list]:
        return {"path": examples.names}

    def review_inputs(self, examples, dataset) -> dict[str, list]:
        return {"path": list(dataset.names)}

    def raw_inputs(self, examples) -> list:
        return list(examples.items)

    # ---------------------------------------------------------------- probe

    def feature_encoder(self, model: str):
        from ..audio.models import build_classifier

        self._use_folder(model)
        # The head is unused: the probe reads the encoder's pooled states. The window is fixed by the
        # first split encoded (or the run's saved max_seconds); the encoder is cut to it lazily.
        return AudioEncoder(build_classifier(self.folder, ["a", "b"], 10 ** 6), self, self.config.batch_size)

    # ---------------------------------------------------------------- distillation

    def concat(self, parts):
        from ..audio.decode import DecodedAudio

        labels = np.concatenate([p.labels if p.labels is not None else np.full(len(p), -100, dtype=np.int64)
                                 for p in parts]).astype(np.int64)
        return DecodedAudio([w for p in parts for w in p.waves], labels, [n for p in parts for n in p.names],
                            parts[0].sample_rate)

    def teacher_inputs(self, batch: dict, teacher_task) -> dict:
        if teacher_task.extractor.to_dict() != self.extractor.to_dict():
            raise ConfigError("invalid student: the teacher and the student read audio through different feature "
                              "extractors; distil between models of one kind (Whisper -> Whisper)")
        return batch

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ..audio.tiny import tiny_whisper, tone_clips, write_audio_folder

        workdir = Path(workdir)
        model = tiny_whisper(workdir / "tiny-whisper")
        return TaskExample(model=model, train=write_audio_folder(workdir / "train", *tone_clips(32, 1)),
                           validation=write_audio_folder(workdir / "validation", *tone_clips(16, 2)),
                           inputs=tone_clips(4, 3)[0], settings={"batch_size": 8, "lr": 3e-3, "precision": "fp32"})


class AudioEncoder:
    """A frozen speech encoder as a feature extractor for the probe: pooled last hidden states of
    the task's own batches, through the engine's one inference loop."""

    def __init__(self, model, task: AudioClassification, batch_size: int = 64):
        self.model, self.task, self.batch_size = model.eval(), task, batch_size

    def features(self, dataset, description: str | None = None) -> np.ndarray:
        from ..audio.models import pooled_features, shorten_window
        from ..engine.inference import predict

        shorten_window(self.model, self.task.window)
        return predict(self.model, dataset, lambda data, indices: self.task.collate(data, indices),
                       lambda model, batch: pooled_features(model, batch), batch_size=self.batch_size,
                       description=description)
