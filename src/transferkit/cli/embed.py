"""`transferkit embed`: pooled sentence embeddings of every row of a file."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from .options import DropInvalid, TextCol


@app.command()
def embed(
    model: str = typer.Option(..., "--model", "-m", help="Registry name, hf:org/name, or a local folder."),
    data: str = typer.Option(..., "--data", "-d", help="CSV/TSV/JSONL/Parquet file or dataset name; for image or "
                             "speech models a folder of files (or a table of paths)."),
    output: Path = typer.Option(..., "--output", "-o", help=".npy (file order), .npz or .parquet (keyed by row)."),
    pooling: str = typer.Option("mean", help="mean | cls"),
    max_length: int = typer.Option(256, "--max-length"),
    batch_size: int = typer.Option(64, "--batch-size"),
    precision: str = typer.Option("fp32", help="fp32 | bf16"),
    text_column: Optional[str] = TextCol,
    drop_invalid: bool = DropInvalid,
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Pooled embeddings of every row (texts batched by length; images and audio clips too)."""
    from ..methods.embed import write_embeddings

    write_embeddings(model, data, output, pooling=pooling, max_length=max_length, batch_size=batch_size,
                     precision=precision, text_column=text_column, drop_invalid=drop_invalid, overwrite=overwrite)
