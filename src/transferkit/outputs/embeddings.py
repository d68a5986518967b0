"""Embedding files: .npy (file order), .npz (rows + embeddings) or .parquet (row, embedding)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes, write_table
from ..errors import TransferkitError

EMBED_SUFFIXES = (".npy", ".npz", ".parquet")


def check_embedding_output(output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in EMBED_SUFFIXES:
        raise TransferkitError(f"{output}: unsupported output extension; use one of {', '.join(EMBED_SUFFIXES)}")
    if output.exists() and not overwrite:
        raise TransferkitError(f"{output} already exists; choose another --output or pass --overwrite")


def write_embedding_file(output: Path, rows: np.ndarray, vectors: np.ndarray) -> None:
    """.npy: float32 [rows, dim] in file order; .npz: arrays `rows` (1-based file line numbers) and
    `embeddings`; .parquet: columns `row` and `embedding` (a list of floats per row)."""
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        write_table(pd.DataFrame({"row": rows, "embedding": list(vectors)}), output)
        return
    buf = io.BytesIO()
    if suffix == ".npz":
        np.savez(buf, rows=rows, embeddings=vectors)
    else:
        np.save(buf, vectors)
    atomic_write_bytes(output, buf.getvalue())
