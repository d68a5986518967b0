"""`transferkit probe`: frozen features + a logistic-regression head, for any task with a probe."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from .options import DropInvalid, ImageCol, LabelCol, TextCol


@app.command()
def probe(
    model: str = typer.Option(..., "--model", "-m", help="Registry name, hf:org/name, or a local folder."),
    train: str = typer.Option(..., "--train", help="Training file, folder with train/validation/test, or dataset name."),
    validation: Optional[str] = typer.Option(None, "--validation"),
    test: Optional[str] = typer.Option(None, "--test"),
    output: Path = typer.Option(..., "--output", "-o", help="Run directory to create."),
    task: Optional[str] = typer.Option(None, "--task", help="Task (default: the model family's)."),
    pooling: str = typer.Option("mean", help="Text encoders: mean | cls"),
    max_length: int = typer.Option(256, "--max-length", help="Text encoders: truncate texts to this many tokens."),
    batch_size: int = typer.Option(64, "--batch-size"),
    precision: str = typer.Option("fp32", help="fp32 | bf16"),
    image_size: Optional[int] = typer.Option(None, "--image-size",
                                             help="Image backbones: crop size (default: the backbone's)."),
    seed: int = typer.Option(42, "--seed"),
    text_column: Optional[str] = TextCol,
    image_column: Optional[str] = ImageCol,
    label_column: Optional[str] = LabelCol,
    drop_invalid: bool = DropInvalid,
    min_class_count: Optional[int] = typer.Option(None, "--min-class-count",
                                                  help="Drop classes with fewer examples before the automatic split."),
    overwrite: bool = typer.Option(False, "--overwrite"),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html into the run directory."),
) -> None:
    """Frozen features + logistic-regression head (C chosen on validation)."""
    from ..methods.probe import probe as run_probe
    from ..outputs.report import print_metrics

    run = run_probe(model, train, validation, test, output=output, overwrite=overwrite, task=task,
                    text_column=text_column, image_column=image_column, label_column=label_column, pooling=pooling,
                    max_length=max_length, batch_size=batch_size, seed=seed, drop_invalid=drop_invalid,
                    precision=precision, image_size=image_size, min_class_count=min_class_count, report=report)
    typer.echo(f"C={run.config['C']} (validation accuracy by C: "
               + ", ".join(f"{c:g}: {s:.3f}" for c, s in run.config["C_scores"].items()) + ")")
    for name, m in run.metrics.items():
        print_metrics(m, title=name, summary=run.task.summary(m))
    typer.echo(f"saved to {output}" + (f" (report: {output}/report.html)" if report else ""))
