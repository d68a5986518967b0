"""Token classification (NER): a pretrained encoder + AutoModelForTokenClassification head.

Data are pre-split words with IOB2 tags (CoNLL or JSONL; IOB1/BIOES converted on reading, see
transferkit.ner). The tag of a word is trained on its first sub-word (or all, with
--label-all-subwords); long sentences become overlapping windows (transferkit.ner.encode).
Evaluation maps predictions back to words and scores entities with seqeval; the metric
early stopping watches by default is the entity-level micro F1 (`f1`).

The saved model is a plain Hugging Face folder with the tag names in id2label, so
`AutoModelForTokenClassification.from_pretrained(run/model)` serves it without transferkit.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ConfigError, TransferkitError
from ..ner.encode import IGNORE, TokenWindows, collate_windows, encode_sentences, word_scores
from ..ner.metrics import ner_metrics
from ..ner.predictor import TokenClassifierRun
from . import Task, register_task


def read_options(config) -> dict:
    """The reader settings of a run config (a FinetuneConfig or its saved dict)."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    return {"tag_column": get("tag_column", -1), "scheme": get("tag_scheme", "auto") or "auto",
            "repair": bool(get("repair_tags", False))}


@register_task("token-classification")
class TokenClassification(Task):
    metric_names = ("f1", "loss", "accuracy", "precision", "recall", "macro_f1", "macro_precision", "macro_recall",
                    "weighted_f1")
    default_metric = "f1"
    headline_metric = "f1"  # entity-level micro F1

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        if cfg.class_weights is not None or cfg.augment_delete or cfg.augment_swap:
            raise ConfigError("invalid settings for token-classification: class_weights and augment_* apply to "
                              "text-classification only")
        if cfg.text_column or cfg.label_column or cfg.drop_invalid:
            raise ConfigError("invalid settings for token-classification: text_column/label_column/drop_invalid "
                              "are for tables; CoNLL files use --tag-column")

    def load_data(self, train, validation=None, test=None):
        from ..ner.data import load_ner_splits

        return load_ner_splits(train, validation, test, seed=self.config.seed, **read_options(self.config))

    # ---------------------------------------------------------------- model

    def build_model(self, model_path: Path, data):
        import torch
        from transformers import AutoConfig, AutoModelForTokenClassification, AutoTokenizer

        from ..progress import quiet_transformers

        quiet_transformers()  # the "newly initialized head" notice is the expected state here
        names = self.label_names = list(data.label_names)
        self.label2id = {n: i for i, n in enumerate(names)}
        config = AutoConfig.from_pretrained(model_path, num_labels=len(names), id2label=dict(enumerate(names)),
                                            label2id=self.label2id)
        if self.config.dropout is not None:
            for key, value in config.to_dict().items():
                if "dropout" in key and (value is None or isinstance(value, float)):
                    setattr(config, key, self.config.dropout)
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if not getattr(self.tokenizer, "is_fast", False):
            # Word-to-sub-word alignment (word_ids) exists only in fast tokenizers.
            raise ConfigError(f"invalid model: {model_path} has no fast tokenizer (tokenizer.json); token "
                              "classification needs one to align tags with sub-words")
        return AutoModelForTokenClassification.from_pretrained(model_path, config=config, dtype=torch.float32)

    # ---------------------------------------------------------------- data

    def encode(self, examples, *, training: bool = False) -> TokenWindows:
        cfg = self.config
        return encode_sentences(self.tokenizer, examples.tokens, examples.tags, self.label2id, cfg.max_length,
                                cfg.window_stride, cfg.label_all_subwords and training)

    def collate(self, dataset: TokenWindows, indices, rng=None) -> dict:
        return collate_windows(dataset, indices, self.tokenizer.pad_token_id or 0)

    # ---------------------------------------------------------------- training and evaluation

    def predict(self, model, batch: dict):
        import torch.nn.functional as F

        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        # The loop stacks outputs of differently padded batches: pad every batch to max_length.
        return F.pad(logits, (0, 0, 0, self.config.max_length - logits.shape[1]))

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.float()
        return F.cross_entropy(logits.flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE,
                               label_smoothing=self.config.label_smoothing)

    def evaluate(self, dataset: TokenWindows, outputs: np.ndarray) -> dict:
        per_sentence = word_scores(dataset, outputs)
        predicted = [[self.label_names[i] for i in s.argmax(-1)] for s in per_sentence]
        metrics = ner_metrics(dataset.gold, predicted)
        gold_ids = np.concatenate([[self.label2id[t] for t in s] for s in dataset.gold])
        from scipy.special import log_softmax

        log_probs = log_softmax(np.concatenate(per_sentence), axis=-1)
        metrics["loss"] = float(-log_probs[np.arange(len(gold_ids)), gold_ids].mean())
        return metrics

    def save(self, model, directory: Path) -> None:
        model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    # ---------------------------------------------------------------- distillation

    def load_trained(self, folder: Path, label_names):
        from transformers import AutoModelForTokenClassification

        from .text_classification import TextClassification

        return TextClassification._load_trained(self, AutoModelForTokenClassification, folder, label_names)

    def read_unlabeled(self, source):
        from ..ner.conll import NerExamples
        from ..ner.data import load_ner

        if isinstance(source, NerExamples):
            return source
        if isinstance(source, (str, os.PathLike)):
            return load_ner(source, seed=self.config.seed, require_tags=False, **read_options(self.config))
        tokens = [[str(w) for w in sentence] for sentence in source]  # pre-split sentences
        return NerExamples(tokens, None, list(range(1, len(tokens) + 1)), "unlabeled")

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
        return TokenWindows([x for p in windows for x in p.input_ids], labels, [x for p in windows for x in p.first],
                            [x for p in windows for x in p.words], np.concatenate(sentence), n_words, gold)

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

    # ---------------------------------------------------------------- inference

    def predictor(self, model, run_dir: Path | None) -> TokenClassifierRun:
        cfg = self.config
        return TokenClassifierRun(model, self.tokenizer, cfg.max_length, cfg.eval_batch_size or 64, run_dir,
                                  cfg.window_stride)

    @classmethod
    def load_predictor(cls, run_dir: Path, config: dict) -> TokenClassifierRun:
        import torch
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        from ..progress import quiet_transformers

        folder = run_dir / "model"
        if not (folder / "config.json").is_file():
            raise TransferkitError(f"{run_dir}: no fine-tuned model in model/ (the run did not finish; "
                                   "continue it with --resume)")
        quiet_transformers()
        model = AutoModelForTokenClassification.from_pretrained(folder, dtype=torch.float32)
        return TokenClassifierRun(model, AutoTokenizer.from_pretrained(folder), config.get("max_length", 128),
                                  config.get("eval_batch_size") or 64, run_dir, config.get("window_stride"))
