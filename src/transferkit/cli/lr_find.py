"""`transferkit lr-find`: the learning-rate range test for a fine-tuning run, before training it.

Takes every `finetune` flag (the test runs on the model, strategy and batches that run would
use); `-o DIR` writes DIR/lr_find.json and DIR/lr_find.png. `finetune --lr auto` runs the same
test and trains at its suggestion.
"""

from __future__ import annotations

import inspect

import typer

from ..methods.config import FinetuneConfig
from . import app
from .options import settings_parameters


def lr_find_command(**options) -> None:
    """Run the LR range test (exponential LR ramp, smoothed loss) and suggest a learning rate.

    Example: transferkit lr-find -m minilm-l6 --train train.csv -o runs/lr   (then: finetune --lr 3e-4 ...)
    """
    from ..methods.lr_find import lr_find

    config_file = options.pop("config_file")
    output = options.pop("output", None)
    result = lr_find(config=config_file, output=output, **{k: v for k, v in options.items() if v is not None})
    shown = sorted({round(i) for i in _spread(len(result.lrs), 12)})
    for i in shown:
        typer.echo(f"  lr {result.lrs[i]:9.2e}   loss {result.losses[i]:.4f}")
    typer.echo(f"stopped: {result.stopped} after {len(result.lrs)} steps; steepest descent at {result.steep:.2e}")
    where = f"; curve in {output}/lr_find.json" + (" and lr_find.png" if _has_plot() else "") if output else ""
    typer.echo(f"suggested learning rate: {result.suggestion:.2e}{where}")


def _spread(n: int, k: int) -> list[float]:
    return [i * (n - 1) / max(1, k - 1) for i in range(min(n, k))]


def _has_plot() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


lr_find_command.__signature__ = inspect.Signature(
    settings_parameters(FinetuneConfig, skip=("validation", "test", "resume", "overwrite", "lr", "save_every",
                                              "keep_checkpoints", "tensorboard", "early_stopping_patience",
                                              "early_stopping_metric", "early_stopping_min_delta", "eval_every")))
app.command("lr-find")(lr_find_command)
