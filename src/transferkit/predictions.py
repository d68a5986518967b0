"""`predict` and `evaluate` over any run kind (see runs.load_run).

Each run's predictor knows how to read its inputs and shape its outputs (texts -> labels,
texts -> entities, images -> labels); this module adds what every kind shares: loading the run,
output names, refusing to overwrite, and where evaluation results are kept.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ._io import atomic_write_json
from .errors import TransferkitError
from .runs import load_run


def predict_texts(run_dir: str | os.PathLike, texts: Sequence[str]):
    return load_run(run_dir).show_predictions(list(texts))


def predictions_frame(label_names: Sequence[str], rows, columns: dict, probs: np.ndarray):
    """row, the given input columns, prediction, score and one p_LABEL column per class."""
    import pandas as pd

    df = pd.DataFrame({"row": rows, **columns, "prediction": [label_names[i] for i in probs.argmax(1)],
                       "score": probs.max(1)})
    for i, name in enumerate(label_names):
        df[f"p_{name}"] = probs[:, i]
    return df


def predict_file(run_dir, data: str, output: str | os.PathLike | None, *, text_column=None, drop_invalid=False,
                 overwrite=False) -> Path:
    from rich.console import Console

    predictor = load_run(run_dir)
    data_path = Path(data)
    output = Path(output) if output else data_path.with_name(data_path.stem + predictor.prediction_suffix)
    if output.exists() and not overwrite:
        raise TransferkitError(f"{output} already exists; choose another --output or pass --overwrite")
    count = predictor.write_predictions(data, output, text_column=text_column, drop_invalid=drop_invalid)
    Console(stderr=True).print(f"{count} predictions → {output}")
    return output


def evaluate_file(run_dir, data: str, output: str | os.PathLike | None = None, *, text_column=None,
                  label_column=None, drop_invalid=False) -> tuple[dict, Path]:
    predictor = load_run(run_dir)
    metrics = predictor.evaluate_data(data, text_column=text_column, label_column=label_column,
                                      drop_invalid=drop_invalid)
    metrics["data"] = str(data)
    name = Path(str(data).replace(":", "_")).name
    output = Path(output) if output else Path(run_dir) / "evaluations" / f"{Path(name).stem or name}.json"
    atomic_write_json(output, metrics)
    return metrics, output
