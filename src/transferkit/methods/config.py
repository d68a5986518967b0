"""The settings of each method, composed from the parts that own them.

    FinetuneConfig = RunSettings + TrainSettings (engine) + every task's DataOptions and
                     TrainOptions + every strategy's Options
    ProbeConfig    = ProbeSettings + the DataOptions of every task that has a probe

so a task or strategy brings its own flags (`--tag-column`, `--lora-r`) and a new one needs no
edit here. The schemas are built when this module is imported, from the registries as they are
then: a plug-in registers its task or strategy before importing transferkit.methods.
Merging and validation rules are in transferkit.settings.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal, Sequence

from pydantic import Field, field_validator

from ..engine.settings import TrainSettings
from ..errors import ConfigError
from ..settings import Settings, compose, load_config_file
from ..strategies import STRATEGIES
from ..tasks import TASKS, Task


def known_task(value: str | None) -> str | None:
    if value is not None and value not in TASKS:
        raise ValueError(f"task: {value!r} is not a task; choose from {', '.join(TASKS.names())}")
    return value


class RunSettings(Settings):
    """What to train on what, and where the run goes."""

    model: str | None = Field(None, description="Model registry name, hf:org/name, timm:NAME or local folder.")
    task: str | None = Field(None, description="Task to fine-tune for (default: the model family's, "
                                               "text-classification for text encoders).")
    train: str | None = Field(None, description="Training data file, folder or dataset name.")
    validation: str | None = Field(None, description="Validation data (evaluated each epoch).")
    test: str | None = Field(None, description="Test data (evaluated once at the end).")
    output: str | None = Field(None, description="Run directory to write.")
    strategy: str = Field("full", description="What trains: " + ", ".join(STRATEGIES.names()) + ".")
    report: bool = Field(True, description="Write report.html (plots, per-class table, mistakes) into the run "
                                           "directory at the end.")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        return known_task(value)

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value not in STRATEGIES:
            raise ValueError(f"strategy: {value!r} is not a strategy; choose from {', '.join(STRATEGIES.names())}")
        return value


def _task_parts(*kinds: str, only: Sequence[str] | None = None):
    return [(f"task {name}", getattr(task, kind)) for name, task in TASKS.items() for kind in kinds
            if only is None or name in only]


def has_probe(task: type[Task]) -> bool:
    return task.feature_encoder is not Task.feature_encoder


FinetuneConfig = compose(
    "FinetuneConfig",
    [(None, RunSettings), (None, TrainSettings), *_task_parts("DataOptions", "TrainOptions"),
     *[(f"strategy {name}", strategy.Options) for name, strategy in STRATEGIES.items()]],
    doc="The resolved settings of one fine-tuning run (saved as RUN_DIR/config.json).", module=__name__)


class ProbeSettings(Settings):
    model: str | None = Field(None, description="Model registry name, hf:org/name, timm:NAME or local folder.")
    task: str | None = Field(None, description="Task (default: the model family's).")
    train: str | None = None
    validation: str | None = None
    test: str | None = None
    output: str | None = None
    overwrite: bool = False
    pooling: Literal["mean", "cls"] = Field("mean", description="Text encoders: mean over tokens or the [CLS] vector.")
    batch_size: int = Field(64, ge=1, description="Batch size of the frozen encoder.")
    precision: Literal["fp32", "bf16"] = Field("fp32", description="Precision of the frozen encoder.")
    seed: int = 42
    Cs: list[float] = Field([0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0], description="Inverse regularisation strengths "
                                                                                 "tried on validation.")
    cache_tokens: bool = True
    report: bool = Field(True, description="Write report.html into the run directory at the end.")

    @field_validator("task")
    @classmethod
    def _known_task(cls, value: str | None) -> str | None:
        return known_task(value)


ProbeConfig = compose(
    "ProbeConfig",
    [(None, ProbeSettings), *_task_parts("DataOptions", only=[n for n, t in TASKS.items() if has_probe(t)])],
    doc="The resolved settings of one probe (saved as RUN_DIR/config.json).", module=__name__)


def model_family(ref) -> str | None:
    """`sources.family_of`, knowing also the image architectures that have no registry entry
    (resnet-50, vgg-16: trained from random init or the user's weights file)."""
    from ..sources import family_of, is_registered
    from ..vision.backbones import list_backbones

    if ref is not None and not is_registered(str(ref)) and str(ref) in list_backbones():
        return "image-backbone"
    return family_of(ref)


READY = "image-detector"  # families that predict as they are: nothing to train


def resolve_task(cfg, probe: bool = False) -> str:
    """The configured task, else the default task of the model's family (with `probe`: among the
    tasks that have a linear probe), recorded in cfg."""
    from ..sources import get_spec, is_registered
    from ..tasks import task_for_family

    if cfg.model is not None and is_registered(str(cfg.model)) and get_spec(str(cfg.model)).family == READY:
        raise ConfigError(f"invalid model: {cfg.model} is a ready {READY}, not a model to train; predict with it "
                          f"as it is: transferkit predict {cfg.model} --input IMAGES")
    if cfg.task is None:
        cfg.task = task_for_family(model_family(cfg.model), has_probe if probe else lambda task: True)
    return cfg.task


def check_family(model: str, task) -> None:
    """A task given a model of a family it cannot adapt (a text task and an image backbone) is
    refused before anything is loaded, naming models that fit."""
    from ..sources import list_models

    family = model_family(model)
    if family is not None and task.families and family not in task.families:
        fitting = [spec.name for spec in list_models() if spec.family in task.families]
        article = "an" if family[0] in "aeiou" else "a"
        raise ConfigError(f"invalid model: {model} is {article} {family}; task {task.name} adapts "
                          f"{' or '.join(task.families)} models, e.g. {', '.join(fitting[:3])}")


def record_detected(cfg, data) -> None:
    """Settings the data readers detected (text and label columns) go into the saved config."""
    for name, value in data.columns.items():
        if getattr(cfg, name, None) is None and value:
            setattr(cfg, name, value)


def resolve_config(model=None, train=None, validation=None, test=None, output=None, *,
                   config: Settings | dict | str | os.PathLike | None = None, schema=FinetuneConfig, **settings):
    """Saved run config (on resume) < config file/dict < arguments; validated once by `schema`."""
    if isinstance(config, Settings):
        base = config.model_dump(mode="json", exclude_unset=True)  # what it was given, not its defaults
    elif isinstance(config, (str, os.PathLike)):
        base = load_config_file(config, schema)
    else:
        base = dict(config or {})
    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ConfigError(f"invalid model: {model!r} ({type(model).__name__}); pass a registry name (transferkit "
                          "models list), hf:org/name, timm:NAME or a model folder")
    if output is not None and not isinstance(output, (str, os.PathLike)):
        raise ConfigError(f"invalid output: {output!r} ({type(output).__name__}); pass a folder path")
    paths = {name: str(value) for name, value in
             (("model", model), ("train", train), ("validation", validation), ("test", test), ("output", output))
             if isinstance(value, (str, os.PathLike))}
    explicit = {**base, **{k: v for k, v in settings.items() if v is not None}, **paths}
    saved = None
    run_dir = explicit.get("output")
    if explicit.get("resume") and run_dir and (Path(run_dir) / "config.json").is_file():
        saved = load_config_file(Path(run_dir) / "config.json", schema)
        saved.pop("overwrite", None)  # how the run was started, not how it is continued
    return schema.build(saved, explicit)


def saved_settings(config: dict, schema=FinetuneConfig, **overrides):
    """The settings of a saved run config (keys this version does not know are ignored)."""
    known = {k: v for k, v in config.items() if k in schema.model_fields}
    return schema.build(known, overrides)
