"""`transferkit compare`: a leaderboard of candidate models and methods on your data and machine."""

from __future__ import annotations

from typing import Optional

import typer

from . import app


@app.command("compare")
def compare_command(
    runs: Optional[list[str]] = typer.Argument(None, help="Finished run directories to compare (also exported runs)."),
    candidates: Optional[list[str]] = typer.Option(
        None, "--candidates", help="MODEL:finetune|probe[:key=value,...], distill:teacher=T,student=S, comma-separated "
                                   "or repeated, or a YAML file listing them."),
    train: Optional[str] = typer.Option(None, "--train", help="Training data of the candidates to train."),
    validation: Optional[str] = typer.Option(None, "--validation", help="Validation data (scored when no --test)."),
    test: Optional[str] = typer.Option(None, "--test", help="Test data every candidate is scored on."),
    output: str = typer.Option(..., "--output", "-o", help="Comparison directory (candidates/, leaderboard.*)."),
    task: Optional[str] = typer.Option(None, "--task", help="Task of the candidates to train (default: the model's)."),
    max_latency_ms: Optional[float] = typer.Option(None, "--max-latency-ms", help="Recommend within this p50 latency."),
    max_size_mb: Optional[float] = typer.Option(None, "--max-size-mb", help="Recommend within this size on disk."),
    min_metric: Optional[float] = typer.Option(None, "--min-metric", help="Recommend only at this headline metric."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Threads for the speed measurements [default: "
                                                                  "min(4, cores)]."),
    latency_calls: int = typer.Option(100, "--latency-calls", help="Single predictions timed per candidate."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start the comparison again (else finished candidates "
                                                              "are kept)."),
    report: bool = typer.Option(True, "--report/--no-report", help="Write report.html (leaderboard, Pareto plot)."),
) -> None:
    """Train and measure candidates, rank them on metric x latency x size, and recommend one.

    Example: transferkit compare --train t.csv --validation v.csv -o runs/cmp --candidates
    minilm-l3:finetune,minilm-l6:probe,minilm-l6:finetune:strategy=lora --max-latency-ms 10
    """
    from ..methods.compare import compare
    from ..outputs.report import print_leaderboard

    document = compare([*(runs or []), *(candidates or [])], output, train=train, validation=validation, test=test,
                       task=task, max_latency_ms=max_latency_ms, max_size_mb=max_size_mb, min_metric=min_metric,
                       threads=threads, latency_calls=latency_calls, overwrite=overwrite, report=report,
                       echo=typer.echo)
    print_leaderboard(document)
    choice = document["recommendation"]
    if choice:
        typer.echo(f"recommended: {choice['reason']}")
    typer.echo(f"leaderboard: {output}/leaderboard.csv (and .json)" + (f", report: {output}/report.html" if report else ""))
