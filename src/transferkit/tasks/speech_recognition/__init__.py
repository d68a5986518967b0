"""Speech recognition: audio in, its transcript out (transferkit.audio.recognition).

Whisper models are fine-tuned as encoder-decoders (teacher forcing on prompt + transcript,
label smoothing as set, `--freeze-encoder` to train the decoder only); speech encoders
(Wav2Vec2, HuBERT, ...) get a CTC head over their tokenizer's characters, or over characters
of the training transcripts when they have no tokenizer. Metrics are WER and CER of normalised
texts (jiwer); lower is better, and early stopping knows it.

Every clip is read through one window, `max_seconds` (default: the longest training clip in
whole seconds, at most the model's 30 s; Whisper's encoder is cut to it, as for classification,
which benchmarks/speech_whisper.py measured against the full window). A training clip longer
than the window cannot be cut without cutting its transcript, so it is skipped with a counted
warning (or, with `--bad-audio error`, named in an error); clips to transcribe or evaluate are
cut into overlapping windows whose transcripts are joined (audio/chunks.py). Outputs per window
are [tokens, 2]: token id + 1 (0: none) and its log-probability; the saved model is a plain
Hugging Face folder with its tokenizer and feature extractor. Distillation is sequence-level:
the student learns the teacher's transcripts (distillation.py).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ...audio.chunks import SpeechDataset
from ...data import TRANSCRIBED_AUDIO
from ...errors import ConfigError, DataError
from .. import TASKS
from ..base import Task, TaskExample
from .distillation import SequenceDistillation
from .options import SpeechData, SpeechTraining

LANGUAGE_SAMPLE = 16  # training clips Whisper listens to when the language is not given


@TASKS.register("speech-recognition")
class SpeechRecognition(SequenceDistillation, Task):
    dataset_kind = TRANSCRIBED_AUDIO
    families = ("speech-seq2seq", "audio-encoder")
    default_for = ("speech-seq2seq",)
    DataOptions = SpeechData
    TrainOptions = SpeechTraining
    metric_names = ("wer", "cer")
    default_metric = "wer"
    headline_metric = "wer"
    prediction_suffix = ".transcripts.jsonl"
    reads_text = False
    input_kind = "audio"
    has_classes = False
    student_inherits = ("max_seconds", "language")
    recommended = {"speech-seq2seq": {"lr": 1e-4}, "audio-encoder": {"lr": 1e-4}}
    folder: Path | None = None
    recognizer = None
    _extractor = None

    # ---------------------------------------------------------------- window and features

    @property
    def window(self) -> int:
        return int(math.ceil(self.config.max_seconds - 1e-6))

    def _fix_window(self, examples) -> None:
        """`max_seconds` from the longest training clip (whole seconds, at most the model's window):
        Whisper's encoder is cut to it, so short clips do not pay for 30 s of padding."""
        from ...audio.models import choose_window, window_limit

        limit = window_limit(self.folder)
        if self.config.max_seconds is None:
            self.config.max_seconds = float(choose_window(examples.items, self.sample_rate, limit))
        elif self.config.max_seconds > limit:
            raise ConfigError(f"invalid max_seconds: {self.config.max_seconds:g} s is longer than the {limit} s this "
                              f"model reads; pass --max-seconds {limit} or less")

    @property
    def extractor(self):
        from ...audio.models import feature_extractor

        if self._extractor is None or getattr(self, "_extractor_window", None) != self.window:
            self._extractor, self._extractor_window = feature_extractor(self.folder, self.window), self.window
        return self._extractor

    @property
    def sample_rate(self) -> int:
        import json

        doc = json.loads((Path(self.folder) / "preprocessor_config.json").read_text(encoding="utf-8"))
        return int(doc.get("sampling_rate", 16000))

    def _use_folder(self, model: str) -> Path:
        from ...sources import resolve_model

        self.folder = Path(resolve_model(str(model)).path)
        if not (self.folder / "preprocessor_config.json").is_file():
            raise ConfigError(f"invalid model: {model} has no feature extractor (preprocessor_config.json); an audio "
                              "model folder needs one")
        self._extractor = None
        return self.folder

    # ---------------------------------------------------------------- data

    def _reader(self, audio_column=None, transcript_column=None):
        from ...audio.transcripts import TranscriptReader

        return TranscriptReader(audio_column or self.config.audio_column,
                                transcript_column or self.config.transcript_column)

    def load_data(self, train, validation=None, test=None):
        from ...data import load_splits

        splits = load_splits(self._reader(), train, validation, test, seed=self.config.seed)
        self.label_names = []
        return splits

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Clips to transcribe (paths, a folder, a manifest, waves) or, `labelled`, with their transcripts."""
        from ...audio.files import AUDIO_SUFFIXES, as_audio_examples
        from ...audio.transcripts import TranscribedAudio
        from ...data import load_split

        if not labelled and (not isinstance(source, (str, Path)) or Path(source).is_dir()
                             or Path(source).suffix.lower() in AUDIO_SUFFIXES):
            if isinstance(source, TranscribedAudio):
                return source
            if isinstance(source, (str, Path)) and Path(source).is_dir():
                from ...audio.files import AUDIO

                files = sorted(str(p) for p in Path(source).rglob("*") if AUDIO.is_file(p))
                if not files:
                    raise DataError(f"{source}: no audio files ({', '.join(AUDIO_SUFFIXES)}) in this folder")
                return TranscribedAudio(files, None, np.arange(1, len(files) + 1), str(source))
            clips = as_audio_examples(source)
            return TranscribedAudio(list(clips.items), None, clips.rows, clips.source)
        return load_split(self._reader(column, label_column), source, require_labels=labelled,
                          seed=self.config.seed, source="audio")

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        from ...audio.models import shorten_window
        from ...audio.recognition import build_recognizer_model, recognizer_for

        cfg = self.config
        self._use_folder(model)
        self._fix_window(data.train)
        self.recognizer = recognizer_for(self.folder, data.train.texts, cfg.language)
        network = build_recognizer_model(self.folder, self.recognizer, cfg.dropout,
                                         getattr(cfg, "spec_augment", False))
        shorten_window(network, self.window)
        if self.recognizer.kind == "whisper" and self.recognizer.multilingual and cfg.language is None:
            cfg.language = self.recognizer.language = self._detect_language(network, data.train)
        if self.recognizer.kind == "ctc":
            network.freeze_feature_encoder()  # the convolutional front end stays as pretrained (wav2vec 2.0 recipe)
        if getattr(cfg, "freeze_encoder", False):
            if self.recognizer.kind == "whisper":
                network.get_encoder().requires_grad_(False)
            else:
                for name, param in network.named_parameters():
                    param.requires_grad_(name.startswith("lm_head."))
        return network.train()

    def _detect_language(self, network, examples) -> str:
        """The language most of a sample of training clips is in, as the pretrained Whisper hears it."""
        import collections

        import torch

        from ...data.labels import warn

        sample = examples.subset(np.arange(min(LANGUAGE_SAMPLE, len(examples))))
        dataset = self.encode(sample)
        batch = self.collate(dataset, np.arange(len(dataset)))
        with torch.inference_mode():
            encoded = network.get_encoder()(batch["input_features"]).last_hidden_state
            votes = collections.Counter(self.recognizer.detect_language(network, encoded))
        language, count = votes.most_common(1)[0]
        warn(f"language: {language} (detected in {count} of {len(dataset)} training clips); pass --language to choose")
        return language

    def save(self, model, directory: Path) -> None:
        from ...progress import quiet_transformers

        quiet_transformers()
        model.save_pretrained(directory)
        self.extractor.save_pretrained(directory)
        self.recognizer.save(directory)

    def load_model(self, folder: Path, label_names):
        from ...audio.recognition import load_recognizer_model, recognizer_for

        model = load_recognizer_model(Path(folder))
        self.folder, self._extractor, self.label_names = Path(folder), None, []
        self.recognizer = recognizer_for(self.folder, language=getattr(self.config, "language", None))
        if getattr(self.config, "max_seconds", None) is None:
            from ...audio.models import window_limit

            self.config.max_seconds = float(window_limit(self.folder))
        return model

    # ---------------------------------------------------------------- batches

    def encode(self, examples, *, training: bool = False) -> SpeechDataset:
        from ...audio.chunks import cut_windows, overlap_for
        from ...audio.decode import read_wave
        from ...audio.files import AUDIO
        from ...data.files import decode_each
        from ...data.labels import warn

        bad = getattr(self.config, "bad_audio", "skip")
        rate = self.sample_rate
        kept, waves = decode_each(examples, lambda item: read_wave(item, rate), AUDIO, bad, "--bad-audio")
        names = [examples.names[i] for i in kept]
        texts = None if examples.texts is None else [examples.texts[i] for i in kept]
        window = self.window * rate
        if training:
            long = [i for i, w in enumerate(waves) if len(w) > window]
            if long and (bad == "error" or len(long) == len(waves)):
                raise DataError(f"{names[long[0]]}: {len(waves[long[0]]) / rate:.1f} s, longer than the {self.window} s "
                                f"window the model reads ({len(long)} training clip(s) are); split long clips and "
                                "their transcripts into shorter ones")
            if long:
                warn(f"{examples.source}: skipped {len(long)} training clip(s) longer than the {self.window} s window "
                     f"(first: {names[long[0]]}); split them and their transcripts to train on them")
                keep = [i for i in range(len(waves)) if i not in set(long)]
                waves, names = [waves[i] for i in keep], [names[i] for i in keep]
                texts = None if texts is None else [texts[i] for i in keep]
        targets = None if texts is None else self.recognizer.encode_texts(texts, names, self._target_limit())
        pieces, owner = cut_windows(waves, window, int(overlap_for(self.window) * rate))
        return SpeechDataset(pieces, owner, targets, texts, names, rate)

    def _target_limit(self) -> int:
        """The decoder's longest sequence (Whisper: 448 positions), read from the model folder."""
        import json

        config = json.loads((self.folder / "config.json").read_text(encoding="utf-8"))
        return int(config.get("max_target_positions", 448))

    def collate(self, dataset: SpeechDataset, indices, rng=None) -> dict:
        import torch

        from ...audio.models import model_inputs

        indices = np.asarray(indices)
        waves = [dataset.waves[i] for i in indices]
        cfg = self.config
        if rng is not None and (getattr(cfg, "speed_perturb", 0.0) or getattr(cfg, "noise_snr", None) is not None):
            from ...audio.augment import perturb

            waves = [perturb(w, rng, dataset.sample_rate, cfg.speed_perturb, cfg.noise_snr,
                             self.window * dataset.sample_rate) for w in waves]
        batch = model_inputs(self.extractor, waves, dataset.sample_rate)
        batch.pop("frames", None)
        if "attention_mask" in batch and not getattr(self.extractor, "return_attention_mask", True):
            batch.pop("attention_mask")  # group-norm Wav2Vec2s read zero padding, not a mask (its model card)
        batch["seconds"] = torch.tensor([len(w) / dataset.sample_rate for w in waves])
        targets = None if dataset.targets is None else [dataset.targets[dataset.owner[i]] for i in indices]
        # One window per clip, every clip transcribed (a transfer set's unlabelled clips are not): trainable.
        if targets is not None and len(dataset) == dataset.clips and all(t is not None for t in targets):
            self.recognizer.targets(batch, targets)
        return batch

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        import torch

        if self.recognizer.kind == "whisper":
            prompt = batch.get("decoder_input_ids")
            if prompt is None:
                prompt = torch.tensor([self.recognizer.prompt()] * len(batch["input_features"]))
            return model(input_features=batch["input_features"], decoder_input_ids=prompt,
                         output_hidden_states=hidden_states, output_attentions=attentions)
        return model(**{k: batch[k] for k in ("input_values", "attention_mask") if k in batch},
                     output_hidden_states=hidden_states, output_attentions=attentions)

    def loss(self, model, batch: dict):
        return self.recognizer.loss(model, batch, getattr(self.config, "label_smoothing", 0.0))

    def predict(self, model, batch: dict):
        return self.recognizer.transcribe(model, batch)

    # ---------------------------------------------------------------- outputs -> transcripts

    def _windows(self, dataset: SpeechDataset, outputs: np.ndarray) -> tuple[list[str], list[np.ndarray]]:
        """Per clip: its transcript (windows joined) and the log-probabilities of its tokens."""
        from ...audio.chunks import per_clip

        return per_clip(dataset, outputs, self.recognizer.decode)

    def transcripts(self, dataset, outputs: np.ndarray) -> list[str]:
        return self._windows(dataset, outputs)[0]

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        from ...audio.recognition import rates

        sums = self.score_parts(dataset, outputs).sum(axis=0)
        wer, cer = rates(sums)
        return {"wer": float(wer), "cer": float(cer), "n": int(dataset.clips), "words": int(sums[1])}

    def score_parts(self, dataset, outputs: np.ndarray) -> np.ndarray:
        from ...audio.recognition import error_counts

        return error_counts(dataset.texts, self.transcripts(dataset, outputs))

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        from ...audio.recognition import rates

        return rates(sums)[0]

    def summary(self, metrics: dict) -> str:
        return (f"WER [bold green]{metrics['wer']:.4f}[/]  CER [bold]{metrics['cer']:.4f}[/]  "
                f"(n={metrics.get('n', '?')})")

    def probabilities(self, examples, dataset, outputs: np.ndarray) -> list[np.ndarray]:
        """Per clip, the probability of each token (Whisper) or frame (CTC) it was transcribed with."""
        return [np.exp(x).astype(np.float32) for x in self._windows(dataset, outputs)[1]]

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list[str]:
        return self.transcripts(dataset, outputs)

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        texts, logps = self._windows(dataset, outputs)
        return [{"path": name, "text": text, "confidence": round(float(np.exp(lp.mean())) if len(lp) else 0.0, 6)}
                for name, text, lp in zip(dataset.names, texts, logps)]

    def review_rows(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        from ...audio.recognition import normalize

        return [{"path": r["path"], "true": truth, "predicted": r["text"], "confidence": r["confidence"],
                 "correct": normalize(truth) == normalize(r["text"])}
                for r, truth in zip(self.records(examples, dataset, outputs), dataset.texts)]

    def raw_inputs(self, examples) -> list:
        return list(examples.items)

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        from ...outputs.tables import write_jsonl

        rows = self.records(examples, dataset, outputs)
        write_jsonl(Path(path), rows)
        return len(rows)

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        from rich.console import Console

        console = Console()
        for record in self.records(examples, dataset, outputs):
            console.print(f"[bold]{record['path']}[/]  {record['text']}  [dim]({record['confidence']:.2f})[/]")

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ...audio.tiny import tiny_whisper, tone_clips, write_transcribed_folder

        workdir = Path(workdir)
        model = tiny_whisper(workdir / "tiny-whisper")
        return TaskExample(model=model, train=write_transcribed_folder(workdir / "train", *tone_clips(32, 1)),
                           validation=write_transcribed_folder(workdir / "validation", *tone_clips(16, 2)),
                           inputs=tone_clips(4, 3)[0], settings={"batch_size": 8, "lr": 3e-3, "precision": "fp32"})
