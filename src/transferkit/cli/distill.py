"""`transferkit distill`: teach a smaller student with a fine-tuned teacher run.

Flags come from `DistillConfig` exactly as `finetune`'s come from `FinetuneConfig` (the student
is `--student`; the task is the teacher's). The run directory is an ordinary run plus
comparison.json, which is printed as a table at the end.
"""

from __future__ import annotations

import inspect

import typer

from ..methods.distill.config import DistillConfig
from . import app, print_split_metrics, saved_note
from .options import settings_parameters


def distill_command(**options) -> None:
    """Distil a teacher run into a student: soft labels (KL at temperature T) + hard labels, optional
    hidden-state and attention losses, unlabelled data labelled by the teacher.

    Example: transferkit distill --teacher runs/ft --student from-teacher:3 --train train.csv
    --validation dev.csv --unlabeled reviews.txt -o runs/student
    """
    from ..methods.distill import distill
    from ..methods.distill.compare import print_comparison

    config_file = options.pop("config_file")
    options["student"] = options.pop("model")  # the schema's `model` field is the student here
    run = distill(config=config_file, **{k: v for k, v in options.items() if v is not None})
    if not print_split_metrics(run, prefix="student, "):
        return
    if run.comparison.get("teacher"):
        print_comparison(run.comparison)
    info = run.info
    typer.echo(f"{info['steps']} steps in {info['train_seconds']:.1f}s ({info['teacher_outputs']} teacher outputs); "
               f"{saved_note(run.run_dir)}")


distill_command.__signature__ = inspect.Signature(
    settings_parameters(DistillConfig, flags={"model": "--student"}, skip=("task",)))
app.command("distill")(distill_command)
