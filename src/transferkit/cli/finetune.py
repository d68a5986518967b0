"""`transferkit finetune`: adapt a pretrained model to labelled data (any task, any strategy).

The flags are generated from `FinetuneConfig`, one per field, so the CLI, `--config run.yaml`
and `transferkit.finetune(**settings)` cannot drift apart (see cli/options.py).
"""

from __future__ import annotations

import inspect

import typer

from ..methods.config import FinetuneConfig
from . import app, print_split_metrics, saved_note
from .options import settings_parameters


def finetune_command(**options) -> None:
    """Fine-tune a pretrained model (full, head-only, top-k, gradual-unfreeze, llrd, lora) for text
    classification, token classification (NER) or image classification.

    Example: transferkit finetune -m minilm-l6 --train train.csv --validation dev.csv -o runs/ft --epochs 3
    """
    from ..methods.finetune import finetune

    config_file = options.pop("config_file")
    run = finetune(config=config_file, **{k: v for k, v in options.items() if v is not None})
    if not print_split_metrics(run):
        return
    info = run.info
    stopped = " (stopped early)" if info.get("stopped_early") else ""
    typer.echo(f"{info['steps']} steps in {info['train_seconds']:.1f}s on {info['world_size']} process(es), "
               f"{info['precision']}{stopped}; {saved_note(run.run_dir)}")


finetune_command.__signature__ = inspect.Signature(settings_parameters(FinetuneConfig))
app.command("finetune")(finetune_command)
