"""One progress-bar style for every long loop (embedding, training, evaluation)."""

from __future__ import annotations

import contextlib
import os
import sys


def enabled() -> bool:
    """Bars on an interactive stderr, or when forced with TRANSFERKIT_PROGRESS=1; off with 0."""
    env = os.environ.get("TRANSFERKIT_PROGRESS")
    if env is not None:
        return env.strip() not in {"0", "false", "no", "off"}
    return sys.stderr.isatty()


def bar(*extra_columns, transient: bool = False):
    """A rich Progress with description, bar, count, rate-friendly columns and ETA."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    *extra_columns, TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    console=Console(stderr=True), transient=transient, disable=not enabled())


def quiet_transformers() -> None:
    """transformers prints its own bars and advice while loading; transferkit reports progress itself."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


@contextlib.contextmanager
def quiet_logger(name: str, level: int = 40):
    """Raise a library logger's level for a block (ONNX Runtime's tools log advice at WARNING)."""
    import logging

    logger = logging.getLogger(None if name == "root" else name)
    old = logger.level
    logger.setLevel(level)
    try:
        yield
    finally:
        logger.setLevel(old)
