"""`transferkit report`: the self-contained HTML page of a run or a comparison."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command("report")
def report_command(
    path: Path = typer.Argument(..., help="A run directory (finetune, pretrain, distill, probe, ...) or a compare "
                                          "directory."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="HTML file to write [default: PATH/report.html]."),
) -> None:
    """Write one HTML file (plots embedded, opens offline): learning curves, per-class table,
    confusion matrix, calibration, the most confident mistakes; for a comparison, the leaderboard
    and the Pareto plot."""
    from ..methods.report import report

    typer.echo(f"report: {report(path, output)}")
