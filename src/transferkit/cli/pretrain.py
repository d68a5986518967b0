"""`transferkit pretrain`: masked-LM (optionally + next-sentence prediction) or causal-LM on unlabelled text.

The flags are FinetuneConfig's (one per field, as for finetune), with --data for the corpus and
--objective choosing the task.
"""

from __future__ import annotations

import inspect
from typing import Optional

import typer

from ..methods.config import FinetuneConfig
from . import app, print_split_metrics, saved_note
from .options import settings_parameters


def pretrain_command(**options) -> None:
    """Pretrain a model on unlabelled text: continue a pretrained encoder/decoder on domain text, or
    train one from scratch (--from-scratch, --train-tokenizer N).

    Example: transferkit pretrain -m minilm-l6 --data notes.txt -o runs/mlm --objective mlm --epochs 1
    """
    from ..methods.pretrain import pretrain

    config_file = options.pop("config_file")
    objective = options.pop("objective")
    run = pretrain(config=config_file, objective=objective, **{k: v for k, v in options.items() if v is not None})
    if not print_split_metrics(run):
        return
    info = run.info
    typer.echo(f"{info['steps']} steps in {info['train_seconds']:.1f}s, {info['precision']}; {saved_note(run.run_dir)}; "
               f"fine-tune from it with: transferkit finetune -m {run.run_dir} --train LABELLED_DATA ...")


_objective = inspect.Parameter(
    "objective", inspect.Parameter.KEYWORD_ONLY, annotation=Optional[str],
    default=typer.Option(None, "--objective", metavar="mlm|mlm+nsp|clm",
                         help="mlm (masked-LM, default for encoders), mlm+nsp (BERT: + next-sentence prediction) or "
                              "clm (next-token, default for decoders)."))
pretrain_command.__signature__ = inspect.Signature(
    [*settings_parameters(FinetuneConfig, flags={"train": "--data"}, skip=("task", "test", "nsp")), _objective])
app.command("pretrain")(pretrain_command)
