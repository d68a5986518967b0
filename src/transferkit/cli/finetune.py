"""`transferkit finetune`: adapt a pretrained model to labelled texts.

The flags are generated from `FinetuneConfig`, one per field (`batch_size` -> `--batch-size`),
so the CLI, `--config run.yaml` and `transferkit.finetune(**settings)` cannot drift apart.
Every flag defaults to "not given": values come from the saved run (on --resume), then the
config file, then the flags. Unknown flags fail in click; invalid values fail in pydantic,
with one line naming the field, before any data or model is loaded.
"""

from __future__ import annotations

import inspect
import types
import typing
from typing import Optional

import typer

from ..config import FinetuneConfig
from . import app

_SHORT_FLAGS = {"model": "-m", "output": "-o"}
_SCALARS = (bool, int, float, str)


def _cli_type(annotation) -> type:
    """The click-level type of a field: its scalar type, or str for choices, lists and unions (pydantic parses)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and len(args) == 1:
        annotation = args[0]
    return annotation if annotation in _SCALARS else str


def _choices(annotation) -> list[str]:
    if typing.get_origin(annotation) is typing.Literal:
        return [str(a) for a in typing.get_args(annotation)]
    return [c for arg in typing.get_args(annotation) for c in _choices(arg)]


def settings_parameters(schema=FinetuneConfig, flags: dict[str, str] | None = None,
                        skip: tuple[str, ...] = ()) -> list[inspect.Parameter]:
    """One keyword parameter (a typer option) per field of `schema`; `flags` renames some."""
    params = [inspect.Parameter("config_file", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
                                default=typer.Option(None, "--config", "-c",
                                                     help="YAML/JSON file with any of these settings (flags override)."))]
    for name, field in schema.model_fields.items():
        if name in skip:
            continue
        kind = _cli_type(field.annotation)
        flag = (flags or {}).get(name) or "--" + name.replace("_", "-")
        decls = [f"{flag}/--no-{flag[2:]}"] if kind is bool else [flag]
        if name in _SHORT_FLAGS:
            decls.append(_SHORT_FLAGS[name])
        help_text = field.description
        if field.default is not None:  # "\\[" keeps rich from reading the brackets as markup
            help_text += f" \\[default: {str(field.default).lower() if kind is bool else field.default}]"
        metavar = "|".join(_choices(field.annotation))
        option = typer.Option(None, *decls, help=help_text, show_default=False,
                              metavar=metavar if 0 < len(metavar) <= 24 else None)
        params.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option,
                                        annotation=Optional[kind]))
    return params


def finetune_command(**options) -> None:
    """Fine-tune a pretrained model on labelled texts (full, head-only, top-k, gradual-unfreeze, llrd, lora).

    Example: transferkit finetune -m minilm-l6 --train train.csv --validation dev.csv -o runs/ft --epochs 3
    """
    from ..finetuning import finetune
    from ..report import print_metrics

    config_file = options.pop("config_file")
    run = finetune(config=config_file, **{k: v for k, v in options.items() if v is not None})
    if run.info.get("world_size", 1) > 1:
        import torch.distributed as dist

        if dist.is_initialized() and dist.get_rank() != 0:
            return  # one report, from the main process
    for split, metrics in run.metrics.items():
        print_metrics(metrics, title=split)
    info = run.info
    stopped = " (stopped early)" if info.get("stopped_early") else ""
    typer.echo(f"{info['steps']} steps in {info['train_seconds']:.1f}s on {info['world_size']} process(es), "
               f"{info['precision']}{stopped}; saved to {run.run_dir}")


finetune_command.__signature__ = inspect.Signature(settings_parameters())
app.command("finetune")(finetune_command)
