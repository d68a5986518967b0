"""`transferkit serve`: any run over HTTP (JSON API, Prometheus metrics, a web page)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from . import app


@app.command()
def serve(
    run_dir: Path = typer.Argument(..., help="A run directory (PyTorch or exported)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind (default: this machine only)."),
    port: int = typer.Option(8000, "--port", "-p"),
    api_key: Optional[str] = typer.Option(None, "--api-key", envvar="TRANSFERKIT_API_KEY",
                                          help="Require Authorization: Bearer KEY on every endpoint but /health."),
    max_batch_size: int = typer.Option(32, "--max-batch-size", min=1, help="Inputs gathered into one model call."),
    max_wait_ms: float = typer.Option(2.0, "--max-wait-ms", min=0, help="How long a request waits for others to "
                                      "batch with."),
    max_queue: int = typer.Option(256, "--max-queue", min=1, help="Requests waiting before 503 (Retry-After)."),
    max_body_mb: float = typer.Option(2.0, "--max-body-mb", min=0.001, help="Largest request body (413 above)."),
    max_inputs: int = typer.Option(64, "--max-inputs", min=1, help="Most inputs in one request (422 above)."),
    max_audio_seconds: float = typer.Option(600.0, "--max-audio-seconds", min=0.1,
                                            help="Audio runs: longest clip accepted (413 above)."),
) -> None:
    """Serve a run: POST /predict, GET /health, /info, /metrics, and a page at /.

    Example: transferkit serve runs/sst2-int8 --port 8000
    """
    from ..runs import load_run
    from ..serve import ServeOptions, is_loopback
    from ..serve import serve as run_server

    if not is_loopback(host) and not api_key:
        typer.secho(f"warning: serving on {host} without --api-key: anyone who can reach it can use the model",
                    fg="yellow", err=True)
    load_run(run_dir)  # a bad run is one line before the server starts
    typer.echo(f"serving {run_dir} on http://{host}:{port} (Ctrl-C to stop)")
    run_server(run_dir, host, port, ServeOptions(api_key=api_key, max_batch_size=max_batch_size,
                                                 max_wait_ms=max_wait_ms, max_queue=max_queue,
                                                 max_body_mb=max_body_mb, max_inputs=max_inputs,
                                                 max_audio_seconds=max_audio_seconds))
