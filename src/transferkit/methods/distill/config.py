"""Distillation settings: every fine-tuning setting, plus teacher, student and the loss mix.

`DistillConfig` extends `FinetuneConfig`, so the CLI flags, YAML keys and keyword arguments of
`distill()` are generated the same way and mean the same as for `finetune`. The student is the
`model` field (the CLI spells it `--student`); the task comes from the teacher's run.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..config import FinetuneConfig

_LAYER_PAIR = re.compile(r"^\s*(\d+)\s*:\s*(\d+)\s*$")


class DistillConfig(FinetuneConfig):
    """The resolved settings of one distillation run (saved as RUN_DIR/config.json)."""

    teacher: str | None = Field(None, description="Run directory of the teacher (a finetune or distill run).")
    unlabeled: str | None = Field(None, description="Unlabelled data the teacher labels for the student (transfer set).")
    temperature: float = Field(2.0, gt=0, description="Softmax temperature of the soft-label loss (scaled by T^2).")
    alpha: float = Field(0.5, ge=0, le=1, description="Weight of the hard-label cross-entropy; 1 - alpha goes to "
                                                       "the teacher's soft labels.")
    hidden_weight: float = Field(0.0, ge=0, description="Weight of the hidden-state MSE (0: off); a learned "
                                                         "projection maps the student's width to the teacher's.")
    hidden_layers: str | None = Field(None, description="Hidden-state layer map student:teacher, e.g. 1:2,2:4,3:6 "
                                                        "(default: evenly spaced, last to last; 0 = embeddings).")
    attention_weight: float = Field(0.0, ge=0, description="Weight of the attention-map KL on the mapped layers "
                                                           "(0: off; transformer students and teachers).")
    teacher_outputs: Literal["auto", "cached", "live"] = Field(
        "auto", description="cached: teacher logits computed once and memory-mapped from disk; live: the teacher "
                            "runs on every batch (on the student's augmented view); auto: live only when hidden or "
                            "attention losses need it.")
    augment_copies: int = Field(0, ge=0, le=16, description="Texts: word-dropout/swap copies of each training text "
                                                            "the teacher labels for the transfer set.")
    control: bool = Field(True, description="Also fine-tune the same student without the teacher, for the comparison.")

    @field_validator("hidden_layers")
    @classmethod
    def _layer_map(cls, value: str | None) -> str | None:
        if value is not None:
            for part in value.split(","):
                if not _LAYER_PAIR.match(part):
                    raise ValueError(f"expected student:teacher pairs such as 1:2,2:4 (got {part.strip()!r})")
        return value

    @model_validator(mode="after")
    def _distill_compatible(self) -> DistillConfig:
        if self.teacher_outputs == "cached" and (self.hidden_weight or self.attention_weight):
            raise ValueError("teacher_outputs: hidden-state and attention losses need the teacher live; "
                             "use --teacher-outputs auto or live")
        if self.class_weights is not None:
            raise ValueError("class_weights: not used by distillation (the teacher's soft labels carry the "
                             "class balance); remove it")
        return self

    def layer_pairs(self) -> list[tuple[int, int]] | None:
        if self.hidden_layers is None:
            return None
        return [tuple(int(g) for g in _LAYER_PAIR.match(p).groups()) for p in self.hidden_layers.split(",")]

    @property
    def needs_live_teacher(self) -> bool:
        return self.teacher_outputs == "live" or (self.teacher_outputs == "auto" and
                                                   bool(self.hidden_weight or self.attention_weight))
