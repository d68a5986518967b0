"""`transferkit predict` and `evaluate`: any run directory, whatever its kind and task."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app
from .options import DropInvalid, ImageCol, LabelCol, TextCol


@app.command()
def predict(
    run_dir: Path = typer.Argument(..., help="A run directory (probe, finetune, distill)."),
    text: Optional[list[str]] = typer.Option(None, "--text", "-t", help="A text to classify (repeatable)."),
    input: Optional[str] = typer.Option(None, "--input", "-i", help="File of texts to classify (image runs: an image, "
                                        "a folder or a table of paths)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where to write predictions (.csv/.jsonl/.parquet)."),
    text_column: Optional[str] = TextCol,
    image_column: Optional[str] = ImageCol,
    drop_invalid: bool = DropInvalid,
    overwrite: bool = typer.Option(False, "--overwrite"),
    score_threshold: Optional[float] = typer.Option(None, "--score-threshold", min=0, max=1,
                                                    help="Runs that find boxes: the lowest score kept (default: "
                                                         "the run's)."),
) -> None:
    """Labels and probabilities for texts or a file (token-classification runs: entities, as JSON lines)."""
    from rich.console import Console

    from ..runs import load_run

    if bool(text) == bool(input):
        raise typer.BadParameter("give either --text (one or more) or --input FILE")
    predictor = load_run(run_dir)
    if score_threshold is not None:
        if not hasattr(predictor.task.config, "score_threshold"):
            raise typer.BadParameter(f"{run_dir} predicts no boxes; --score-threshold applies to runs that do")
        predictor.task.config.score_threshold = score_threshold
    if text:
        predictor.show_predictions(text)
        return
    path, count = predictor.predict_file(input, output, column=text_column or image_column, drop_invalid=drop_invalid,
                                         overwrite=overwrite)
    Console(stderr=True).print(f"{count} predictions → {path}")


@app.command()
def evaluate(
    run_dir: Path = typer.Argument(..., help="A run directory."),
    data: str = typer.Option(..., "--data", "-d", help="Labelled file or dataset split (e.g. sst2:validation)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o",
                                          help="Metrics JSON (default RUN_DIR/evaluations/NAME.json)."),
    text_column: Optional[str] = TextCol,
    image_column: Optional[str] = ImageCol,
    label_column: Optional[str] = LabelCol,
    drop_invalid: bool = DropInvalid,
) -> None:
    """The task's metrics (accuracy, F1, confusion matrix; entity F1 for NER) of a run on labelled data."""
    from ..outputs.report import print_metrics
    from ..runs import load_run

    predictor = load_run(run_dir)
    metrics, path = predictor.evaluate_file(data, output, column=text_column or image_column,
                                            label_column=label_column, drop_invalid=drop_invalid)
    print_metrics(metrics, title=str(data), summary=predictor.task.summary(metrics))
    typer.echo(f"metrics written to {path}")
