"""Tasks: what is being learnt (text classification today; NER, images, distillation later).

A task is everything the generic pieces (training loop, `finetune`, run loading) need to know
about a problem. A new task is one module with one class:

    @register_task("token-classification")
    class TokenClassification(Task): ...

plus its module name in `_BUILTIN_MODULES`. Datasets a task encodes need only `lengths`
(per-example cost, for length-grouped batching) and `len()`.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError

TASKS: dict[str, type["Task"]] = {}
_BUILTIN_MODULES = ("text_classification", "token_classification", "image_classification")


def register_task(name: str):
    def deco(cls):
        cls.name = name
        TASKS[name] = cls
        return cls
    return deco


def get_task(name: str) -> type["Task"]:
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"{__name__}.{module}")
    if name not in TASKS:
        raise ConfigError(f"invalid task: {name!r}; choose from {', '.join(sorted(TASKS))}")
    return TASKS[name]


class Task:
    """The interface; the constructor stores the run's settings (a FinetuneConfig)."""

    name: str
    # Metrics `evaluate` returns; early stopping may watch any of them.
    metric_names: tuple[str, ...] = ()
    # What early stopping watches when --early-stopping-metric is not given.
    default_metric: str = "macro_f1"
    # The one number reports and comparisons lead with.
    headline_metric: str = "accuracy"

    def __init__(self, config):
        self.config = config

    def check_config(self) -> None:
        """Reject task-specific settings that cannot work, before any data or model is loaded."""
        metric = self.config.early_stopping_metric
        if metric is None:  # resolved here, so the saved config names the metric that was used
            metric = self.config.early_stopping_metric = self.default_metric
        if metric not in self.metric_names:
            raise ConfigError(f"invalid early_stopping_metric: {metric!r}; choose from {', '.join(self.metric_names)}")

    def load_data(self, train: Any, validation: Any = None, test: Any = None):
        """Read or adopt the splits; returns an object with .train/.validation/.test and .label_names."""
        raise NotImplementedError

    def build_model(self, model_path: Path, data):
        """The model to fine-tune, initialised from the pretrained folder, with its head."""
        raise NotImplementedError

    def encode(self, examples, *, training: bool = False):
        """Model-ready dataset of one split (tokenised once, cached when the task can)."""
        raise NotImplementedError

    def collate(self, dataset, indices: Sequence[int], rng: np.random.Generator | None = None) -> dict:
        """One padded batch of tensors; `rng` is given for training batches (augmentation)."""
        raise NotImplementedError

    def loss(self, model, batch: dict):
        """Scalar training loss of one batch (called under autocast)."""
        raise NotImplementedError

    def predict(self, model, batch: dict):
        """Per-example outputs of one batch, a tensor with the batch as first dimension."""
        raise NotImplementedError

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        """Metrics of stacked `predict` outputs against the dataset's targets."""
        raise NotImplementedError

    def save(self, model, directory: Path) -> None:
        """Write the trained model (and its preprocessor) in its standard format."""
        raise NotImplementedError

    @classmethod
    def load_predictor(cls, run_dir: Path, config: dict):
        """A `transferkit.runs.Predictor` for a finished run of this task."""
        raise NotImplementedError

    def predictor(self, model, run_dir: Path | None):
        """A predictor around the in-memory trained model."""
        raise NotImplementedError

    # ---------------------------------------------------------------- distillation (transferkit.distillation)
    # What a teacher -> student run needs beyond fine-tuning. The defaults fit tasks with one
    # output row per example and Hugging Face models fed input_ids + attention_mask.

    def load_trained(self, folder: Path, label_names: Sequence[str]):
        """A trained model folder this task saved (`save`), ready to predict; sets what `encode`,
        `collate` and `predict` need (tokenizer, label names, ...)."""
        raise NotImplementedError

    def read_unlabeled(self, source: Any):
        """Unlabelled examples (a file, dataset name or in-memory data) for the transfer set."""
        raise NotImplementedError

    def concat(self, parts: Sequence[Any]):
        """One encoded dataset from several (labelled and unlabelled, whose targets are ignored)."""
        raise NotImplementedError

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        """Model outputs with `.logits` (and `.hidden_states` / `.attentions` when asked)."""
        return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                     output_hidden_states=hidden_states, output_attentions=attentions)

    def soft_targets(self, dataset, outputs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Stacked `predict` outputs of a teacher -> (rows [R, C], offsets [N + 1]): example i's
        targets are rows[offsets[i]:offsets[i + 1]], independent of the student's tokenizer."""
        return outputs.reshape(len(outputs), -1), np.arange(len(outputs) + 1)

    def add_soft_targets(self, batch: dict, dataset, indices, rows: np.ndarray, offsets: np.ndarray) -> dict:
        """Put the cached teacher rows of `indices` into `batch` as `teacher_logits`, shaped like the
        student's logits (plus a boolean `teacher_mask` where not every position has a target)."""
        import torch

        batch["teacher_logits"] = torch.from_numpy(np.asarray(rows[offsets[np.asarray(indices)]], dtype=np.float32))
        return batch

    def teacher_inputs(self, batch: dict, teacher_task: "Task") -> dict:
        """The student's batch as the teacher reads it (the same tokenizer: unchanged)."""
        return batch
