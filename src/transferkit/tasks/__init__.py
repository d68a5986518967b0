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
