"""`predict` and `evaluate` over any run kind (see runs.load_run)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ._io import atomic_write_json, write_table
from .runs import load_run


def _label_map(predictor):
    from .data import LabelMap

    return LabelMap(list(predictor.label_names))


def _is_token_run(predictor) -> bool:
    """Token-classification runs predict entities, not one class per text."""
    return getattr(predictor, "task", None) == "token-classification"


def predict_texts(run_dir: str | os.PathLike, texts: Sequence[str]) -> np.ndarray:
    from .report import print_predictions

    predictor = load_run(run_dir)
    if _is_token_run(predictor):  # entities per text, as JSON lines
        from .ner.outputs import print_entities

        entities = predictor.predict_entities(list(texts))
        print_entities(texts, entities)
        return entities
    probs = predictor.predict_proba(list(texts))
    print_predictions(texts, probs, predictor.label_names)
    return probs


def predictions_frame(predictor, examples, probs: np.ndarray):
    import pandas as pd

    names = predictor.label_names
    df = pd.DataFrame({"row": examples.rows, "text": examples.texts,
                       "prediction": [names[i] for i in probs.argmax(1)], "score": probs.max(1)})
    for i, name in enumerate(names):
        df[f"p_{name}"] = probs[:, i]
    return df


def predict_file(run_dir, data: str, output: str | os.PathLike | None, *, text_column=None, drop_invalid=False,
                 overwrite=False) -> Path:
    from rich.console import Console

    from .data import load_texts
    from .errors import TransferkitError

    predictor = load_run(run_dir)
    if _is_token_run(predictor):  # JSON lines of entities; it picks its own default output name
        from .ner.outputs import predict_ner_file

        return predict_ner_file(predictor, data, output, text_column=text_column, drop_invalid=drop_invalid,
                                overwrite=overwrite)
    data_path = Path(data)
    output = Path(output) if output else data_path.with_name(f"{data_path.stem}.predictions.csv")
    if output.exists() and not overwrite:
        raise TransferkitError(f"{output} already exists; choose another --output or pass --overwrite")
    examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
    probs = predictor.predict_proba(examples.texts)
    write_table(predictions_frame(predictor, examples, probs), output)
    Console(stderr=True).print(f"{len(examples)} predictions → {output}")
    return output


def evaluate_file(run_dir, data: str, output: str | os.PathLike | None = None, *, text_column=None,
                  label_column=None, drop_invalid=False) -> tuple[dict, Path]:
    from .data import load_texts

    predictor = load_run(run_dir)
    if _is_token_run(predictor):
        from .ner.outputs import evaluate_ner_file

        return evaluate_ner_file(predictor, data, output)
    examples = load_texts(data, text_column=text_column, label_column=label_column, labels=_label_map(predictor),
                          require_labels=True, drop_invalid=drop_invalid)
    metrics = predictor.evaluate(examples)
    metrics["data"] = str(data)
    name = Path(str(data).replace(":", "_")).name
    output = Path(output) if output else Path(run_dir) / "evaluations" / f"{Path(name).stem or name}.json"
    atomic_write_json(output, metrics)
    return metrics, output
