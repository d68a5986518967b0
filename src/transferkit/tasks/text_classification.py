"""Text classification: a pretrained encoder + AutoModelForSequenceClassification head.

Texts are tokenised once per (tokenizer, texts, max_length) and cached on disk as one flat
int32 array plus offsets; batches are padded to their longest member only. The loss is
cross-entropy with optional label smoothing and class weights. The trained model is a plain
Hugging Face folder whose config carries the label names (id2label / label2id).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .._io import atomic_file
from ..augment import augment_tokens
from ..batching import concat_ragged, pad, sorted_batches, tokenize
from ..errors import ConfigError, DataError, TransferkitError
from ..metrics import classification_metrics
from ..runs import Predictor
from . import Task, register_task

_CACHE_FORMAT = 1


@dataclass
class TokenizedTexts:
    """Token ids of one split, stored flat: example i is flat[offsets[i]:offsets[i + 1]]."""

    flat: np.ndarray
    offsets: np.ndarray
    labels: np.ndarray | None

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def ids(self, i: int) -> np.ndarray:
        return self.flat[self.offsets[i]:self.offsets[i + 1]]


def _tokenizer_fingerprint(tokenizer) -> bytes:
    """A digest of what maps text to ids; truncation/padding state is left out because calling the
    tokenizer changes it."""
    spec = json.loads(tokenizer.backend_tokenizer.to_str())
    spec.pop("truncation", None)
    spec.pop("padding", None)
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).digest()


def tokenize_cached(tokenizer, texts: Sequence[str], max_length: int, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(flat ids, offsets), read from `cache_dir` when this tokenizer already saw these texts."""
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(f"{_CACHE_FORMAT}|{max_length}|".encode())
        key.update(_tokenizer_fingerprint(tokenizer))
        for text in texts:
            key.update(text.encode("utf-8", "surrogatepass") + b"\x00")
        path = cache_dir / f"{key.hexdigest()[:32]}.npz"
        if path.is_file():
            with np.load(path) as cached:
                return cached["flat"], cached["offsets"]
    ids = tokenize(tokenizer, texts, max_length)
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ids], out=offsets[1:])
    flat = np.fromiter((t for x in ids for t in x), dtype=np.int32, count=int(offsets[-1]))
    if path is not None:
        with atomic_file(path) as f:
            np.savez(f, flat=flat, offsets=offsets)
    return flat, offsets


@dataclass
class ClassificationData:
    train: Any
    validation: Any
    test: Any
    label_names: list[str]
    text_column: str | None = None
    label_column: str | None = None
    split_info: dict | None = None


def _in_memory(split, labels, source: str):
    """A TextExamples from (texts, raw labels) or an existing TextExamples, encoded with `labels`."""
    from ..data import TextExamples

    if split is None or isinstance(split, TextExamples):
        return split
    texts, raw = split
    texts = [str(t) for t in texts]
    if len(texts) != len(raw):
        raise DataError(f"{source}: {len(texts)} texts but {len(raw)} labels")
    rows = np.arange(1, len(texts) + 1)
    ids = labels.encode(list(raw), source=source, rows=rows, row_kind="item")
    return TextExamples(texts, ids, rows, source, labels)


@register_task("text-classification")
class TextClassification(Task):
    metric_names = ("loss", "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall")

    def load_data(self, train, validation=None, test=None) -> ClassificationData:
        from ..data import LabelMap, TextExamples, load_text_splits

        cfg = self.config
        if isinstance(train, (str, os.PathLike)):
            if not all(s is None or isinstance(s, (str, os.PathLike)) for s in (validation, test)):
                raise ConfigError("validation/test: pass files when train is a file")
            splits = load_text_splits(train, validation, test, text_column=cfg.text_column,
                                      label_column=cfg.label_column, seed=cfg.seed, drop_invalid=cfg.drop_invalid)
            return ClassificationData(splits.train, splits.validation, splits.test, list(splits.labels.names),
                                      splits.text_column, splits.label_column, splits.split_info)
        if isinstance(train, TextExamples):
            labels = train.label_map
        else:
            labels = LabelMap.from_values(train[1])
        if labels is None or len(labels) < 2:
            raise DataError("train: need labels of at least two classes")
        parts = [_in_memory(s, labels, name) for s, name in ((train, "train"), (validation, "validation"), (test, "test"))]
        return ClassificationData(*parts, label_names=list(labels.names))

    # ---------------------------------------------------------------- model

    def build_model(self, model_path: Path, data: ClassificationData):
        import torch
        from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

        from ..progress import quiet_transformers

        quiet_transformers()  # the "newly initialized head" notice is the expected state here
        names = self.label_names = list(data.label_names)
        config = AutoConfig.from_pretrained(model_path, num_labels=len(names),
                                            id2label=dict(enumerate(names)), label2id={n: i for i, n in enumerate(names)})
        if self.config.dropout is not None:
            for key, value in config.to_dict().items():
                if "dropout" in key and (value is None or isinstance(value, float)):
                    setattr(config, key, self.config.dropout)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForSequenceClassification.from_pretrained(model_path, config=config, dtype=torch.float32)
        self.class_weights = self._class_weights(data)
        return model

    def _class_weights(self, data: ClassificationData):
        import torch

        setting, names = self.config.class_weights, data.label_names
        if setting is None:
            return None
        if setting == "balanced":  # scikit-learn's formula: n / (k * count)
            counts = np.bincount(data.train.labels, minlength=len(names)).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 1.0)
        elif isinstance(setting, dict):
            unknown = sorted(set(setting) - set(names))
            if unknown:
                raise ConfigError(f"invalid class_weights: unknown label(s) {', '.join(unknown)}; labels: {', '.join(names)}")
            weights = np.array([setting.get(n, 1.0) for n in names])
        else:
            if len(setting) != len(names):
                raise ConfigError(f"invalid class_weights: {len(setting)} weights for {len(names)} labels ({', '.join(names)})")
            weights = np.asarray(setting)
        return torch.tensor(weights, dtype=torch.float32)

    # ---------------------------------------------------------------- data

    def encode(self, examples, *, training: bool = False) -> TokenizedTexts:
        from ..paths import home

        cache = home() / "cache" / "tokens" if self.config.cache_tokens else None
        flat, offsets = tokenize_cached(self.tokenizer, examples.texts, self.config.max_length, cache)
        return TokenizedTexts(flat, offsets, examples.labels)

    def collate(self, dataset: TokenizedTexts, indices, rng=None) -> dict:
        import torch

        cfg = self.config
        seqs = [dataset.ids(i) for i in indices]
        if rng is not None and (cfg.augment_delete > 0 or cfg.augment_swap > 0):
            protected = set(self.tokenizer.all_special_ids)
            seqs = [augment_tokens(s, rng, delete=cfg.augment_delete, swap=cfg.augment_swap, protected=protected)
                    for s in seqs]
        input_ids, attention_mask = pad(seqs, self.tokenizer.pad_token_id or 0)
        batch = {"input_ids": input_ids, "attention_mask": attention_mask}
        if dataset.labels is not None:
            batch["labels"] = torch.from_numpy(dataset.labels[np.asarray(indices)])
        return batch

    # ---------------------------------------------------------------- training and evaluation

    def predict(self, model, batch: dict):
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits = self.predict(model, batch).float()
        weight = self.class_weights
        if weight is not None and weight.device != logits.device:
            weight = self.class_weights = weight.to(logits.device)
        return F.cross_entropy(logits, batch["labels"], weight=weight, label_smoothing=self.config.label_smoothing)

    def evaluate(self, dataset: TokenizedTexts, outputs: np.ndarray) -> dict:
        labels = dataset.labels
        from scipy.special import log_softmax

        log_probs = log_softmax(outputs, axis=1)
        metrics = classification_metrics(labels, outputs.argmax(axis=1), self.label_names)
        metrics["loss"] = float(-log_probs[np.arange(len(labels)), labels].mean())
        return metrics

    def save(self, model, directory: Path) -> None:
        model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    # ---------------------------------------------------------------- distillation

    def load_trained(self, folder: Path, label_names):
        from transformers import AutoModelForSequenceClassification

        return self._load_trained(AutoModelForSequenceClassification, folder, label_names)

    def _load_trained(self, auto_class, folder: Path, label_names):
        import torch
        from transformers import AutoTokenizer

        from ..progress import quiet_transformers

        quiet_transformers()
        self.label_names, self.class_weights = list(label_names), None
        self.label2id = {n: i for i, n in enumerate(self.label_names)}
        self.tokenizer = AutoTokenizer.from_pretrained(folder)
        return auto_class.from_pretrained(folder, dtype=torch.float32).eval()

    def read_unlabeled(self, source):
        from ..data import TextExamples, load_texts

        if isinstance(source, TextExamples):
            return source
        if isinstance(source, (str, os.PathLike)):
            read = partial(load_texts, source, require_labels=False, drop_invalid=self.config.drop_invalid)
            try:
                return read(text_column=self.config.text_column)
            except DataError as e:  # the train file's column name need not be the unlabelled file's
                if self.config.text_column is None or "no column" not in str(e):
                    raise
                return read(text_column=None)
        texts = [str(t) for t in source]
        return TextExamples(texts, None, np.arange(1, len(texts) + 1), "unlabeled")

    def concat(self, parts) -> TokenizedTexts:
        flat, offsets = concat_ragged([(part.flat[:part.offsets[-1]], part.offsets) for part in parts])
        labels = [part.labels if part.labels is not None else np.full(len(part), -100, dtype=np.int64) for part in parts]
        return TokenizedTexts(flat, offsets, np.concatenate(labels).astype(np.int64))

    # ---------------------------------------------------------------- inference

    def predictor(self, model, run_dir: Path | None) -> "TextClassifierRun":
        return TextClassifierRun(model, self.tokenizer, self.config.max_length, self.config.eval_batch_size or 64, run_dir)

    @classmethod
    def load_predictor(cls, run_dir: Path, config: dict) -> "TextClassifierRun":
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        from ..progress import quiet_transformers

        folder = run_dir / "model"
        if not (folder / "config.json").is_file():
            raise TransferkitError(f"{run_dir}: no fine-tuned model in model/ (the run did not finish; "
                                   "continue it with --resume)")
        quiet_transformers()
        model = AutoModelForSequenceClassification.from_pretrained(folder, dtype=torch.float32)
        return TextClassifierRun(model, AutoTokenizer.from_pretrained(folder), config.get("max_length", 128),
                                 config.get("eval_batch_size") or 64, run_dir)


class TextClassifierRun(Predictor):
    """A fine-tuned classifier in memory: texts -> class probabilities (fp32, longest batch first)."""

    def __init__(self, model, tokenizer, max_length: int, batch_size: int, run_dir: Path | None = None):
        import torch

        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_length, self.batch_size, self.run_dir = max_length, batch_size, run_dir
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        id2label = model.config.id2label
        self.label_names = [id2label[i] for i in range(len(id2label))]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        import torch

        ids = tokenize(self.tokenizer, list(texts), self.max_length)
        probs = np.zeros((len(ids), len(self.label_names)), dtype=np.float32)
        self.model.to(self.device)
        with torch.inference_mode():
            for batch in sorted_batches([len(x) for x in ids], self.batch_size):
                input_ids, mask = pad([ids[i] for i in batch], self.tokenizer.pad_token_id or 0)
                logits = self.model(input_ids=input_ids.to(self.device), attention_mask=mask.to(self.device)).logits
                probs[batch] = torch.softmax(logits.float(), dim=-1).cpu().numpy()
        return probs
