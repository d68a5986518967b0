"""Prediction files: a table (CSV/TSV/JSONL/Parquet) for one label per input, JSON lines for nested outputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .._io import atomic_write_bytes, write_table


def predictions_frame(label_names: Sequence[str], rows, columns: dict, probs: np.ndarray):
    """row, the given input columns, prediction, score and one p_LABEL column per class."""
    import pandas as pd

    df = pd.DataFrame({"row": rows, **columns, "prediction": [label_names[i] for i in probs.argmax(1)],
                       "score": probs.max(1)})
    for i, name in enumerate(label_names):
        df[f"p_{name}"] = probs[:, i]
    return df


def write_predictions_table(path: Path, label_names: Sequence[str], rows, columns: dict, probs: np.ndarray) -> None:
    write_table(predictions_frame(label_names, rows, columns, probs), path)


def write_jsonl(path: Path, records: Sequence[dict]) -> None:
    """One JSON object per line, written atomically."""
    atomic_write_bytes(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8"))
