"""Serving a run over HTTP: `create_app(predictor)` (FastAPI) and `serve(run_dir)` (uvicorn).

    transferkit serve runs/ft-int8 --port 8000 [--api-key KEY]

`app.py` has the routes and limits, `batching.py` the dynamic batcher, `metrics.py` the
Prometheus text, `page.py` the web page. Any run kind and task: the Predictor answers.
"""

from __future__ import annotations

import ipaddress
import os

from .app import ServeOptions, create_app

__all__ = ["ServeOptions", "create_app", "serve", "is_loopback"]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(run_dir: str | os.PathLike, host: str = "127.0.0.1", port: int = 8000,
          options: ServeOptions | None = None) -> None:
    """Load the run and serve it until SIGINT/SIGTERM (in-flight requests finish first)."""
    import uvicorn

    from ..runs import load_run

    app = create_app(load_run(run_dir), options)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=30)
