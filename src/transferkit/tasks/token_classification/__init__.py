"""Token classification (NER): a pretrained encoder + AutoModelForTokenClassification head.

| module | what |
| --- | --- |
| `conll.py` | CoNLL and JSONL readers (one-line errors with file and line), `NerExamples` |
| `schemes.py` | IOB1 / IOB2 / BIOES detection and conversion, entity chunks |
| `data.py` | the split reader (files, folders, named datasets, lists in memory), label names |
| `windows.py` | words -> overlapping sub-word windows; outputs -> one score per word |
| `metrics.py` | seqeval entity micro/macro/per-type F1 and token accuracy |
| `shapes.py` | word shapes (Xxxx, XXXX, dd) as token types: the casing an uncased tokenizer loses |
| `entities.py` | tags, entities (character spans for texts) and prediction records |
| `tiny.py` | a tiny tagging set and model for the contract tests |

Data are pre-split words with IOB2 tags. The tag of a word is trained on its first sub-word
(or all, with --label-all-subwords); long sentences become overlapping windows so no word is
dropped. Evaluation maps predictions back to words and scores entities with seqeval; early
stopping watches the entity-level micro F1 (`f1`) by default. The saved model is a plain
Hugging Face folder with the tag names in id2label.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import Field

from ...data import TAGGED_TOKENS, load_split
from ...errors import ConfigError
from ...settings import Settings
from ...text import hf
from ...text.options import TextInput
from .. import TASKS
from ..base import Task, TaskExample
from . import shapes
from .conll import NerExamples, is_word_file
from .data import TaggedTokenReader, load_ner_splits
from .entities import print_entities, records
from .metrics import ner_metrics
from .windows import IGNORE, TokenWindows, collate_windows, encode_sentences, window_arrays, word_scores


class TokenData(TextInput):
    tag_column: int = Field(-1, description="token-classification: CoNLL column with the tag (0 is the token, -1 "
                                            "the last).")
    tag_scheme: Literal["auto", "iob1", "iob2", "bio", "bioes", "iobes"] = Field(
        "auto", description="token-classification: tagging scheme of the files (auto: detected); IOB2 inside.")
    repair_tags: bool = Field(False, description="token-classification: turn an I- tag that starts an entity into "
                                                 "B- instead of failing.")
    window_stride: int | None = Field(None, ge=0, description="token-classification: sub-words shared by the "
                                      "overlapping windows a long sentence is cut into (default max_length/4).")


class TokenTraining(Settings):
    label_all_subwords: bool = Field(False, description="token-classification: train every sub-word of a word, not "
                                                        "only the first (B- continues as I-).")
    word_shapes: bool | None = Field(None, description="token-classification: feed each word's shape (Xxxx, XXXX, "
                                                       "dd, ...) as its token type, giving back the casing an uncased "
                                                       "tokenizer loses (default: on for uncased tokenizers).")


@TASKS.register("token-classification")
class TokenClassification(Task):
    dataset_kind = TAGGED_TOKENS
    families = ("text-encoder",)
    # A new per-token head over few labelled tokens per sentence wants a larger step than a sentence
    # classifier: benchmarks/defaults.py, ner group, validation entity F1 on conll2003 3,000 at 3
    # epochs: lr 5e-5 75.3, 1e-4 84.1, 3e-4 87.1, 6e-4 84.5 (defaults.json has every data set).
    recommended = {"text-encoder": {"lr": 3e-4}}
    DataOptions = TokenData
    TrainOptions = TokenTraining
    student_inherits = ("tag_column", "tag_scheme", "repair_tags", "max_length", "window_stride")
    metric_names = ("f1", "loss", "accuracy", "precision", "recall", "macro_f1", "macro_precision", "macro_recall",
                    "weighted_f1")
    default_metric = "f1"
    headline_metric = "f1"  # entity-level micro F1
    # Entities are nested lists a flat table cannot hold: predictions are JSON lines.
    prediction_suffix = ".predictions.jsonl"

    def _auto_class(self):
        from transformers import AutoModelForTokenClassification

        return AutoModelForTokenClassification

    def _reader(self) -> TaggedTokenReader:
        cfg = self.config
        return TaggedTokenReader(cfg.tag_column, cfg.tag_scheme, cfg.repair_tags)

    # ---------------------------------------------------------------- data

    def load_data(self, train, validation=None, test=None):
        cfg = self.config
        splits = load_ner_splits(train, validation, test, seed=cfg.seed, tag_column=cfg.tag_column,
                                 scheme=cfg.tag_scheme, repair=cfg.repair_tags)
        self.label_names = list(splits.label_names)
        return splits

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Raw texts (a list of strings, or a table of texts: words are cut with character spans),
        pre-split sentences (word lists, CoNLL or JSONL tokens), or tagged data to evaluate."""
        if isinstance(source, (list, tuple)) and all(isinstance(t, str) for t in source):
            return NerExamples.from_texts(list(source), range(1, len(source) + 1), "texts")
        if not labelled and isinstance(source, (str, os.PathLike)) and Path(source).is_file() \
                and not is_word_file(source):
            from ...text.examples import TextTableReader

            texts = load_split(TextTableReader(column, None, drop_invalid), source, require_labels=False)
            return NerExamples.from_texts(texts.texts, texts.rows, texts.source)
        return load_split(self._reader(), source, require_labels=labelled, seed=self.config.seed, source="sentences")

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        from ...sources import resolve_model

        folder = resolve_model(model).path
        self.tokenizer = hf.load_tokenizer(folder, need_fast="token classification needs one to align tags "
                                                              "with sub-words")
        network = hf.with_new_head(self._auto_class(), folder, self.label_names, self.config.dropout)
        self._set_word_shapes(network)
        self.position_limit = hf.position_limit(network.config)
        return network

    def _set_word_shapes(self, network) -> None:
        """Decide word shapes for a model about to train (recorded in the run's config) and widen its
        token-type table; `auto` is on for uncased tokenizers on encoders with token types."""
        cfg = self.config
        wanted = getattr(cfg, "word_shapes", False)
        if wanted is None:
            wanted = shapes.is_uncased(self.tokenizer) and shapes.supports_shapes(network)
            cfg.word_shapes = wanted
        elif wanted and not shapes.supports_shapes(network):
            raise ConfigError(f"invalid word_shapes: {type(network).__name__} has no token-type embeddings to carry "
                              "word shapes; drop --word-shapes")
        if wanted:
            shapes.add_shape_embeddings(network)
        self.word_shapes = bool(wanted)

    def save(self, model, directory: Path) -> None:
        hf.save(model, self.tokenizer, directory)

    def load_model(self, folder: Path, label_names):
        self.label_names = list(label_names)
        self.tokenizer = hf.load_tokenizer(folder)
        model = hf.load_trained(self._auto_class(), folder)
        self.word_shapes = shapes.uses_shapes(model)  # the model folder says how it reads its inputs
        self.position_limit = hf.position_limit(model.config)
        return model

    def load_exported(self, folder: Path, label_names) -> None:
        import json

        from ...text.fast_tokenizer import FastTokenizer

        self.label_names, self.tokenizer = list(label_names), FastTokenizer(folder)
        config = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        self.word_shapes = bool(config.get(shapes.CONFIG_KEY, False))
        self.position_limit = hf.position_limit(config)

    def inference_arrays(self, dataset: TokenWindows, indices) -> dict:
        batch = window_arrays(dataset, indices, self.tokenizer.pad_token_id or 0)
        batch.pop("labels", None)
        return batch

    @property
    def label2id(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.label_names)}

    # ---------------------------------------------------------------- batches

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "augment_copies", 0):
            raise ConfigError("invalid augment_copies: word-level copies are for text-classification")

    def encode(self, examples: NerExamples, *, training: bool = False) -> TokenWindows:
        cfg = self.config
        all_subwords = getattr(cfg, "label_all_subwords", False) and training
        max_length = hf.capped_length(cfg.max_length, getattr(self, "position_limit", None))
        return encode_sentences(self.tokenizer, examples.tokens, examples.tags, self.label2id, max_length,
                                cfg.window_stride, all_subwords, getattr(self, "word_shapes", False))

    def collate(self, dataset: TokenWindows, indices, rng=None) -> dict:
        return collate_windows(dataset, indices, self.tokenizer.pad_token_id or 0)

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        return hf.forward(model, batch, hidden_states=hidden_states, attentions=attentions)

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits = self.predict(model, batch).float()
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE,
                               label_smoothing=getattr(self.config, "label_smoothing", 0.0))

    def evaluate(self, dataset: TokenWindows, outputs: np.ndarray) -> dict:
        from ...outputs.metrics import log_softmax

        per_sentence = word_scores(dataset, outputs)
        predicted = [[self.label_names[i] for i in s.argmax(-1)] for s in per_sentence]
        # Entity types this model never saw simply count as missed entities; the loss skips them.
        metrics = ner_metrics(dataset.gold, predicted)
        ids = self.label2id
        gold_ids = np.fromiter((ids.get(t, -1) for s in dataset.gold for t in s), dtype=np.int64)
        known = gold_ids >= 0
        log_probs = log_softmax(np.concatenate(per_sentence), axis=-1)[known]
        metrics["loss"] = float(-log_probs[np.arange(len(log_probs)), gold_ids[known]].mean()) if known.any() else 0.0
        return metrics

    def score_parts(self, dataset: TokenWindows, outputs: np.ndarray) -> np.ndarray:
        """Per sentence (true positives, false positives, false negatives) of entities."""
        from seqeval.metrics.sequence_labeling import get_entities

        rows = []
        for gold, scores in zip(dataset.gold, word_scores(dataset, outputs)):
            predicted = [self.label_names[i] for i in scores.argmax(-1)]
            truth, found = set(get_entities(list(gold))), set(get_entities(predicted))
            hits = len(truth & found)
            rows.append((hits, len(found) - hits, len(truth) - hits))
        return np.asarray(rows, dtype=np.float64).reshape(-1, 3)

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
        return np.where(2 * tp + fp + fn > 0, 2 * tp / np.maximum(2 * tp + fp + fn, 1), 0.0)

    def raw_inputs(self, examples) -> list:
        return [list(words) for words in examples.tokens]

    def summary(self, metrics: dict) -> str:
        return (f"entity F1 [bold green]{metrics['f1']:.4f}[/] (P {metrics['precision']:.4f}, "
                f"R {metrics['recall']:.4f})  macro F1 {metrics['macro_f1']:.4f}  "
                f"token accuracy {metrics['accuracy']:.4f}  (n={metrics.get('n', '?')})")

    # ---------------------------------------------------------------- predictions

    def probabilities(self, examples, dataset: TokenWindows, outputs: np.ndarray) -> list[np.ndarray]:
        """Per sentence, a (words, tags) array of probabilities."""
        from ...outputs.metrics import softmax

        return [softmax(s, axis=-1) for s in word_scores(dataset, outputs)]

    def records(self, examples, dataset, outputs) -> list[dict]:
        return records(examples, self.probabilities(examples, dataset, outputs), self.label_names)

    def review_rows(self, examples, dataset, outputs) -> list[dict]:
        """Per sentence: its words, gold and predicted tags, the confidence of each predicted tag."""
        rows = []
        for words, gold, probs in zip(examples.tokens, dataset.gold, self.probabilities(examples, dataset, outputs)):
            predicted = [self.label_names[i] for i in probs.argmax(-1)]
            rows.append({"tokens": list(words), "true": list(gold), "predicted": predicted,
                         "confidence": [round(float(p), 4) for p in probs.max(-1)], "correct": predicted == list(gold)})
        return rows

    def predictions(self, examples, dataset, outputs) -> list[list[dict]]:
        """Per input, its entities: character spans for texts, token ranges for word lists."""
        return [r["entities"] for r in self.records(examples, dataset, outputs)]

    def write_predictions(self, examples, dataset, outputs, path: Path) -> int:
        from ...outputs.tables import write_jsonl

        rows = self.records(examples, dataset, outputs)
        write_jsonl(path, rows)
        return len(rows)

    def show_predictions(self, examples, dataset, outputs) -> None:
        print_entities(self.records(examples, dataset, outputs))

    # ---------------------------------------------------------------- distillation

    def read_unlabeled(self, source):
        return self.read_inputs(source)

    def teacher_inputs(self, batch: dict, teacher_task) -> dict:
        """The same sub-words; the word shapes only for a teacher trained with them."""
        mine, theirs = getattr(self, "word_shapes", False), getattr(teacher_task, "word_shapes", False)
        if mine == theirs:
            return batch
        if theirs:
            raise ConfigError("invalid teacher: it reads word shapes and the student does not; distil with "
                              "--word-shapes or --teacher-outputs cached")
        return {k: v for k, v in batch.items() if k != "token_type_ids"}

    def concat(self, parts) -> TokenWindows:
        windows = list(parts)
        sentence, n_words, start = [], [], 0
        for part in windows:
            sentence.append(part.sentence + start)
            n_words.extend(part.n_words)
            start += len(part.n_words)
        labels = [lab for part in windows
                  for lab in (part.labels or [np.full(len(ids), IGNORE, dtype=np.int64) for ids in part.input_ids])]
        gold = [g for part in windows for g in (part.gold or [["O"] * n for n in part.n_words])]
        types = [x for p in windows for x in p.types] if all(p.types is not None for p in windows) else None
        return TokenWindows([x for p in windows for x in p.input_ids], labels, [x for p in windows for x in p.first],
                            [x for p in windows for x in p.words], np.concatenate(sentence), n_words, gold, types)

    def soft_targets(self, dataset: TokenWindows, outputs: np.ndarray):
        # Per word (its first sub-word's logits): a student with another tokenizer can use them too.
        per_sentence = word_scores(dataset, outputs)
        offsets = np.zeros(len(per_sentence) + 1, dtype=np.int64)
        np.cumsum([len(s) for s in per_sentence], out=offsets[1:])
        return np.concatenate(per_sentence).astype(np.float32), offsets

    def add_soft_targets(self, batch: dict, dataset: TokenWindows, indices, rows, offsets) -> dict:
        import torch

        length, n_labels = batch["input_ids"].shape[1], rows.shape[1]
        logits = torch.zeros((len(indices), length, n_labels), dtype=torch.float32)
        mask = torch.zeros((len(indices), length), dtype=torch.bool)
        for row, w in enumerate(indices):
            start = offsets[dataset.sentence[w]]
            first = torch.from_numpy(dataset.first[w])
            logits[row, first] = torch.from_numpy(np.asarray(rows[start + dataset.words[w]], dtype=np.float32))
            mask[row, first] = True
        batch["teacher_logits"], batch["teacher_mask"] = logits, mask
        return batch

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from .tiny import tagged_sentences, tiny_tagger, write_conll

        workdir = Path(workdir)
        return TaskExample(model=str(tiny_tagger(workdir / "tiny-ner-bert")),
                           train=write_conll(workdir / "train.conll", *tagged_sentences(96, 1)),
                           validation=write_conll(workdir / "validation.conll", *tagged_sentences(32, 2)),
                           inputs=["alice went to paris", "bob met carol"])
