"""`transferkit tune`: hyper-parameter search with Optuna; every trial is a `finetune` run.

Takes every `finetune` flag (what is given is fixed; the rest of the search space is searched)
and tune's own (--n-trials, --timeout, --metric, --space, --pruner, --keep-trials).
"""

from __future__ import annotations

import inspect

import typer

from ..methods.config import FinetuneConfig
from . import app
from .options import settings_parameters

TUNE_FLAGS = ("n_trials", "timeout", "metric", "space", "pruner", "keep_trials")


def tune_command(**options) -> None:
    """Search learning rate, epochs, batch size, warmup, weight decay, strategy, LoRA rank, dropout and
    label smoothing on the validation split; the best trial's model is kept in OUTPUT/best.

    Example: transferkit tune -m minilm-l6 --train train.csv --validation dev.csv -o runs/tuned --n-trials 12
    """
    from ..methods.tune import tune

    config_file = options.pop("config_file")
    own = {name: options.pop(name) for name in TUNE_FLAGS}
    result = tune(config=config_file, **{k: v for k, v in {**options, **own}.items() if v is not None})
    states = [t["state"] for t in result.trials]
    typer.echo(f"{len(states)} trials: {states.count('complete')} complete, {states.count('pruned')} pruned, "
               f"{states.count('failed')} failed")
    typer.echo(f"best {result.metric} {result.best_value:.4f} with "
               + ", ".join(f"{k}={v}" for k, v in result.best_params.items()))
    typer.echo(f"best run: {result.run_dir}/best (transferkit predict {result.run_dir} ... uses it)")


def _parameters():
    from ..methods.tune import TuneOptions

    finetune = settings_parameters(FinetuneConfig)
    own = [p for p in settings_parameters(TuneOptions) if p.name != "config_file"]
    return finetune + own


tune_command.__signature__ = inspect.Signature(_parameters())
app.command("tune")(tune_command)
