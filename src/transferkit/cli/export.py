"""`transferkit export`: a trained run as an ONNX graph (fp32 or int8) that predicts without torch."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command()
def export(
    run_dir: Path = typer.Argument(..., help="A finetune, distill or tune run directory."),
    output: Path = typer.Option(..., "--output", "-o", help="Where the exported run goes (a new run directory)."),
    quantize: str = typer.Option("none", "--quantize", "-q", help="none, int8 (dynamic: transformers) or int8-static "
                                 "(calibrated on the run's training data: CNNs)."),
    opset: int = typer.Option(18, "--opset", help="ONNX opset version."),
    data: Optional[str] = typer.Option(None, "--data", "-d", help="Labelled data to check the export on (default: "
                                       "the run's validation split)."),
    allow_degradation: float = typer.Option(0.5, "--allow-degradation", help="Points of the headline metric int8 may "
                                            "lose before the export fails."),
    per_channel: bool = typer.Option(False, "--per-channel", help="int8: one scale per output channel of each weight."),
    no_optimize: bool = typer.Option(False, "--no-optimize", help="Skip ONNX Runtime's transformer fusions."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an earlier run at --output."),
) -> None:
    """Export a run to ONNX, check it against PyTorch (parity; the accuracy of int8) and write a run
    that `predict`, `evaluate` and `tk.load` use with ONNX Runtime alone.

    Example: transferkit export runs/sst2 -o runs/sst2-int8 --quantize int8
    """
    from ..methods.export import export as run_export

    result = run_export(run_dir, output, quantize=quantize, opset=opset, data=data, per_channel=per_channel,
                        allow_degradation=allow_degradation, optimize=not no_optimize, overwrite=overwrite)
    report = result.report
    parity, metric = report["parity"], report["metric"]
    typer.echo(f"parity: max abs diff {parity['max_abs_diff']:.2e} against PyTorch on {parity['examples']} "
               f"{report['data']} examples (tolerance {parity['tolerance']:g})")
    fused = (report.get("optimisation") or {}).get("fused")
    if (report.get("optimisation") or {}).get("applied"):
        typer.echo("fused: " + ", ".join(f"{k} x{v}" for k, v in fused.items()))
    typer.echo(f"{metric['name']}: {100 * metric['onnx']:.2f} ({quantize}) vs {100 * metric['pytorch']:.2f} "
               f"(PyTorch): {-metric['degradation_pt']:+.2f} pt")
    sizes = report["size_mb"]
    typer.echo(f"size: {sizes['onnx']:.1f} MB (PyTorch {sizes['pytorch']:.1f} MB); exported to {result.output} "
               f"in {report['seconds']:.0f} s")
