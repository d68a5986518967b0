"""Knowledge distillation: a trained teacher run -> a smaller student, in the fine-tuning engine.

| module | what |
| --- | --- |
| `config.py` | `DistillConfig`: every fine-tuning setting plus teacher, temperature, alpha, hidden/attention losses |
| `students.py` | `from-teacher:K`: a K-layer copy of the teacher (DistilBERT-style initialisation) |
| `teacher.py` | the teacher run as a model; its outputs on the transfer set, cached and memory-mapped |
| `losses.py` | soft-label KL at temperature T, hard-label CE, hidden-state MSE, attention KL |
| `training.py` | the task / strategy / module wrappers the one training loop runs |
| `compare.py` | comparison.json: teacher vs student vs control, size, latency, throughput |
| `pipeline.py` | `distill()`, composing the above |

A distill run is an ordinary run directory (kind "distill"): `load_run`, evaluate, predict and
serve treat it like a finetune run.
"""

from ...runs import RUN_KINDS
from .config import DistillConfig

__all__ = ["DistillConfig", "DistillResult", "DistillRun", "distill"]


@RUN_KINDS.register("distill")
def load_distilled(run_dir, config):
    from ..finetune import load_finetuned

    return load_finetuned(run_dir, config)


def __getattr__(name):  # torch loads with the training code, not with the CLI's --help
    if name in ("distill", "DistillRun", "DistillResult"):
        from . import pipeline as module

        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
