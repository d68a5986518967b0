"""masked-lm: masked-language modelling, optionally with next-sentence prediction (BERT).

The loss runs the vocabulary projection only at the masked positions (~15 % of the tokens):
on a MiniLM-size encoder the 30k-word decoder costs more per token than all six layers, so
projecting every position, as `BertForMaskedLM(labels=...)` does, spends most of the step on
outputs that are thrown away. BERT-family models are built as `*ForPreTraining` (MLM and NSP
heads, the pooler kept), so a run saved with either objective keeps the checkpoint's pooler
for the classifier fine-tuned from it; `AutoModelForMaskedLM` loads it as well.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from pydantic import Field

from ...errors import ConfigError
from .. import TASKS
from ..base import TaskExample
from .base import LanguageModeling, LMSplit, ScratchOptions
from .examples import SentencePairs
from .masking import Masking

log = logging.getLogger("transferkit.settings")
NSP_MODEL_TYPES = ("bert", "megatron-bert", "nezha", "ernie")  # have a *ForPreTraining with an NSP head
TOP_K = 5


class MaskingOptions(ScratchOptions):
    mlm_probability: float = Field(0.15, gt=0, lt=1, description="Masked-LM: share of the tokens to predict.")
    mask_replace: float = Field(0.8, ge=0, le=1, description="Masked-LM: of those, the share shown as the mask token.")
    mask_random: float = Field(0.1, ge=0, le=1, description="Masked-LM: of those, the share shown as a random token "
                                                            "(the rest stay as they are).")
    whole_word_mask: bool = Field(False, description="Masked-LM: mask whole words (every piece of a picked word).")
    nsp: bool = Field(False, description="Masked-LM: add next-sentence prediction (BERT models; documents of two or "
                                         "more sentences).")


@TASKS.register("masked-lm")
class MaskedLM(LanguageModeling):
    families = ("text-encoder",)
    objectives = {"mlm": {}, "mlm+nsp": {"nsp": True}}  # `transferkit pretrain --objective`
    TrainOptions = MaskingOptions
    # Continued pretraining of a pretrained encoder (benchmarks/pretrain_tapt.py); from scratch
    # wants more (data_settings).
    recommended = {"text-encoder": {"lr": 1e-4}}

    def check_config(self) -> None:
        super().check_config()
        cfg = self.config
        if cfg.mask_replace + cfg.mask_random > 1:
            raise ConfigError(f"invalid mask_replace: mask_replace {cfg.mask_replace} + mask_random {cfg.mask_random} "
                              "exceed 1")
        if cfg.nsp and cfg.packing == "chunk" and "packing" in cfg.model_fields_set:
            raise ConfigError("invalid packing: next-sentence prediction builds sentence pairs; drop --packing chunk")

    def data_settings(self, data, given):
        if self.config.from_scratch:
            return {"lr": (5e-4, "default for pretraining from scratch (random weights)")}
        return {}

    @property
    def pairs(self) -> bool:
        return bool(self.config.nsp)

    def auto_class(self, folder: Path):
        import transformers

        from ..._io import read_json

        model_type = str(read_json(Path(folder) / "config.json").get("model_type", ""))
        if model_type in NSP_MODEL_TYPES:
            return transformers.AutoModelForPreTraining
        return transformers.AutoModelForMaskedLM

    def check_tokenizer(self, tokenizer, model: str) -> None:
        if tokenizer.mask_token_id is None:
            raise ConfigError(f"invalid model: {model}'s tokenizer has no mask token, so it cannot be trained with "
                              "masked-LM; pretrain a decoder with --objective clm")

    def check_model_config(self, config, model: str) -> None:
        if self.config.nsp and config.model_type not in NSP_MODEL_TYPES:
            raise ConfigError(f"invalid objective: {model} is a {config.model_type} model, which has no "
                              "next-sentence head; use --objective mlm (NSP exists for BERT-family models)")

    def build_examples(self, tokens, docs):
        if self.pairs:
            return SentencePairs(tokens, docs, self.max_length, self.specials, self.config.seed)
        return super().build_examples(tokens, docs)

    @property
    def masking(self) -> Masking:
        cfg = self.config
        return Masking(self.tokenizer.mask_token_id, self.specials.ids, len(self.tokenizer), cfg.mlm_probability,
                       cfg.mask_replace, cfg.mask_random, cfg.whole_word_mask)

    # ---------------------------------------------------------------- batches

    def encode(self, examples: LMSplit, *, training: bool = False) -> LMSplit:
        if training or not examples.scored or examples.fixed is not None:
            return examples
        masking, seed = self.masking, self.config.seed
        fixed = []
        for i in range(len(examples)):  # drawn once per example, whatever the batch: comparable scores
            ids, starts, _ = examples.examples.example(i)
            fixed.append(masking.apply(ids, starts, np.random.default_rng([seed, i, 11]), at_least_one=True))
        return LMSplit(examples.examples, examples.source, True, fixed)

    def collate(self, dataset: LMSplit, indices, rng=None) -> dict:
        from ...engine.batching import as_tensors

        rows = [dataset.examples.example(int(i)) for i in indices]
        batch = self.base_batch(rows)
        if dataset.scored:
            if rng is not None:
                masking = self.masking
                pairs = [masking.apply(ids, starts, rng, at_least_one=(k == 0)) for k, (ids, starts, _) in
                         enumerate(rows)]
            else:
                pairs = [dataset.fixed[int(i)] for i in indices] if dataset.fixed is not None else \
                    [self.masking.apply(ids, starts, np.random.default_rng([self.config.seed, int(i), 11]), True)
                     for i, (ids, starts, _) in zip(indices, rows)]
            pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
            batch["input_ids"] = self.padded([p[0] for p in pairs], pad)
            batch["labels"] = self.padded([p[1] for p in pairs], -100)
            labels = getattr(dataset.examples, "labels", None)
            if labels is not None:
                batch["next_sentence_label"] = labels[np.asarray(indices, dtype=np.int64)]
        return as_tensors(batch)

    # ---------------------------------------------------------------- model outputs

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        return model(**inputs, output_hidden_states=hidden_states, output_attentions=attentions)

    def _masked_logits(self, model, batch: dict):
        """(logits at the labelled positions [N, V], their labels [N], example of each [N], NSP logits or None)."""
        parts = _heads(model)
        labels = batch["labels"]
        where = labels != -100
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        if parts is None:  # an architecture whose head is not one module: project every position
            out = model(**inputs)
            logits = getattr(out, "prediction_logits", None)
            logits = out.logits if logits is None else logits
            nsp = getattr(out, "seq_relationship_logits", None)
            return logits[where], labels[where], where.nonzero()[:, 0], nsp
        base, mlm_head, nsp_head = parts
        out = base(**inputs)
        hidden = out[0]
        logits = mlm_head(hidden[where])
        nsp = None
        if nsp_head is not None and "next_sentence_label" in batch:
            pooled = out[1] if len(out) > 1 and out[1] is not None else hidden[:, 0]
            nsp = nsp_head(pooled)
        return logits, labels[where], where.nonzero()[:, 0], nsp

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits, targets, _, nsp = self._masked_logits(model, batch)
        loss = F.cross_entropy(logits.float(), targets)
        if nsp is not None:
            loss = loss + F.cross_entropy(nsp.float(), batch["next_sentence_label"])
        return loss

    def predict(self, model, batch: dict):
        import torch
        import torch.nn.functional as F

        size = len(batch["input_ids"])
        if "labels" not in batch:
            return self._fills(model, batch)
        logits, targets, rows, nsp = self._masked_logits(model, batch)
        logits = logits.float()
        nll = F.cross_entropy(logits, targets, reduction="none")
        columns = 5 if "next_sentence_label" in batch else 3
        stats = torch.zeros(size, columns, device=logits.device)
        stats[:, 0].index_add_(0, rows, nll)
        stats[:, 1].index_add_(0, rows, torch.ones_like(nll))
        stats[:, 2].index_add_(0, rows, (logits.argmax(-1) == targets).float())
        if columns == 5:
            if nsp is None:
                out = model(**{k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch})
                nsp = out.seq_relationship_logits
            nsp, target = nsp.float(), batch["next_sentence_label"]
            stats[:, 3] = F.cross_entropy(nsp, target, reduction="none")
            stats[:, 4] = (nsp.argmax(-1) == target).float()
        return stats

    def _fills(self, model, batch: dict):
        """Top-k tokens at each mask of the user's text: [B, masks, k, 2] (id, probability); zeros pad."""
        import torch

        where = batch["input_ids"] == self.tokenizer.mask_token_id
        size, most = len(where), max(1, int(where.sum(1).max()))
        out = torch.zeros(size, most, TOP_K, 2)
        if not where.any():
            return out
        parts = _heads(model)
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in batch}
        if parts is None:
            logits = self.forward(model, batch).logits[where]
        else:
            logits = parts[1](parts[0](**inputs)[0][where])
        probs = logits.float().softmax(-1)
        top = probs.topk(TOP_K, dim=-1)
        rows = where.nonzero()[:, 0]
        slot = torch.cumsum(where.long(), 1)[where] - 1
        out = out.to(probs.device)
        out[rows, slot, :, 0] = top.indices.float()
        out[rows, slot, :, 1] = top.values
        return out

    def _decoded(self, examples: LMSplit, outputs: np.ndarray) -> list[dict]:
        decoded = []
        outputs = outputs.reshape(len(outputs), -1, TOP_K, 2) if len(outputs) else outputs
        for text, fills in zip(examples.texts, outputs):
            masks = []
            for slot in fills:
                if slot[0, 1] <= 0:
                    continue
                masks.append([{"token": self.tokenizer.decode([int(i)]).strip(), "score": round(float(p), 6)}
                              for i, p in slot if p > 0])
            filled = text
            for options in masks:
                filled = filled.replace(self.tokenizer.mask_token, options[0]["token"], 1)
            decoded.append({"prediction": filled if masks else text,
                            "scores": np.asarray([[o["score"] for o in m] for m in masks], dtype=np.float32),
                            "record": {"text": text, "filled": filled, "masks": masks}})
        return decoded

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for item in self._decoded(examples, outputs):
            record = item["record"]
            if not record["masks"]:
                console.print(f"{record['text']}  [dim](no {self.tokenizer.mask_token} to fill: put it where a word "
                              "should be predicted)[/]")
                continue
            table = Table(title=record["text"], show_header=True)
            table.add_column("mask")
            table.add_column("top fills")
            for n, options in enumerate(record["masks"], 1):
                table.add_row(str(n), "  ".join(f"{o['token']} [dim]{o['score']:.3f}[/]" for o in options))
            console.print(table)

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ...text.tiny import sentiment_sentences, tiny_bert

        workdir = Path(workdir)
        train, validation = workdir / "corpus.txt", workdir / "heldout.txt"
        train.write_text("\n".join(sentiment_sentences(64, 1)[0]) + "\n", encoding="utf-8")
        validation.write_text("\n".join(sentiment_sentences(12, 2)[0]) + "\n", encoding="utf-8")
        return TaskExample(model=str(tiny_bert(workdir / "tiny-bert")), train=str(train), validation=str(validation),
                           inputs=["the movie was [MASK]", "a [MASK] and [MASK] film"],
                           settings={"batch_size": 8, "lr": 3e-3, "packing": "line"})


def _heads(model):
    """(encoder, MLM head, NSP head or None) of a masked LM whose vocabulary projection is one module,
    else None. Looks through a peft wrapper."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    base = getattr(inner, getattr(inner, "base_model_prefix", ""), None)
    if base is None:
        return None
    cls = getattr(inner, "cls", None)
    if cls is not None and hasattr(cls, "seq_relationship"):  # BertForPreTraining
        return base, cls.predictions, cls.seq_relationship
    if cls is not None:  # BertForMaskedLM
        return base, cls, None
    head = getattr(inner, "lm_head", None)  # RoBERTa, MPNet, XLM-R, ...
    return (base, head, None) if head is not None else None

