"""The one Predictor: a trained model's task (inputs, outputs, metrics) plus a scorer.

A scorer turns a dataset the task encoded into per-example outputs (logits): a fine-tuned
model run through the engine's inference loop, or a probe's frozen features and linear head.
Everything else (reading texts, images or word lists; labels, entities, probabilities; files;
metrics) is the task's, so `predict`, `evaluate`, a server or an exporter never branch on
what the task is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .._io import atomic_write_json
from ..errors import TransferkitError

Scorer = Callable[[Any], np.ndarray]


def public_metrics(metrics: dict) -> dict:
    """Metrics as every run's metrics.json holds them (the evaluation loss is only logged in training)."""
    return {k: v for k, v in metrics.items() if k != "loss"}


class ModelScorer:
    """A trained model's outputs on a dataset (fp32, longest batch first, on CUDA when present)."""

    def __init__(self, task, model, batch_size: int = 64, device: str | None = None):
        import torch

        self.task, self.batch_size = task, batch_size
        self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        self.model = model.eval()

    def __call__(self, dataset) -> np.ndarray:
        from ..engine.inference import predict

        self.model.to(self.device)
        return predict(self.model, dataset, self.task.collate, self.task.predict, batch_size=self.batch_size)


class Predictor:
    """What every loaded run (and every in-memory training result) offers."""

    def __init__(self, task, scorer: Scorer, run_dir: Path | None = None, config: dict | None = None):
        self.task, self.scorer, self.run_dir = task, scorer, run_dir
        self.config = config or {}

    @property
    def label_names(self) -> list[str]:
        return list(self.task.label_names)

    @property
    def model(self):
        """The trained network (None for a probe, whose head is not a network)."""
        return getattr(self.scorer, "model", None)

    def outputs(self, inputs, *, labelled: bool = False):
        """(examples, encoded dataset, per-example outputs) of `inputs`."""
        examples = self.task.read_inputs(inputs, labelled=labelled)
        dataset = self.task.encode(examples)
        return examples, dataset, self.scorer(dataset)

    # ---------------------------------------------------------------- in memory

    def predict_proba(self, inputs):
        """Class probabilities: [N, classes] for one label per input, per word for tagging."""
        return self.task.probabilities(*self.outputs(inputs))

    def predict(self, inputs) -> list:
        """One prediction per input: a label name, or the entities found in a text."""
        return self.task.predictions(*self.outputs(inputs))

    def predict_json(self, inputs) -> list[dict]:
        """One JSON-able record per input (what a server answers); `truncated: true` on an input
        the model read only the start of."""
        examples, dataset, outputs = self.outputs(inputs)
        records = self.task.records(examples, dataset, outputs)
        for record, cut in zip(records, self.task.truncated(examples, dataset)):
            if cut:
                record["truncated"] = True
        return records

    def evaluate(self, examples) -> dict:
        """The task's metrics on labelled examples, a labelled file or a dataset split."""
        _, dataset, outputs = self.outputs(examples, labelled=True)
        return public_metrics(self.task.evaluate(dataset, outputs))

    # ---------------------------------------------------------------- files (the CLI's predict / evaluate)

    def show_predictions(self, texts) -> None:
        """Print the predictions for `predict --text`."""
        if not getattr(self.task, "reads_text", True):
            raise TransferkitError(f"a {self.task.name} run does not read text: pass --input FILE_OR_FOLDER, "
                                   "not --text")
        self.task.show_predictions(*self.outputs(list(texts)))

    def predict_file(self, data: str, output: str | os.PathLike | None = None, *, column: str | None = None,
                     drop_invalid: bool = False, overwrite: bool = False) -> tuple[Path, int]:
        """Predict every input of `data` into `output` (default DATA + the task's suffix)."""
        data_path = Path(str(data))
        output = Path(output) if output else data_path.with_name(data_path.stem + self.task.prediction_suffix)
        if output.exists() and not overwrite:
            raise TransferkitError(f"{output} already exists; choose another --output or pass --overwrite")
        examples = self.task.read_inputs(data, column=column, drop_invalid=drop_invalid)
        dataset = self.task.encode(examples)
        count = self.task.write_predictions(examples, dataset, self.scorer(dataset), output)
        return output, count

    def evaluate_file(self, data: str, output: str | os.PathLike | None = None, *, column: str | None = None,
                      label_column: str | None = None, drop_invalid: bool = False) -> tuple[dict, Path]:
        """Metrics on labelled `data`, written to `output` (default RUN_DIR/evaluations/NAME.json)."""
        examples = self.task.read_inputs(data, column=column, labelled=True, label_column=label_column,
                                         drop_invalid=drop_invalid)
        dataset = self.task.encode(examples)
        metrics = public_metrics(self.task.evaluate(dataset, self.scorer(dataset)))
        metrics["data"] = str(data)
        name = Path(str(data).replace(":", "_")).name
        if output is None:
            if self.run_dir is None:
                raise TransferkitError("this model has no run directory to write its metrics into: pass an output "
                                       "path (--output FILE.json)")
            output = Path(self.run_dir) / "evaluations" / f"{Path(name).stem or name}.json"
        atomic_write_json(output, metrics)
        return metrics, Path(output)
