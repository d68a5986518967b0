"""Settings the user did not give, chosen for the task, the model family, the strategy and the data.

One global learning rate does not fit a transformer encoder and a CNN with batch norm, and three
epochs of 500 examples are 48 optimizer steps, too few for anything to learn. So after the data
is read, every training setting the user left unset is resolved, most specific rule last:

    engine default (TrainSettings) < the model family's (FAMILY_DEFAULTS) < the task's for that
    family (Task.recommended) < the strategy's LR scale < what the data needs (image size from the
    images' own size; enough epochs to reach MIN_STEPS) < `--lr auto` (an LR range test)

Each value was chosen by measurement on a spread of data sets and sizes, validation held out of
the training data (benchmarks/defaults.py -> benchmarks/results/defaults.json). Every choice
that differs from the engine's default is logged with its reason ("lr 0.002: default for
image-backbone models"), printed by the CLI and saved in the run's config under run_info.
A setting given explicitly (flag, config file, keyword, or a resumed run's config) is never changed.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("transferkit.settings")

RESULTS = "benchmarks/results/defaults.json"

# Per model family, whatever the task. CNNs with batch norm train at a learning rate 10-100x a
# transformer's, prefer a cosine schedule and larger batches (batch-norm statistics).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "image-backbone": {"lr": 2e-3, "schedule": "cosine", "batch_size": 64},
}
FAMILY_NAMES = {"image-backbone": "image backbones (CNNs with batch norm)", "text-encoder": "text encoders",
                "text-decoder": "text decoders", "speech-seq2seq": "speech encoder-decoders (Whisper)",
                "audio-encoder": "speech encoders (Wav2Vec2, HuBERT, ...)"}

# Small data: train at least this many optimizer steps when --epochs is not given, in at most
# MAX_EPOCHS epochs (500 examples at batch 32: 16 steps an epoch -> 10 epochs instead of 3).
MIN_STEPS = 150
MAX_EPOCHS = 20


@dataclass(frozen=True)
class Chosen:
    """One resolved default: the setting, its value and why."""

    setting: str
    value: Any
    reason: str

    def line(self) -> str:
        return f"{self.setting} {self.value:g}: {self.reason}" if isinstance(self.value, float) else \
            f"{self.setting} {self.value}: {self.reason}"


def explicit(cfg) -> set[str]:
    """Settings given by the user (flags, config file, keywords; every setting of a resumed run)."""
    return set(cfg.model_fields_set)


# On CPU, bf16 autocast slows CNNs down: MobileNetV2, batch 64 at 64 px, one training step takes
# ~370 ms in fp32 and ~720 ms under bf16 autocast on an AVX512-BF16 EPYC (depthwise convolutions
# have no fast bf16 kernel); transformers gain ~1.2-1.5x. `precision auto` stays bf16 elsewhere.
FP32_ON_CPU = {"image-backbone"}


def choose_defaults(cfg, task, strategy, data, *, world_size: int = 1, device: str = "cpu") -> list[Chosen]:
    """Resolve the settings `cfg` was not given (in place) and return what was chosen and why
    (`announce` them once the run has passed its checks). `lr="auto"` is left for the caller."""
    given = explicit(cfg)
    family = family_for(cfg.model, task)
    chosen: list[Chosen] = []

    def pick(name: str, value: Any, reason: str | None) -> None:
        if name in given or not hasattr(cfg, name):
            return
        if reason is not None and getattr(cfg, name) != value:
            chosen.append(Chosen(name, value, reason))
        setattr(cfg, name, value)
        given.add(name)  # one rule per setting: the most specific comes first below

    # Most specific first; `pick` keeps the first rule that names a setting.
    for name, (value, reason) in task.data_settings(data, given).items():
        pick(name, value, reason)
    if "lr" not in given:
        pick("lr", *base_lr(task, strategy, family))
    task_rules = {**task.recommended.get(None, {}), **task.recommended.get(family, {})}
    for name, value in task_rules.items():
        pick(name, value, f"default for task {task.name}" + (f" with {_family(family)}" if family else ""))
    for name, value in FAMILY_DEFAULTS.get(family or "", {}).items():
        pick(name, value, f"default for {_family(family)}")
    if device == "cpu" and family in FP32_ON_CPU and cfg.precision == "auto":
        pick("precision", "fp32", f"bf16 autocast is slower than fp32 for {_family(family)} on CPU")
    _min_steps(cfg, len(data.train), world_size, given, chosen)
    return chosen


def announce(chosen: list[Chosen]) -> None:
    """Log each choice on `transferkit.settings` (the CLI prints them as `note: ...` lines)."""
    for item in chosen:
        log.info("%s", item.line())


ENGINE_LR = 5e-5  # a transformer encoder's fine-tuning rate: what any family without its own gets


def base_lr(task, strategy, family: str | None) -> tuple[float, str | None]:
    """(default learning rate, why; None: the engine's plain default) for this task, strategy, family."""
    lr, where = ENGINE_LR, None
    for rules, said in ((task.recommended.get(family, {}), f"default for task {task.name} with {_family(family)}"),
                        (task.recommended.get(None, {}), f"default for task {task.name}"),
                        (FAMILY_DEFAULTS.get(family or "", {}), f"default for {_family(family)}")):
        if "lr" in rules:
            lr, where = rules["lr"], said
            break
    scale = strategy.default_lr_scale
    if scale != 1.0:
        lr, where = lr * scale, f"{where or 'the default'} x{scale:g} for strategy {strategy.name} (fewer weights train)"
    return lr, where


def family_for(model: str | None, task) -> str | None:
    """The model's family, else the task's only family (a student cut from its teacher, an unknown ref)."""
    from ..errors import TransferkitError
    from ..sources import family_of

    try:
        family = family_of(str(model)) if model is not None else None
    except TransferkitError:
        family = None
    return family or (task.families[0] if len(task.families) == 1 else None)


def _family(family: str | None) -> str:
    return FAMILY_NAMES.get(family or "", f"{family} models")


def _min_steps(cfg, examples: int, world_size: int, given: set[str], chosen: list[Chosen]) -> None:
    if "epochs" in given or "max_steps" in given or cfg.max_steps is not None:
        return
    per_step = cfg.batch_size * cfg.grad_accum * max(1, world_size)
    per_epoch = max(1, math.ceil(examples / per_step))
    needed = min(MAX_EPOCHS, math.ceil(MIN_STEPS / per_epoch))
    if needed > cfg.epochs:
        chosen.append(Chosen("epochs", needed, f"{examples} examples make {per_epoch} steps an epoch; small data "
                                               f"sets train for at least {MIN_STEPS} steps"))
        cfg.epochs = needed
    given.add("epochs")


def record(info: dict, chosen: list[Chosen]) -> None:
    """Put the chosen defaults in a run's run_info (setting -> reason)."""
    if chosen:
        info["defaults"] = {c.setting: c.reason for c in chosen}
