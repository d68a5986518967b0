"""The Task interface: everything the generic pieces need to know about one problem.

A task says how its data is read (`load_data`, `read_inputs`), how a model for it is built,
saved and reloaded, how examples become batches (`encode`, `collate`), what the loss and the
per-example outputs are, how outputs become metrics and predictions (labels, entities), and,
optionally, which frozen features a probe can use and how a teacher's outputs are stored for
distillation. The engine, the strategies, the methods (finetune, probe, distill) and the
predictor of a saved run only ever call these methods, so a new task is one module.

The constructor stores the run's settings: any object with the task's options as attributes
(a composed FinetuneConfig or ProbeConfig).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import ConfigError
from ..settings import NoSettings, Settings


@dataclass
class TaskExample:
    """A tiny, learnable instance of a task, for the contract tests every registered task runs."""

    model: str  # a model reference (usually a tiny random model written to the test's folder)
    train: str  # a training data file or folder written to the test's folder
    validation: str  # labelled data of the same format (for evaluate and file-level predict)
    inputs: Any  # what `Predictor.predict` takes in memory (texts, images)
    # Settings a few training steps need; small batches and a large step size suit tiny models.
    settings: dict = field(default_factory=lambda: {"batch_size": 8, "lr": 3e-3})


class Task:
    name: str  # set by the registry
    dataset_kind: str  # the kind of named dataset this task reads (transferkit.data.KINDS)
    # Model families this task adapts ("text-encoder", "image-backbone").
    families: tuple[str, ...] = ()
    default_for: tuple[str, ...] = ()  # families whose models get this task when none is given
    # Settings parts: how inputs are read and encoded (probe, finetune, predict), and what only
    # training uses. Their fields become flags of the commands that run this task.
    DataOptions: type[Settings] = NoSettings
    TrainOptions: type[Settings] = NoSettings
    # Settings a distilled student takes from its teacher's run unless given (how inputs are sized).
    student_inherits: tuple[str, ...] = ()
    # Metrics `evaluate` returns; early stopping may watch any of them.
    metric_names: tuple[str, ...] = ("loss",)
    default_metric: str = "loss"  # what early stopping watches by default
    headline_metric: str = "loss"  # the one number reports and comparisons lead with
    prediction_suffix = ".predictions.csv"  # default file name of `predict --input DATA`: DATA + suffix
    reads_text = True  # `predict --text` makes sense (False for images)
    input_kind = "text"  # what one input is: "text", "image" or "audio" (how a server decodes a request)
    has_labels = True  # trains on labels (False: pretraining on unlabelled text)
    has_classes = True  # predicts among `label_names` (False: text out, as pretraining and speech recognition)
    # Training settings this task works best with where the user gave none, per model family
    # (key None: any family); chosen by measurement (benchmarks/defaults.py, methods/defaults.py).
    recommended: dict[str | None, dict[str, Any]] = {}

    def __init__(self, config):
        self.config = config
        self.label_names: list[str] = []

    # ---------------------------------------------------------------- settings

    def check_config(self) -> None:
        """Reject settings that cannot work for this task, before any data or model is loaded."""
        metric = getattr(self.config, "early_stopping_metric", None)
        if metric is None and hasattr(self.config, "early_stopping_metric"):
            # Resolved here, so the saved config names the metric that was used.
            metric = self.config.early_stopping_metric = self.default_metric
        if metric is not None and metric not in self.metric_names:
            raise ConfigError(f"invalid early_stopping_metric: {metric!r}; choose from {', '.join(self.metric_names)}")

    def data_settings(self, data, given: set[str]) -> dict[str, tuple[Any, str]]:
        """Defaults that depend on the data read (setting -> (value, why)), for settings not in
        `given`: e.g. an image size that follows the images' own size."""
        return {}

    def search_space(self) -> dict[str, dict]:
        """`transferkit tune`'s default search space (a YAML file of this shape replaces it).
        `relative`: a multiple of the default chosen for the run (methods/defaults.py)."""
        return {
            "lr": {"type": "float", "low": 0.25, "high": 4.0, "log": True, "relative": True},
            "epochs": {"type": "float", "low": 0.67, "high": 2.0, "relative": True},
            "batch_size": {"type": "categorical", "choices": [0.5, 1, 2], "relative": True},
            "warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
            "weight_decay": {"type": "float", "low": 0.0, "high": 0.1},
            "label_smoothing": {"type": "float", "low": 0.0, "high": 0.15},
            "dropout": {"type": "float", "low": 0.0, "high": 0.3},
            "strategy": {"type": "categorical", "choices": ["full", "llrd", "lora"]},
            "llrd": {"type": "float", "low": 0.6, "high": 0.95, "when": {"strategy": "llrd"}},
            "lora_r": {"type": "categorical", "choices": [4, 8, 16, 32], "when": {"strategy": "lora"}},
        }

    # ---------------------------------------------------------------- data

    def load_data(self, train: Any, validation: Any = None, test: Any = None):
        """The splits (a `transferkit.data.Splits`-like object with .train/.validation/.test,
        .split_info and .columns, the settings detected while reading); sets `label_names`."""
        raise NotImplementedError

    def read_inputs(self, source: Any, *, column: str | None = None, labelled: bool = False,
                    label_column: str | None = None, drop_invalid: bool = False):
        """Examples to predict (or to evaluate, `labelled=True`, with this task's label names): a
        file, a dataset name or split, or inputs in memory (texts, word lists, images).
        `column` names the input column of a table (texts, image paths)."""
        raise NotImplementedError

    def read_unlabeled(self, source: Any):
        """Unlabelled examples for a distillation transfer set (a file, dataset name or data in memory)."""
        return self.read_inputs(source)

    # ---------------------------------------------------------------- model

    def build_model(self, model: str, data):
        """The model to fine-tune: the pretrained `model` reference with a new head for `data`."""
        raise NotImplementedError

    def save(self, model, directory: Path) -> None:
        """Write the trained model (and its preprocessor) in its standard format."""
        raise NotImplementedError

    def load_model(self, folder: Path, label_names: Sequence[str]):
        """A trained model folder written by `save`, ready to predict; sets what `encode`,
        `collate` and `predict` need (tokenizer, label names, input spec)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- training

    def encode(self, examples, *, training: bool = False):
        """Model-ready dataset of one split (with `lengths` and `len()`), encoded once."""
        raise NotImplementedError

    def start_epoch(self, epoch: int, epochs: int) -> None:
        """Called by the training loop before each epoch (0-based, also on resume): a curriculum
        that depends only on the epoch (progressive resizing) hooks here."""

    def collate(self, dataset, indices: Sequence[int], rng: np.random.Generator | None = None) -> dict:
        """One padded batch of tensors; `rng` is given for training batches (augmentation)."""
        raise NotImplementedError

    def forward(self, model, batch: dict, *, hidden_states: bool = False, attentions: bool = False):
        """Model outputs with `.logits` (and `.hidden_states` / `.attentions` when asked)."""
        raise NotImplementedError

    def loss(self, model, batch: dict):
        """Scalar training loss of one batch (called under autocast)."""
        raise NotImplementedError

    def predict(self, model, batch: dict):
        """Per-example outputs (logits) of one batch, a tensor with the batch as first dimension."""
        return self.forward(model, batch).logits

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        """Metrics of stacked `predict` outputs against the dataset's targets."""
        raise NotImplementedError

    def score_parts(self, dataset, outputs: np.ndarray) -> np.ndarray | None:
        """Per-example sums [N, k] from which `headline_from_parts` rebuilds the headline metric of
        any resample of the examples (bootstrap confidence intervals); None: not available."""
        return None

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        """The headline metric of summed `score_parts` rows ([..., k] -> [...])."""
        raise NotImplementedError

    def raw_inputs(self, examples) -> list:
        """The examples as in-memory inputs `read_inputs` accepts again (texts, word lists, images),
        for timing one prediction end to end."""
        raise NotImplementedError(f"{self.name} has no raw_inputs")

    def review_rows(self, examples, dataset, outputs: np.ndarray) -> list[dict] | None:
        """Per evaluated example, what a report shows of it (run_dir/evaluation.jsonl): the input
        ("text", "tokens" or "path", optionally a "thumbnail" PNG data URI), "true" and "predicted"
        (labels, or one tag per word), "confidence" (of the predicted label(s)) and "correct".
        None: this task's report has no per-example section."""
        return None

    def summary(self, metrics: dict) -> str:
        """The headline of a metrics dict in one line (rich markup allowed)."""
        return f"{self.headline_metric} [bold green]{metrics[self.headline_metric]:.4f}[/]  (n={metrics.get('n', '?')})"

    # ---------------------------------------------------------------- predictions

    def probabilities(self, examples, dataset, outputs: np.ndarray):
        """Class probabilities per input (an array [N, classes], or per word for tagging)."""
        raise NotImplementedError

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list:
        """What `predict` returns per input: a label, a list of entities, ..."""
        raise NotImplementedError

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        """One JSON-able dict per input: what a server or an export answers."""
        raise NotImplementedError

    def truncated(self, examples, dataset) -> Sequence[bool]:
        """Per input, whether the model read only its start (a text over max_length); tasks that
        read every input whole (windows, images) keep this."""
        return [False] * len(dataset)

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        """Write the predictions of `examples` to `path` (atomically); returns how many."""
        raise NotImplementedError

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        """Print predictions for `predict --text` (console)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- probing (optional)

    def feature_encoder(self, model: str):
        """A frozen encoder for the linear probe: an object whose `features(dataset)` returns
        float32 [N, dim] for a dataset this task encoded. Tasks without a probe keep this."""
        raise ConfigError(f"invalid task: {self.name} has no linear probe; fine-tune instead")

    # ---------------------------------------------------------------- export (optional)
    # An exported run predicts through ONNX Runtime without torch: its task reads its preprocessor
    # (tokenizer, image spec) from the exported model folder and hands numpy batches to the graph.

    @classmethod
    def exportable(cls) -> bool:
        """Whether runs of this task export to ONNX (it implements the two hooks below)."""
        return cls.load_exported is not Task.load_exported

    def load_exported(self, folder: Path, label_names: Sequence[str]) -> None:
        """Set what `encode` and `inference_arrays` need from an exported model folder (no torch)."""
        raise ConfigError(f"invalid run: {self.name} runs cannot be exported yet")

    def inference_arrays(self, dataset, indices: Sequence[int]) -> dict[str, np.ndarray]:
        """The model inputs of one batch as numpy arrays (an exported graph's inputs, by name)."""
        raise ConfigError(f"invalid run: {self.name} runs cannot be exported yet")

    # ---------------------------------------------------------------- distillation
    # What a teacher -> student run needs beyond fine-tuning. The defaults fit tasks with one
    # output row per example.

    def check_distillation(self, config) -> None:
        """Reject distillation settings this task cannot honour."""
        if getattr(config, "augment_copies", 0):
            raise ConfigError(f"invalid augment_copies: augmented copies of the inputs are not available for "
                              f"{self.name}")

    def transfer_copies(self, examples, copies: int, seed: int):
        """`copies` perturbed copies of the training examples for a transfer set."""
        raise ConfigError(f"invalid augment_copies: not available for {self.name}")

    def concat(self, parts: Sequence[Any]):
        """One encoded dataset from several (labelled and unlabelled, whose targets are ignored)."""
        raise NotImplementedError

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

    def teacher_inputs(self, batch: dict, teacher_task: Task) -> dict:
        """The student's batch as the teacher reads it (the same tokenizer: unchanged)."""
        return batch

    # Sequence-level distillation (a task that writes text): the cached targets are the teacher's
    # outputs to learn as if they were labels, and the loss is the task's own, not a KL.
    distils_sequences = False

    def sequence_distillation_loss(self, logits, batch: dict, config):
        """The loss of the student's `logits` on a batch `add_soft_targets` made (distils_sequences only)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- contract tests

    @classmethod
    def tiny_example(cls, workdir: Path) -> TaskExample:
        """A tiny random model and learnable data written under `workdir` (see TaskExample)."""
        raise NotImplementedError(f"{cls.__name__} has no tiny_example: the contract tests need one")
