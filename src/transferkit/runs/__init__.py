"""Runs: the directory every method writes, the one Predictor, and `load_run`.

A method (probe, finetune, distill, ...) registers how to load the runs it writes:

    @RUN_KINDS.register("probe")
    def load(run_dir: Path, config: dict) -> Predictor: ...

and `load_run` dispatches on config.json's "kind", so `predict`, `evaluate` and anything that
serves a run work the same on every kind and every task.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from ..errors import TransferkitError
from ..registry import Registry
from .directory import check_output_dir, headline_split, read_labels, read_run_config, write_evaluation, write_metrics
from .predictor import ModelScorer, Predictor, public_metrics


def _unknown(kind: str, kinds: list[str]) -> TransferkitError:
    return TransferkitError(f"unknown run kind {kind!r}; known: {', '.join(sorted(kinds))} (was the run written by a "
                            "newer transferkit?)")


RUN_KINDS: Registry[Callable[[Path, dict], Predictor]] = Registry(
    "run kind", builtins=("transferkit.methods.probe", "transferkit.methods.finetune", "transferkit.methods.distill",
                          "transferkit.methods.tune", "transferkit.methods.export", "transferkit.methods.compare"),
    unknown=_unknown)


def load_run(run_dir: str | os.PathLike) -> Predictor:
    """The predictor of a finished run directory, whatever its kind and task; or of a registry model
    that is a ready predictor (an image detector such as craft-mlt: pulled, its folder is a run)."""
    ready = _ready_model(run_dir)
    run_dir = ready or Path(run_dir)
    config = read_run_config(run_dir)
    predictor = RUN_KINDS.get(config["kind"])(run_dir, config)
    predictor.run_dir = None if ready else run_dir  # nothing is written into the model cache
    return predictor


def _ready_model(ref) -> Path | None:
    from ..sources import get_spec, is_registered, resolve_model

    if Path(ref).exists() or not is_registered(str(ref)) or get_spec(str(ref)).family != "image-detector":
        return None
    return Path(resolve_model(str(ref)).path)


__all__ = ["RUN_KINDS", "load_run", "Predictor", "ModelScorer", "check_output_dir", "read_run_config", "read_labels",
           "write_metrics", "write_evaluation", "headline_split", "public_metrics"]
