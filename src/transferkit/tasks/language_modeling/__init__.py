"""Pretraining tasks: masked-language modelling (optionally with next-sentence prediction) for
encoders, next-token prediction for decoders, on unlabelled text.

    corpus.py    text files / tables / datasets -> documents -> token ids on disk (streamed)
    examples.py  packed blocks, lines, sentence pairs (what a batch is cut from)
    masking.py   BERT's 80/10/10 masking, token or whole-word
    base.py      the shared task: data, tokenizer, model, from-scratch configs, metrics
    masked.py    masked-lm (mlm, mlm+nsp)
    causal.py    causal-lm (clm)

`transferkit pretrain` (methods/pretrain.py) runs them through the same engine as fine-tuning.
"""

from ...errors import ConfigError
from .. import TASKS
from .causal import CausalLM
from .masked import MaskedLM


def objectives() -> dict[str, tuple[str, dict]]:
    """objective name -> (task name, the settings it implies), from every task that declares objectives."""
    return {objective: (name, settings) for name, task in TASKS.items()
            for objective, settings in getattr(task, "objectives", {}).items()}


def objective_task(objective: str | None, model: str, family: str | None) -> tuple[str, str, dict]:
    """(objective, task name, settings) for a pretraining objective; None picks the one for the
    model's family. An objective whose task cannot train this family is refused in one line."""
    known = objectives()
    fitting = [o for o, (task, _) in known.items() if family in TASKS.get(task).families]
    if objective is None:
        objective = fitting[0] if fitting else next(iter(known))
    if objective not in known:
        raise ConfigError(f"invalid objective: {objective!r}; choose from {', '.join(known)}")
    task, settings = known[objective]
    if family is not None and family not in TASKS.get(task).families:
        hint = f"pretrain it with --objective {' or '.join(fitting)}" if fitting else "no objective trains it"
        raise ConfigError(f"invalid objective: {model} is a {family} and {objective} trains "
                          f"{' or '.join(TASKS.get(task).families)} models; {hint}")
    return objective, task, settings


__all__ = ["MaskedLM", "CausalLM", "objectives", "objective_task"]
