"""The `transferkit` command line.

Each command group lives in its own module and registers itself on `app`. Modules here import
only typer at the top: torch and transformers load inside the commands, so `--help` is instant.
"""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="transferkit",
    help="Transfer learning with pretrained models: adapt, compress, evaluate and ship.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)

_state = {"debug": False}
COMMAND_MODULES = ("models", "data", "embed", "probe", "predict", "pretrain", "finetune", "lr_find", "tune", "distill",
                   "export", "compare", "report",
                   "serve", "demo")


@app.callback()
def _root(
    offline: bool = typer.Option(False, "--offline", help="Never touch the network (also TRANSFERKIT_OFFLINE=1)."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks for errors."),
) -> None:
    if offline:
        os.environ["TRANSFERKIT_OFFLINE"] = "1"
    _state["debug"] = debug or os.environ.get("TRANSFERKIT_DEBUG") == "1"


def print_split_metrics(run, prefix: str = "") -> bool:
    """Print a training result's metrics per split, from the main process only; False elsewhere."""
    if run.info.get("world_size", 1) > 1:
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() != 0:
            return False  # one report, from the main process
    from ..outputs.report import print_metrics

    for split, metrics in run.metrics.items():
        print_metrics(metrics, title=f"{prefix}{split}", summary=run.predictor.task.summary(metrics))
    return True


def saved_note(run_dir) -> str:
    """"saved to DIR" and, when written, where its report is."""
    from pathlib import Path

    page = Path(run_dir) / "report.html" if run_dir is not None else None
    return f"saved to {run_dir}" + (f" (report: {page})" if page is not None and page.is_file() else "")


def _register() -> None:
    # Importing a command module adds its commands to `app`; one module per command group.
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}")


def _one_line_warnings() -> None:
    """Warnings about the user's data print as `warning: ...` lines, not Python's two-line format."""
    import warnings

    def show(message, category, filename, lineno, file=None, line=None):
        typer.secho(f"warning: {message}", fg="yellow", err=True)

    warnings.showwarning = show


def _setting_notes() -> None:
    """Defaults chosen for this run (transferkit.methods.defaults) print as `note: ...` lines."""
    import logging

    class Note(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            typer.secho(f"note: {record.getMessage()}", fg="cyan", err=True)

    logger = logging.getLogger("transferkit.settings")
    if not any(isinstance(h, Note) for h in logger.handlers):
        logger.addHandler(Note())
    logger.setLevel(logging.INFO)
    logger.propagate = False


SIGINT_EXIT, SIGTERM_EXIT = 130, 143  # 128 + the signal number, as shells report them


def _terminate_like_ctrl_c() -> None:
    """SIGTERM raises like Ctrl-C (so every cleanup on the way out runs) and exits 143."""
    import signal

    from ..errors import Terminated

    def handler(signum, frame):
        _state["terminated"] = True
        raise Terminated()

    signal.signal(signal.SIGTERM, handler)


def _os_error_line(error: OSError) -> str | None:
    """One line for an environment error on a named path (permission, read-only, missing, disk full)."""
    name = error.filename or getattr(error, "filename2", None)
    if name is None:
        return None
    return f"{name}: {error.strerror or error} (check the path and its permissions)"


def main(argv: list[str] | None = None) -> int:
    """Entry point: one line and a non-zero exit for user errors, tracebacks only with --debug."""
    import click

    # Newer typer vendors click as typer._click, with its own exception classes: catch both.
    usage_errors = (click.ClickException, getattr(typer, "_click", click).ClickException)
    exits = (click.exceptions.Exit, typer.Exit)
    aborts = (click.exceptions.Abort, typer.Abort)

    from ..errors import Interrupted, TransferkitError

    _register()
    _one_line_warnings()
    _setting_notes()
    _terminate_like_ctrl_c()
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else argv
    debug = _state["debug"] or "--debug" in args
    try:
        returned = command.main(args=args, prog_name="transferkit", standalone_mode=False)
    except Interrupted as e:
        typer.secho(str(e), fg="yellow", err=True)
        return e.exit_code
    except TransferkitError as e:
        if debug:
            raise
        typer.secho(f"error: {e}", fg="red", err=True)
        return e.exit_code
    except exits as e:
        return e.exit_code
    except usage_errors as e:
        e.show()
        return e.exit_code
    except (*aborts, KeyboardInterrupt):
        returned = SIGINT_EXIT
    except OSError as e:
        line = _os_error_line(e)
        if debug or line is None:
            raise
        typer.secho(f"error: {line}", fg="red", err=True)
        return 2
    if returned == SIGINT_EXIT:  # typer turns a KeyboardInterrupt it catches into this return value
        interrupted = SIGTERM_EXIT if _state.get("terminated") else SIGINT_EXIT
        typer.echo("interrupted by SIGTERM" if interrupted == SIGTERM_EXIT else "interrupted (Ctrl-C)", err=True)
        return interrupted
    return returned if isinstance(returned, int) else 0


def run() -> None:  # pragma: no cover - console entry
    sys.exit(main())
