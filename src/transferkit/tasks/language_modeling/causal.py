"""causal-lm: next-token prediction for decoder models (GPT-2 family).

Every position is a target, so the model's own shifted loss is used as is. Predictions are
continuations: greedy by default (`--generate-tokens` new tokens), or top-k sampling from a seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydantic import Field

from .. import TASKS
from ..base import TaskExample
from .base import LanguageModeling, LMSplit, ScratchOptions


class GenerationOptions(ScratchOptions):
    generate_tokens: int = Field(20, ge=1, le=512, description="Causal-LM predictions: new tokens to generate.")
    generate_top_k: int | None = Field(None, ge=1, description="Causal-LM predictions: sample from the k most likely "
                                                               "tokens (seeded) instead of greedy decoding.")


@TASKS.register("causal-lm")
class CausalLM(LanguageModeling):
    families = ("text-decoder",)
    default_for = ("text-decoder",)
    objectives = {"clm": {}}
    TrainOptions = GenerationOptions
    auto_class_name = "AutoModelForCausalLM"
    add_end_separator = True
    recommended = {"text-decoder": {"lr": 1e-4}}

    def data_settings(self, data, given):
        if self.config.from_scratch:
            return {"lr": (5e-4, "default for pretraining from scratch (random weights)")}
        return {}

    def collate(self, dataset: LMSplit, indices, rng=None) -> dict:
        from ...engine.batching import as_tensors

        rows = [dataset.examples.example(int(i)) for i in indices]
        batch = self.base_batch(rows)
        if dataset.scored:
            batch["labels"] = np.where(batch["attention_mask"] > 0, batch["input_ids"], -100)
        return as_tensors(batch)

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     output_hidden_states=hidden_states, output_attentions=attentions)

    def loss(self, model, batch: dict):
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"]).loss

    def predict(self, model, batch: dict):
        import torch
        import torch.nn.functional as F

        if "labels" not in batch:
            return self._continue(model, batch)
        logits = self.forward(model, batch).logits[:, :-1].float()
        targets = batch["labels"][:, 1:]
        valid = targets != -100
        nll = F.cross_entropy(logits.transpose(1, 2), targets.clamp(min=0), reduction="none") * valid
        correct = (logits.argmax(-1) == targets) & valid
        return torch.stack([nll.sum(1), valid.sum(1).float(), correct.sum(1).float()], dim=1)

    def _continue(self, model, batch: dict):
        """[B, new tokens, 2]: (token id, its probability); -1 after the end of a text."""
        import torch

        ids, mask = batch["input_ids"], batch["attention_mask"]
        lengths = mask.sum(1)
        left = torch.zeros_like(ids)  # generation continues from the last token: pad on the left
        left_mask = torch.zeros_like(mask)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        left.fill_(pad if pad is not None else 0)
        for i, n in enumerate(lengths.tolist()):
            left[i, ids.shape[1] - n:] = ids[i, :n]
            left_mask[i, ids.shape[1] - n:] = 1
        cfg = self.config
        sample = cfg.generate_top_k is not None
        if sample:
            torch.manual_seed(cfg.seed)
        out = model.generate(input_ids=left, attention_mask=left_mask, max_new_tokens=cfg.generate_tokens,
                             do_sample=sample, top_k=cfg.generate_top_k if sample else None,
                             pad_token_id=pad, output_scores=True, return_dict_in_generate=True)
        new = out.sequences[:, ids.shape[1]:]
        probs = torch.stack([s.float().softmax(-1) for s in out.scores], dim=1) if out.scores else None
        result = torch.full((len(ids), cfg.generate_tokens, 2), -1.0, device=ids.device)
        if probs is not None:
            chosen = probs.gather(2, new[:, :probs.shape[1], None]).squeeze(2)
            result[:, :new.shape[1], 0] = new.float()
            result[:, :new.shape[1], 1] = chosen
        eos = self.tokenizer.eos_token_id
        if eos is not None:  # what follows the first end-of-text is padding
            ended = torch.cumsum((new == eos).long(), 1) - (new == eos).long() > 0
            result[:, :new.shape[1]][ended] = -1.0
        return result

    def _decoded(self, examples: LMSplit, outputs: np.ndarray) -> list[dict]:
        decoded = []
        for text, steps in zip(examples.texts, outputs.reshape(len(outputs), -1, 2)):
            kept = steps[steps[:, 1] > 0]  # zeros / -1: padding
            ids = [int(i) for i in kept[:, 0]]
            continuation = self.tokenizer.decode(ids, skip_special_tokens=True)
            decoded.append({"prediction": continuation, "scores": kept[:, 1].astype(np.float32),
                            "record": {"text": text, "continuation": continuation,
                                       "tokens": [{"token": self.tokenizer.decode([i]), "score": round(float(p), 6)}
                                                  for i, p in zip(ids, kept[:, 1])]}})
        return decoded

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        from rich.console import Console
        from rich.markup import escape

        console = Console()
        for item in self._decoded(examples, outputs):
            record = item["record"]
            console.print(f"{escape(record['text'])}[bold green]{escape(record['continuation'])}[/]")

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        from ...text.tiny import sentiment_sentences, tiny_gpt2

        workdir = Path(workdir)
        train, validation = workdir / "corpus.txt", workdir / "heldout.txt"
        train.write_text("\n".join(sentiment_sentences(64, 1)[0]) + "\n", encoding="utf-8")
        validation.write_text("\n".join(sentiment_sentences(12, 2)[0]) + "\n", encoding="utf-8")
        return TaskExample(model=str(tiny_gpt2(workdir / "tiny-gpt2")), train=str(train), validation=str(validation),
                           inputs=["the movie was", "a great"],
                           settings={"batch_size": 8, "lr": 3e-3, "packing": "line", "generate_tokens": 4})
