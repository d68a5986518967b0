"""Pretrain a model on unlabelled text: continued (domain- or task-adaptive) or from scratch.

    from transferkit import pretrain
    run = pretrain("minilm-l6", "notes.txt", output="runs/mlm", objective="mlm", epochs=1)
    run.predict(["the patient was [MASK] to hospital"])       # top fills of each mask
    finetune("runs/mlm", "train.csv", ...)                     # the encoder is reused, the LM head dropped

Objectives are tasks (tasks/language_modeling): `mlm` and `mlm+nsp` train the masked-lm task,
`clm` the causal-lm task, through the same steps, engine and run directory as fine-tuning
(checkpoints, --resume, accelerate, bf16, strategies); the run's kind is "pretrain".
"""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import ConfigError
from .config import FinetuneConfig, resolve_config
from .finetune import FinetuneResult, train_run

OBJECTIVES = {"mlm": ("masked-lm", False), "mlm+nsp": ("masked-lm", True), "clm": ("causal-lm", False)}


def objective_settings(objective: str | None, model) -> dict:
    """The task (and nsp flag) of an objective; None: the model family's (clm for decoders, else mlm)."""
    from ..sources import family_of

    family = family_of(str(model)) if model is not None else None
    if objective is None:
        objective = "clm" if family == "text-decoder" else "mlm"
    if objective not in OBJECTIVES:
        raise ConfigError(f"invalid objective: {objective!r}; choose from {', '.join(OBJECTIVES)}")
    task, nsp = OBJECTIVES[objective]
    if family == "text-decoder" and task == "masked-lm":
        raise ConfigError(f"invalid objective: {model} is a text decoder (next-token prediction); pretrain it with "
                          "--objective clm")
    if family not in (None, "text-decoder") and task == "causal-lm":
        raise ConfigError(f"invalid objective: {model} is a {family}, not a decoder; pretrain it with --objective mlm")
    return {"task": task, "nsp": nsp or None}


def pretrain(model: str | None = None, train=None, validation=None, output=None, *, objective: str | None = None,
             config: FinetuneConfig | dict | str | os.PathLike | None = None, callbacks: Sequence = (),
             **settings) -> FinetuneResult:
    """Pretrain `model` on the unlabelled texts `train` (a .txt file or folder, a table with a text
    column, a dataset name or a list of texts) and return the run.

    objective: mlm (default for encoders), mlm+nsp (BERT models) or clm (default for decoders).
    validation: held-out texts (default: a seeded 5 % of the documents). settings: any
    FinetuneConfig field (epochs, lr, max_length, packing, whole_word_mask, from_scratch, ...).
    """
    if settings.get("task") not in (None, "masked-lm", "causal-lm"):
        raise ConfigError(f"invalid task: pretraining trains masked-lm or causal-lm, not {settings['task']}; "
                          "use finetune for labelled data")
    chosen = objective_settings(objective, model if model is not None else settings.get("model"))
    cfg = resolve_config(model, train, validation, None, output, config=config, **{**settings, **chosen})
    return train_run(cfg, train, validation, None, callbacks, kind="pretrain",
                     extra_info={"objective": objective or ("clm" if cfg.task == "causal-lm" else
                                                            "mlm+nsp" if cfg.nsp else "mlm")})
