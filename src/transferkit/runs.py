"""Run directories: what every trained artefact (probe, fine-tune, distilled) looks like on disk.

    RUN_DIR/
      config.json    resolved settings; "kind" selects the loader, "task" the task
      labels.json    label names in class-id order
      metrics.json   {"split": ..., <metrics of that split>, "by_split": {name: metrics}}
      ...            kind-specific files (a head, a Hugging Face model folder)

A run kind registers a loader with `@register_run_kind("name")`; `load_run` dispatches on
config.json, so `predict` and `evaluate` work the same on every kind.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ._io import atomic_write_json, read_json
from .errors import TransferkitError
from .metrics import classification_metrics

RUN_KINDS: dict[str, Callable[[Path], "Predictor"]] = {}


def register_run_kind(kind: str):
    def deco(loader):
        RUN_KINDS[kind] = loader
        return loader
    return deco


class Predictor:
    """What every loaded run offers. Subclasses implement `predict_proba`."""

    label_names: list[str]
    run_dir: Path | None = None
    task: str = "text-classification"

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.label_names[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def evaluate(self, examples) -> dict:
        """Metrics on labelled TextExamples (labels encoded with this run's label map)."""
        if examples.labels is None:
            raise TransferkitError(f"{examples.source} has no labels; evaluation needs a label column")
        pred = self.predict_proba(examples.texts).argmax(axis=1)
        return classification_metrics(examples.labels, pred, self.label_names)

    # File-level entry points of `transferkit predict/evaluate` (predictions.py). A task whose
    # inputs or outputs are not one text -> one label (entities, images) overrides these three.

    prediction_suffix = ".predictions.csv"  # default output name: DATA.predictions.csv

    def show_predictions(self, texts: Sequence[str]):
        """Print predictions for `predict --text` and return them."""
        from .report import print_predictions

        probs = self.predict_proba(list(texts))
        print_predictions(texts, probs, self.label_names)
        return probs

    def write_predictions(self, data: str, output: Path, *, text_column=None, drop_invalid=False) -> int:
        """Predict every row of `data` into `output` (written atomically); returns the row count."""
        from ._io import write_table
        from .data import load_texts
        from .predictions import predictions_frame

        examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
        probs = self.predict_proba(examples.texts)
        write_table(predictions_frame(self.label_names, examples.rows, {"text": examples.texts}, probs), output)
        return len(examples)

    def evaluate_data(self, data: str, *, text_column=None, label_column=None, drop_invalid=False) -> dict:
        """Metrics of this run on a labelled file or dataset name."""
        from .data import LabelMap, load_texts

        examples = load_texts(data, text_column=text_column, label_column=label_column,
                              labels=LabelMap(list(self.label_names)), require_labels=True, drop_invalid=drop_invalid)
        return self.evaluate(examples)


def load_run(run_dir: str | os.PathLike) -> Predictor:
    run_dir = Path(run_dir)
    cfg_path = run_dir / "config.json"
    if not cfg_path.is_file():
        raise TransferkitError(f"{run_dir} is not a transferkit run directory (no config.json); "
                               "pass the --output folder of a probe or finetune run")
    cfg = read_json(cfg_path)
    kind = cfg.get("kind")
    if kind not in RUN_KINDS:
        _import_run_kinds()
    if kind not in RUN_KINDS:
        raise TransferkitError(f"{cfg_path}: unknown run kind {kind!r}; known: {', '.join(sorted(RUN_KINDS))}")
    predictor = RUN_KINDS[kind](run_dir)
    predictor.run_dir = run_dir
    return predictor


def _import_run_kinds() -> None:
    # Run kinds register on import; the modules are imported lazily to keep startup fast.
    import importlib

    for mod in ("transferkit.probing", "transferkit.finetuning", "transferkit.distillation"):
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Refuse to replace an existing non-empty run directory unless overwrite is set."""
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())) and not overwrite:
        raise TransferkitError(f"{path} already exists; choose another --output or pass --overwrite")
    return path


def write_metrics(run_dir: str | os.PathLike, by_split: dict[str, dict]) -> dict:
    """metrics.json: the headline split (test if present, else validation) flattened at top level."""
    headline = "test" if "test" in by_split else ("validation" if "validation" in by_split else next(iter(by_split), None))
    doc = {"split": headline, **(by_split.get(headline) or {}), "by_split": by_split}
    atomic_write_json(Path(run_dir) / "metrics.json", doc)
    return doc
