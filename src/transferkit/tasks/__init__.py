"""Tasks: what is being learnt. One module (or package) per task, registered by name:

    @TASKS.register("token-classification")
    class TokenClassification(Task): ...

plus its module name in the registry's built-ins below. The `Task` interface (tasks/base.py)
is everything the engine, the strategies, the methods and the predictor of a saved run need;
`Classification` (tasks/classification.py) is what one-label-per-input tasks share.
Importing this package loads no torch: heavy imports happen inside the methods.
"""

from __future__ import annotations

from typing import Callable

from ..errors import ConfigError
from ..registry import Registry
from .base import Task, TaskExample

TASKS: Registry[type[Task]] = Registry("task", builtins=(f"{__name__}.text_classification",
                                                         f"{__name__}.token_classification",
                                                         f"{__name__}.image_classification",
                                                         f"{__name__}.audio_classification",
                                                         f"{__name__}.speech_recognition",
                                                         f"{__name__}.segmentation",
                                                         f"{__name__}.detection",
                                                         f"{__name__}.language_modeling"))


def get_task(name: str) -> type[Task]:
    return TASKS.get(name)


def task_for_family(family: str | None, accept: Callable[[type[Task]], bool] = lambda task: True) -> str:
    """The default task of a model family among the tasks `accept` takes (e.g. those with a probe):
    the task that names it in `default_for`, else the first registered task that adapts it
    (registration order depends on imports: not a contract)."""
    for name, task in TASKS.items():
        if family in task.default_for and accept(task):
            return name
    for name, task in TASKS.items():
        if family in task.families and accept(task):
            return name
    raise ConfigError(f"invalid task: no task adapts {family or 'this kind of'} models; pass --task "
                      f"({', '.join(TASKS.names())})")


__all__ = ["TASKS", "Task", "TaskExample", "get_task", "task_for_family"]
