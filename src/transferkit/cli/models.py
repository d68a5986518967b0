"""`transferkit models list | info NAME | pull NAME [--force] | bench NAME...`."""

from __future__ import annotations

import contextlib
import json
import logging
import time
from typing import Iterator, Optional

import typer

from . import app

models_app = typer.Typer(help="Pretrained models: list the registry, show metadata, pull into the cache.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")


def _params(n: int) -> str:
    return f"{n / 1e6:.1f}M"


def _size(n: int | None) -> str:
    return "-" if n is None else f"{n / 1e6:.0f} MB" if n >= 1e7 else f"{n / 1e6:.1f} MB"


@models_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")) -> None:
    """The registered models, and whether each is in the local cache."""
    from rich.console import Console
    from rich.table import Table

    from ..methods.bench import cached
    from ..sources import list_models, model_info

    speeds = cached()
    rows = [{**model_info(spec.name), "speed": speeds.get(spec.name)} for spec in list_models()]
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    caption = "also accepted: hf:org/name\\[@revision] or a local folder"
    caption += "; speed: `transferkit models bench NAME` on this machine" if not speeds else \
        f"; speed measured here, fp32, {next(iter(speeds.values()))['threads']} threads (models bench)"
    table = Table(title="transferkit models", caption=caption)
    for col, justify in [("name", "left"), ("family", "left"), ("params", "right"), ("size", "right"),
                         ("p50 ms", "right"), ("batch-32 /s", "right"), ("license", "left"), ("cached", "center")]:
        table.add_column(col, justify=justify, no_wrap=col in ("name", "family"))
    for r in rows:
        speed = r["speed"] or {}
        table.add_row(r["name"], r["family"], _params(r["params"]), _size(r["size_on_disk"] or r["size_bytes"]),
                      f"{speed['latency_p50_ms']:.2f}" if speed else "-",
                      f"{speed['throughput_per_s']:.0f}" if speed else "-",
                      r["license"], "[green]yes[/]" if r["cached"] else "no")
    Console().print(table)


@models_app.command("bench")
def bench_cmd(names: list[str] = typer.Argument(..., help="Registry names (or hf:/local folders) to time."),
              threads: Optional[int] = typer.Option(None, "--threads", help="Threads [default: min(4, cores)]."),
              seq_len: int = typer.Option(128, "--seq-len", help="Text models: tokens per input."),
              batch_size: int = typer.Option(32, "--batch-size", help="Batch of the throughput measurement."),
              seconds: float = typer.Option(20.0, "--seconds", help="About how long to time each model."),
              as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Time each model's network on this machine (batch-1 latency p50/p95, batch throughput, fp32)
    and cache the numbers per hardware, so `models list` shows them."""
    from rich.console import Console
    from rich.table import Table

    from ..methods.bench import bench

    results = [bench(name, threads=threads, seq_len=seq_len, batch=batch_size, seconds=seconds) for name in names]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        return
    table = Table(title=f"speed on this machine (fp32, {results[0]['threads']} threads)")
    for col in ("model", "input", "params", "p50 ms", "p95 ms", f"batch-{batch_size} /s"):
        table.add_column(col, justify="left" if col in ("model", "input") else "right")
    for r in results:
        table.add_row(r["model"], r["input"], _params(r["parameters"]), f"{r['latency_p50_ms']:.2f}",
                      f"{r['latency_p95_ms']:.2f}", f"{r['throughput_per_s']:.0f}")
    Console().print(table)


@models_app.command("info")
def info_cmd(name: str = typer.Argument(..., help="Registry name, see `transferkit models list`."),
             as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """All metadata of one model: architecture, inputs, license, pinned wheels, cache state."""
    from rich.console import Console
    from rich.table import Table

    from ..sources import model_info

    info = model_info(name)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    table = Table(title=name, show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in info.items():
        if key == "assets":
            value = "\n".join(f"{a['package']}=={a['version']} sha256:{a['sha256'][:16]}..." for a in value)
        elif key == "inputs":
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        elif key == "extra":
            value = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        elif key == "params":
            value = f"{value:,} ({_params(value)})"
        elif key in ("size_bytes", "size_on_disk"):
            value = _size(value)
        table.add_row(key, str(value if value is not None else "-"))
    Console().print(table)


@contextlib.contextmanager
def _progress(console) -> Iterator[None]:
    """Show each step the sources log (fetching, converting...) with its elapsed time."""
    start = time.perf_counter()
    status = console.status("pulling...")

    class Step(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            msg = record.getMessage()
            style = "yellow" if record.levelno >= logging.WARNING else "dim"
            console.print(f"[{style}]{time.perf_counter() - start:6.1f}s  {msg}[/]", highlight=False)
            status.update(msg)

    logger, handler = logging.getLogger("transferkit.sources"), Step()
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with status:
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


@models_app.command("pull")
def pull_cmd(name: str = typer.Argument(..., help="Registry name or hf:org/name[@revision]."),
             force: bool = typer.Option(False, "--force", help="Pull again even if cached.")) -> None:
    """Download and build a model into the cache; prints the final folder."""
    from rich.console import Console

    from ..sources import pull

    with _progress(Console(stderr=True)):
        path = pull(name, force=force)
    typer.echo(str(path))
