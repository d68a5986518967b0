"""`transferkit embed`: pooled embeddings of every row of a file, written keyed by row."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..outputs.embeddings import check_embedding_output, write_embedding_file


def write_embeddings(model: str, data: str, output: str | os.PathLike, *, pooling: str = "mean",
                     max_length: int = 256, batch_size: int = 64, precision: str = "fp32",
                     text_column: str | None = None, drop_invalid: bool = False, overwrite: bool = False) -> Path:
    """Embed every text of `data` with the frozen encoder `model` and write `output` (see
    outputs.embeddings for the formats)."""
    from rich.console import Console

    from ..text import TextEncoder, load_texts

    output = Path(output)
    check_embedding_output(output, overwrite)
    examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
    encoder = TextEncoder.from_ref(model, pooling=pooling, max_length=max_length, batch_size=batch_size,
                                   precision=precision)
    vectors = encoder.encode(examples.texts)
    write_embedding_file(output, np.asarray(examples.rows), vectors)
    Console(stderr=True).print(f"{len(vectors)} embeddings of dim {vectors.shape[1]} → {output} "
                               f"({encoder.last_throughput:.0f} texts/s)")
    return output
