"""What masked-LM and causal-LM pretraining share: the corpus, the tokenizer, the model folder,
the evaluation sums, and predictions written as JSON lines.

Training data is unlabelled text: `load_data` reads it (streaming .txt files into the token
cache), holds out a seeded share of the documents for validation when no validation data is
given, and builds the examples (packed blocks, lines or sentence pairs). `predict` on a batch
with targets returns per-example sums (negative log-likelihood, predicted tokens, correct
ones) so that evaluation never stacks vocabulary-sized logits; perplexity is exp(sum nll /
tokens) over the whole split.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from ...data import LABELLED_TEXTS
from ...errors import ConfigError, DataError
from ...settings import Settings
from ...text import hf
from ...text.options import TextInput
from ..base import Task
from .corpus import Corpus, CorpusTokens, iter_texts, read_corpus, tokenize_corpus
from .examples import LineExamples, PackedBlocks, Specials


class CorpusData(TextInput):
    text_column: str | None = Field(None, description="Text column (detected when unset).")
    documents: bool = Field(False, description="Pretraining .txt files: documents are separated by blank lines (each "
                                               "line a sentence) instead of one document per line.")
    packing: Literal["chunk", "line"] = Field(
        "chunk", description="Pretraining: chunk concatenates documents and cuts max-length blocks (no padding); line "
                             "makes one example per document.")
    validation_share: float = Field(0.05, ge=0, lt=0.5, description="Pretraining: share of the documents held out "
                                                                    "for validation when no --validation is given.")


class ScratchOptions(Settings):
    from_scratch: bool = Field(False, description="Pretraining: start from random weights (the model's architecture, "
                                                  "sized by --model-size or --scratch-config).")
    model_size: Literal["tiny", "mini", "small"] | None = Field(
        None, description="Pretraining from scratch: tiny (2x128), mini (4x256) or small (4x512) layers x hidden.")
    scratch_config: str | None = Field(None, description="Pretraining from scratch: a JSON file of config settings "
                                                       "(e.g. num_hidden_layers) that replace the model's.")
    train_tokenizer: int | None = Field(None, ge=100, description="Pretraining: train a new tokenizer of this "
                                                                  "vocabulary size on the corpus (implies "
                                                                  "--from-scratch).")


log = logging.getLogger("transferkit.settings")
SIZES = {"tiny": (2, 128, 2), "mini": (4, 256, 4), "small": (4, 512, 8)}  # layers, hidden, heads (BERT miniatures)
MAX_VALIDATION_DOCS = 5000


@dataclass
class LMSplit:
    """One split of a language-modelling task: examples, plus masks drawn once (evaluation) or
    the raw texts (predictions)."""

    examples: Any  # PackedBlocks | LineExamples | SentencePairs | InputTexts
    source: str
    scored: bool = True  # has targets (training / evaluation) rather than being read for predictions
    fixed: list | None = None  # evaluation: (inputs, labels) per example
    texts: list[str] = field(default_factory=list)
    length_unit = "tokens"  # the training loop logs tokens/s

    @property
    def lengths(self) -> np.ndarray:
        return self.examples.lengths

    def __len__(self) -> int:
        return len(self.examples)


class InputTexts:
    """Texts to predict on, tokenised with the tokenizer's special tokens (the user's [MASK] kept)."""

    def __init__(self, tokenizer, texts: list[str], max_length: int):
        enc = tokenizer(texts, truncation=True, max_length=max_length, return_attention_mask=False,
                        return_token_type_ids=False)
        self.rows = [np.asarray(ids, dtype=np.int32) for ids in enc["input_ids"]]
        self.lengths = np.asarray([len(r) for r in self.rows], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.rows)

    def example(self, i: int):
        return self.rows[i], np.ones(len(self.rows[i]), np.uint8), None


class _Splits:
    def __init__(self, train, validation, test, split_info, columns):
        self.train, self.validation, self.test = train, validation, test
        self.split_info, self.columns, self.label_names = split_info, columns, []


class LanguageModeling(Task):
    """Base of the pretraining tasks (masked-lm, causal-lm)."""

    dataset_kind = LABELLED_TEXTS  # reads the texts of text datasets (their labels are ignored)
    has_labels = False
    has_classes = False
    DataOptions = CorpusData
    metric_names = ("loss", "perplexity", "accuracy")
    default_metric = "loss"
    headline_metric = "perplexity"
    prediction_suffix = ".predictions.jsonl"
    auto_class_name = "AutoModelForMaskedLM"
    add_end_separator = False  # line packing: end each example with the separator (decoders learn to stop)

    # ---------------------------------------------------------------- data

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        if getattr(cfg, "strategy", None) == "head-only":
            raise ConfigError(f"invalid strategy: head-only trains a new task head, and {self.name} pretraining has "
                              "none; use full, top-k, llrd or lora")
        if cfg.train_tokenizer and not cfg.from_scratch:
            cfg.from_scratch = True  # new token ids mean new embeddings: the weights start over

    def search_space(self) -> dict[str, dict]:
        space = super().search_space()
        for name in ("label_smoothing", "strategy", "llrd", "lora_r"):
            space.pop(name, None)
        return space

    def load_data(self, train, validation=None, test=None):
        cfg = self.config
        options = {"text_column": cfg.text_column, "documents": cfg.documents, "split_sentences": self.pairs}
        corpus = read_corpus(train, **options)
        self.tokenizer = self.prepare_tokenizer(cfg.model, corpus)
        tokens = tokenize_corpus(corpus, self.tokenizer, self._cache())
        docs = np.arange(tokens.documents)
        info: dict[str, Any] = {"documents": int(tokens.documents), "tokens": int(len(tokens.ids))}
        held_out = None
        if validation is None and tokens.documents >= 2 and cfg.validation_share > 0:
            count = int(min(MAX_VALIDATION_DOCS, max(1, round(cfg.validation_share * tokens.documents))))
            order = np.random.default_rng([cfg.seed, 3]).permutation(tokens.documents)
            held_out, docs = np.sort(order[:count]), np.sort(order[count:])
            info.update(method="seeded document split", seed=cfg.seed, validation_documents=count)
        train_split = LMSplit(self.build_examples(tokens, docs), corpus.source)
        val_split = None
        if held_out is not None:
            val_split = self._scored_split(tokens, held_out, f"{corpus.source} (held-out documents)")
        elif validation is not None:
            val_split = self.read_scored(validation)
        test_split = self.read_scored(test) if test is not None else None
        info["train_examples"] = len(train_split)
        return _Splits(train_split, val_split, test_split, info, {"text_column": cfg.text_column})

    def _cache(self) -> Path | None:
        from ...paths import home

        return home() / "cache" / "corpus" if getattr(self.config, "cache_tokens", False) else None

    def build_examples(self, tokens: CorpusTokens, docs: np.ndarray):
        if self.config.packing == "line":
            return LineExamples(tokens, docs, self.max_length, self.specials, self.add_end_separator)
        return PackedBlocks(tokens, docs, self.max_length, self.specials)

    def _scored_split(self, tokens: CorpusTokens, docs: np.ndarray, source: str) -> LMSplit:
        return LMSplit(self.build_examples(tokens, docs), source)

    def read_scored(self, source) -> LMSplit:
        corpus = read_corpus(source, text_column=self.config.text_column, documents=self.config.documents,
                             split_sentences=self.pairs)
        tokens = tokenize_corpus(corpus, self.tokenizer, self._cache())
        return self._scored_split(tokens, np.arange(tokens.documents), corpus.source)

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        if labelled:  # evaluation: the text is its own target
            return self.read_scored(source)
        if isinstance(source, str) and not Path(source).exists() and not _dataset_like(source):
            source = [source]
        corpus = read_corpus(source, text_column=column or self.config.text_column, documents=self.config.documents)
        texts = [" ".join(segments) for segments in corpus.documents()]
        if not texts:
            raise DataError(f"{corpus.source}: no text to predict on")
        return LMSplit(InputTexts(self.tokenizer, texts, self.max_length), corpus.source, scored=False, texts=texts)

    def read_unlabeled(self, source):
        return self.read_inputs(source)

    @property
    def pairs(self) -> bool:
        return False

    @property
    def max_length(self) -> int:
        return hf.capped_length(self.config.max_length, getattr(self, "position_limit", None))

    @property
    def specials(self) -> Specials:
        if getattr(self, "_specials", None) is None or self._specials_of is not self.tokenizer:
            self._specials, self._specials_of = Specials.of(self.tokenizer), self.tokenizer
        return self._specials

    # ---------------------------------------------------------------- tokenizer and model

    def prepare_tokenizer(self, model: str, corpus: Corpus):
        """The model's fast tokenizer, or (--train-tokenizer N) a new one of the same kind trained on the corpus."""
        from ...sources import resolve_model

        folder = resolve_model(model).path
        tokenizer = hf.load_tokenizer(folder, need_fast="pretraining needs its word boundaries")
        size = self.config.train_tokenizer
        if size:
            from ...progress import quiet_transformers

            quiet_transformers()
            tokenizer = tokenizer.train_new_from_iterator(iter_texts(corpus), vocab_size=size)
        self.check_tokenizer(tokenizer, model)
        return tokenizer

    def check_tokenizer(self, tokenizer, model: str) -> None:
        """Refuse a tokenizer this objective cannot use (before any work)."""

    def build_model(self, model: str, data):
        import torch
        from transformers import AutoConfig

        from ...progress import quiet_transformers
        from ...sources import resolve_model

        quiet_transformers()
        folder = resolve_model(model).path
        auto = self.auto_class(folder)
        with hf.loading(folder):
            config = AutoConfig.from_pretrained(folder)
            self.check_model_config(config, model)
            if self.config.dropout is not None:
                hf.set_dropout(config, self.config.dropout)
            if self.config.from_scratch:
                config = self._scratch_config(config)
                torch.manual_seed(self.config.seed)
                network = auto.from_config(config, dtype=torch.float32)
                self.loading_notes = [f"random weights ({_size_text(config)}), from scratch"]
            else:
                network, loading = auto.from_pretrained(folder, config=config, dtype=torch.float32,
                                                        output_loading_info=True)
                self.loading_notes = _new_heads(loading)
        for note in self.loading_notes:  # said when the model is built (the CLI prints them as notes)
            log.info("%s", note)
        _align_special_ids(network.config, self.tokenizer)
        self.position_limit = hf.position_limit(network.config)
        return network

    def auto_class(self, folder: Path):
        import transformers

        return getattr(transformers, self.auto_class_name)

    def check_model_config(self, config, model: str) -> None:
        """Refuse a model this objective cannot train (an architecture without the head it needs)."""

    def _scratch_config(self, config):
        cfg = self.config
        if cfg.model_size:
            layers, hidden, heads = SIZES[cfg.model_size]
            for name, value in (("num_hidden_layers", layers), ("hidden_size", hidden), ("num_attention_heads", heads)):
                setattr(config, name, value)
            for name in ("intermediate_size", "n_inner"):
                if hasattr(config, name):
                    setattr(config, name, 4 * hidden)
        if cfg.scratch_config:
            from ..._io import read_json

            try:
                overrides = read_json(cfg.scratch_config)
            except (OSError, ValueError) as e:
                raise ConfigError(f"invalid scratch_config: {cfg.scratch_config}: {e}") from None
            if not isinstance(overrides, dict):
                raise ConfigError(f"invalid scratch_config: {cfg.scratch_config} must hold a JSON object of settings")
            for name, value in overrides.items():
                setattr(config, name, value)
        config.vocab_size = len(self.tokenizer)
        return config

    def save(self, model, directory: Path) -> None:
        hf.save(model, self.tokenizer, directory)

    def load_model(self, folder: Path, label_names):
        self.label_names = []
        self.tokenizer = hf.load_tokenizer(folder)
        model = hf.load_trained(self.auto_class(folder), folder)
        self.position_limit = hf.position_limit(model.config)
        return model

    # ---------------------------------------------------------------- batches

    def encode(self, examples: LMSplit, *, training: bool = False) -> LMSplit:
        return examples

    def padded(self, seqs, pad_value: int) -> np.ndarray:
        longest = max(len(s) for s in seqs)
        out = np.full((len(seqs), longest), pad_value, dtype=np.int64)
        for i, s in enumerate(seqs):
            out[i, :len(s)] = s
        return out

    def base_batch(self, rows) -> dict[str, np.ndarray]:
        """{input_ids, attention_mask[, token_type_ids]} of (ids, starts, types) rows, padded right."""
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        batch = {"input_ids": self.padded([r[0] for r in rows], pad),
                 "attention_mask": self.padded([np.ones(len(r[0])) for r in rows], 0)}
        if rows and rows[0][2] is not None:
            batch["token_type_ids"] = self.padded([r[2] for r in rows], 0)
        return batch

    # ---------------------------------------------------------------- metrics

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        sums = outputs.reshape(len(outputs), -1).astype(np.float64).sum(axis=0)
        nll, count, correct = sums[0], max(sums[1], 1.0), sums[2]
        metrics = {"loss": float(nll / count), "perplexity": float(np.exp(min(nll / count, 50.0))),
                   "accuracy": float(correct / count), "tokens": int(sums[1]), "n": len(dataset)}
        if outputs.shape[-1] >= 5:  # next-sentence prediction
            metrics["nsp_accuracy"] = float(sums[4] / max(len(dataset), 1))
            metrics["nsp_loss"] = float(sums[3] / max(len(dataset), 1))
        return metrics

    def score_parts(self, dataset, outputs: np.ndarray) -> np.ndarray:
        return outputs.reshape(len(outputs), -1)[:, :2].astype(np.float64)  # (nll, predicted tokens)

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        return np.exp(np.minimum(sums[..., 0] / np.maximum(sums[..., 1], 1), 50.0))

    def raw_inputs(self, examples) -> list:
        if examples.texts:
            return list(examples.texts)
        return [self.tokenizer.decode(examples.examples.example(i)[0], skip_special_tokens=True)
                for i in range(len(examples))]

    def summary(self, metrics: dict) -> str:
        return (f"perplexity [bold green]{metrics['perplexity']:.3f}[/]  token accuracy [bold]{metrics['accuracy']:.4f}"
                f"[/]  ({metrics.get('tokens', '?')} tokens)")

    # ---------------------------------------------------------------- predictions

    def probabilities(self, examples, dataset, outputs: np.ndarray):
        return [r["scores"] for r in self._decoded(examples, outputs)]

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list:
        return [r["prediction"] for r in self._decoded(examples, outputs)]

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        return [r["record"] for r in self._decoded(examples, outputs)]

    def _decoded(self, examples, outputs) -> list[dict]:
        raise NotImplementedError

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        import json

        from ..._io import atomic_write_text

        records = self.records(examples, dataset, outputs)
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))
        return len(records)


def _dataset_like(text: str) -> bool:
    from ...data import DATASETS

    return text.partition(":")[0] in DATASETS and " " not in text


def _size_text(config) -> str:
    layers = getattr(config, "num_hidden_layers", "?")
    hidden = getattr(config, "hidden_size", "?")
    return f"{layers} layers x {hidden}, vocabulary {config.vocab_size}"


def _new_heads(loading: dict) -> list[str]:
    """What a checkpoint lacked and was initialised freshly (a bare BertModel has no LM head)."""
    missing = [k for k in loading.get("missing_keys", []) if not k.endswith("position_ids")]
    if not missing:
        return []
    modules = sorted({".".join(k.split(".")[:2]) for k in missing})
    return [f"the checkpoint has no {', '.join(modules)} weights: initialised freshly"]


def _align_special_ids(config, tokenizer) -> None:
    """A config's pad/bos/eos ids follow the tokenizer (a trained tokenizer numbers them anew)."""
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        value = getattr(tokenizer, name, None)
        if value is not None:
            setattr(config, name, value)
