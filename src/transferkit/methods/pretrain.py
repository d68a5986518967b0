"""Pretrain a model on unlabelled text: continued (domain- or task-adaptive) or from scratch.

    from transferkit import pretrain
    run = pretrain("minilm-l6", "notes.txt", output="runs/mlm", objective="mlm", epochs=1)
    run.predict(["the patient was [MASK] to hospital"])       # top fills of each mask
    finetune("runs/mlm", "train.csv", ...)                     # the encoder is reused, the LM head dropped

Each objective belongs to a task (tasks/language_modeling: `mlm` and `mlm+nsp` to masked-lm,
`clm` to causal-lm) and trains through the same steps, engine and run directory as fine-tuning
(checkpoints, --resume, accelerate, bf16, strategies); the run's kind is "pretrain".
"""

from __future__ import annotations

import os
from typing import Sequence

from ..errors import ConfigError
from .config import FinetuneConfig, resolve_config
from .finetune import FinetuneResult, train_run


def objective_settings(objective: str | None, model) -> tuple[str, dict]:
    """(objective, the task and settings it implies); None: the model family's objective."""
    from ..sources import family_of
    from ..tasks.language_modeling import objective_task

    family = family_of(str(model)) if model is not None else None
    objective, task, settings = objective_task(objective, str(model), family)
    return objective, {"task": task, **settings}


def pretrain(model: str | None = None, train=None, validation=None, output=None, *, objective: str | None = None,
             config: FinetuneConfig | dict | str | os.PathLike | None = None, callbacks: Sequence = (),
             **settings) -> FinetuneResult:
    """Pretrain `model` on the unlabelled texts `train` (a .txt file or folder, a table with a text
    column, a dataset name or a list of texts) and return the run.

    objective: mlm (default for encoders), mlm+nsp (BERT models) or clm (default for decoders).
    validation: held-out texts (default: a seeded 5 % of the documents). settings: any
    FinetuneConfig field (epochs, lr, max_length, packing, whole_word_mask, from_scratch, ...).
    """
    objective, chosen = objective_settings(objective, model if model is not None else settings.get("model"))
    if settings.get("task") not in (None, chosen["task"]):
        raise ConfigError(f"invalid task: objective {objective} trains {chosen['task']}, not {settings['task']}; "
                          "use finetune for labelled data")
    cfg = resolve_config(model, train, validation, None, output, config=config, **{**settings, **chosen})
    return train_run(cfg, train, validation, None, callbacks, kind="pretrain", extra_info={"objective": objective})
