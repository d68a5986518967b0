"""`transferkit embed`: pooled embeddings of a file's rows, written keyed by row."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ._io import atomic_write_bytes, write_table
from .errors import TransferkitError
from .features import TextEncoder

EMBED_SUFFIXES = (".npy", ".npz", ".parquet")


def write_embeddings(model: str, data: str, output: str | os.PathLike, *, pooling: str = "mean",
                     max_length: int = 256, batch_size: int = 64, precision: str = "fp32",
                     text_column: str | None = None, drop_invalid: bool = False, overwrite: bool = False) -> Path:
    """Embed every text of `data` and write `output`.

    .npy: float32 [rows, dim] in file order; .npz: arrays `rows` (1-based file line numbers) and
    `embeddings`; .parquet: columns `row` and `embedding` (a list of floats per row).
    """
    from .data import load_texts

    output = Path(output)
    if output.suffix.lower() not in EMBED_SUFFIXES:
        raise TransferkitError(f"{output}: unsupported output extension; use one of {', '.join(EMBED_SUFFIXES)}")
    if output.exists() and not overwrite:
        raise TransferkitError(f"{output} already exists; choose another --output or pass --overwrite")
    examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
    encoder = TextEncoder.from_ref(model, pooling=pooling, max_length=max_length, batch_size=batch_size,
                                   precision=precision)
    vectors = encoder.encode(examples.texts)
    rows = np.asarray(examples.rows)
    suffix = output.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd

        write_table(pd.DataFrame({"row": rows, "embedding": list(vectors)}), output)
    else:
        import io

        buf = io.BytesIO()
        if suffix == ".npz":
            np.savez(buf, rows=rows, embeddings=vectors)
        else:
            np.save(buf, vectors)
        atomic_write_bytes(output, buf.getvalue())
    from rich.console import Console

    Console(stderr=True).print(f"{len(vectors)} embeddings of dim {vectors.shape[1]} → {output} "
                               f"({encoder.last_throughput:.0f} texts/s)")
    return output
