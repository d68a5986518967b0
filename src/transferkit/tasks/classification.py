"""What every one-label-per-input task shares (text and image classification).

Settings parts (`LabelColumn`, `ClassWeights`), the weighted and smoothed cross-entropy, the
classification metrics, and predictions as one label per input: probabilities, a table file
with p_LABEL columns, a console table. A concrete task adds how its inputs are read, encoded
and fed to its model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from ..errors import ConfigError
from ..outputs.metrics import classification_metrics, log_softmax, softmax
from ..settings import Settings
from .base import Task


class LabelColumn(Settings):
    label_column: str | None = Field(None, description="Label column (detected when unset).")
    min_class_count: int | None = Field(None, ge=2, description="Drop classes with fewer training examples before "
                                                                "the automatic split of one file (with a warning).")


class ClassWeights(Settings):
    class_weights: Literal["balanced"] | list[float] | dict[str, float] | None = Field(
        None, description="Loss weight per class: balanced, a list in label order, or JSON {label: weight}.")

    @field_validator("class_weights", mode="before")
    @classmethod
    def _parse_class_weights(cls, value: Any) -> Any:
        # On the command line weights arrive as text: "balanced", "1,3" or '{"spam": 3}'.
        if not isinstance(value, str) or value == "balanced":
            return value
        text = value.strip()
        if text.startswith(("{", "[")):
            try:
                return json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(f"not valid JSON ({e.msg})") from None
        try:
            return [float(part) for part in text.split(",")]
        except ValueError:
            raise ValueError("expected 'balanced', a comma-separated list of numbers or a JSON object") from None

    @field_validator("class_weights")
    @classmethod
    def _positive_weights(cls, value: Any) -> Any:
        weights = value.values() if isinstance(value, dict) else value if isinstance(value, list) else []
        if any(w <= 0 for w in weights):
            raise ValueError("class weights must be positive")
        return value


class Classification(Task):
    """Base of tasks that predict one class per input."""

    metric_names = ("loss", "accuracy", "macro_f1", "weighted_f1", "macro_precision", "macro_recall")
    default_metric = "macro_f1"
    headline_metric = "accuracy"
    class_weights = None  # tensor [classes] or None, set by build_model from the class_weights setting

    # ---------------------------------------------------------------- loss and metrics

    def resolve_class_weights(self, train_labels: np.ndarray):
        """The class_weights setting as a tensor over `label_names` (None: unweighted)."""
        import torch

        setting, names = getattr(self.config, "class_weights", None), self.label_names
        if setting is None:
            return None
        if setting == "balanced":  # scikit-learn's formula: n / (k * count)
            counts = np.bincount(train_labels, minlength=len(names)).astype(np.float64)
            weights = np.where(counts > 0, counts.sum() / (len(names) * np.maximum(counts, 1)), 1.0)
        elif isinstance(setting, dict):
            unknown = sorted(set(setting) - set(names))
            if unknown:
                raise ConfigError(f"invalid class_weights: unknown label(s) {', '.join(unknown)}; "
                                  f"labels: {', '.join(names)}")
            weights = np.array([setting.get(n, 1.0) for n in names])
        else:
            if len(setting) != len(names):
                raise ConfigError(f"invalid class_weights: {len(setting)} weights for {len(names)} labels "
                                  f"({', '.join(names)})")
            weights = np.asarray(setting)
        return torch.tensor(weights, dtype=torch.float32)

    def cross_entropy(self, logits, batch: dict):
        """Cross-entropy with class weights and label smoothing; soft `targets` (mixup) when present."""
        import torch.nn.functional as F

        logits = logits.float()
        weight = self.class_weights
        if weight is not None and weight.device != logits.device:
            weight = self.class_weights = weight.to(logits.device)
        smoothing = getattr(self.config, "label_smoothing", 0.0)
        if "targets" not in batch:
            return F.cross_entropy(logits, batch["labels"], weight=weight, label_smoothing=smoothing)
        targets = batch["targets"].to(logits.device) * (1 - smoothing) + smoothing / logits.shape[1]
        per_class = -targets * F.log_softmax(logits, dim=1)
        if weight is not None:
            per_class = per_class * weight
        return per_class.sum(1).mean()

    def loss(self, model, batch: dict):
        return self.cross_entropy(self.predict(model, batch), batch)

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        labels = dataset.labels
        metrics = classification_metrics(labels, outputs.argmax(axis=1), self.label_names)
        metrics["loss"] = float(-log_softmax(outputs, axis=1)[np.arange(len(labels)), labels].mean())
        return metrics

    def score_parts(self, dataset, outputs: np.ndarray) -> np.ndarray:
        correct = (outputs.argmax(axis=1) == dataset.labels).astype(np.float64)
        return np.stack([correct, np.ones_like(correct)], axis=1)

    def headline_from_parts(self, sums: np.ndarray) -> np.ndarray:
        return sums[..., 0] / np.maximum(sums[..., 1], 1)

    def summary(self, metrics: dict) -> str:
        return (f"accuracy [bold green]{metrics['accuracy']:.4f}[/]  macro F1 [bold]{metrics['macro_f1']:.4f}[/]  "
                f"(n={metrics.get('n', '?')})")

    # ---------------------------------------------------------------- predictions

    def probabilities(self, examples, dataset, outputs: np.ndarray) -> np.ndarray:
        return softmax(outputs, axis=1).astype(np.float32)

    def predictions(self, examples, dataset, outputs: np.ndarray) -> list[str]:
        return [self.label_names[i] for i in outputs.argmax(axis=1)]

    def input_columns(self, examples) -> dict[str, list]:
        """The columns that identify each input in a prediction file (text, path)."""
        raise NotImplementedError

    def records(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        probs = self.probabilities(examples, dataset, outputs)
        inputs = self.input_columns(examples)
        return [{**{k: v[i] for k, v in inputs.items()}, "label": self.label_names[int(p.argmax())],
                 "score": round(float(p.max()), 6),
                 "probabilities": {name: round(float(x), 6) for name, x in zip(self.label_names, p)}}
                for i, p in enumerate(probs)]

    def review_rows(self, examples, dataset, outputs: np.ndarray) -> list[dict]:
        probs = self.probabilities(examples, dataset, outputs)
        inputs = self.review_inputs(examples, dataset)
        predicted = probs.argmax(axis=1)
        return [{**{k: v[i] for k, v in inputs.items()}, "true": self.label_names[int(t)],
                 "predicted": self.label_names[int(p)], "confidence": round(float(probs[i, p]), 6),
                 "correct": bool(p == t)}
                for i, (t, p) in enumerate(zip(dataset.labels, predicted))]

    def review_inputs(self, examples, dataset) -> dict[str, list]:
        """The input columns of the encoded examples (a dataset may have dropped unreadable ones)."""
        return self.input_columns(examples)

    def write_predictions(self, examples, dataset, outputs: np.ndarray, path: Path) -> int:
        from ..outputs.tables import write_predictions_table

        write_predictions_table(path, self.label_names, np.asarray(examples.rows), self.input_columns(examples),
                                self.probabilities(examples, dataset, outputs))
        return len(examples)

    def show_predictions(self, examples, dataset, outputs: np.ndarray) -> None:
        from ..outputs.report import print_predictions

        names = next(iter(self.input_columns(examples).values()))
        print_predictions([str(n) for n in names], self.probabilities(examples, dataset, outputs), self.label_names)
