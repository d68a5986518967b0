"""Distillation as a task, a strategy and a module the one training loop runs unchanged.

* `DistillationModel`: the student plus what only distillation trains (projections of its
  hidden states to the teacher's width). Its forward goes through DDP like any model's.
* `DistillationStrategy`: the configured strategy (full, top-k, LoRA, ...) applied to the
  student; the projections always train; `export` returns the plain student.
* `DistillationTask`: the student's task with the teacher's targets added to each training
  batch (cached rows, or the live teacher) and the distillation loss; evaluation, saving and
  prediction are the student task's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from ...errors import ConfigError
from ...strategies import Strategy
from ...tasks import Task
from .losses import attention_loss, hard_label_loss, hidden_state_loss, soft_label_loss
from .teacher import SoftTargets


@dataclass
class TransferSet:
    """The student's encoded training examples with the teacher's targets (None: live teacher)."""

    data: Any
    targets: SoftTargets | None

    @property
    def lengths(self) -> np.ndarray:
        return self.data.lengths

    @property
    def length_unit(self) -> str | None:
        return getattr(self.data, "length_unit", None)

    def __len__(self) -> int:
        return len(self.data)


def hidden_count(model: nn.Module) -> int:
    """Hidden states a model returns: embeddings + one per layer (transformers), 1 (pooled CNN features)."""
    layers = getattr(getattr(model, "config", None), "num_hidden_layers", None)
    return layers + 1 if layers else 1


def hidden_width(model: nn.Module) -> int:
    config = getattr(model, "config", None)
    return getattr(config, "hidden_size", None) or model.num_features


def default_layer_pairs(student_states: int, teacher_states: int) -> list[tuple[int, int]]:
    """Student layer i -> teacher layer round(i * T / S), i = 1..S (last to last); 0 -> 0 for CNN features."""
    if student_states == 1 or teacher_states == 1:
        return [(student_states - 1, teacher_states - 1)]
    s, t = student_states - 1, teacher_states - 1
    return [(i, round(i * t / s)) for i in range(1, s + 1)]


class DistillationModel(nn.Module):
    def __init__(self, task: Task, student: nn.Module, pairs: list[tuple[int, int]], teacher_width: int,
                 hidden: bool, attentions: bool):
        super().__init__()
        self.task, self.student, self.pairs = task, student, pairs
        self.attention_pairs = [(s, t) for s, t in pairs if s > 0 and t > 0]  # layers, not embeddings
        self.hidden, self.attentions = hidden, attentions
        width = hidden_width(student)
        # A learned map from the student's width to the teacher's; the identity when they match.
        self.projections = nn.ModuleList(
            [nn.Linear(width, teacher_width) if width != teacher_width else nn.Identity() for _ in pairs]
            if hidden else [])

    def forward(self, batch: dict):
        out = self.task.forward(self.student, batch, hidden_states=self.hidden, attentions=self.attentions)
        projected = [proj(out.hidden_states[s]) for proj, (s, _) in zip(self.projections, self.pairs)] \
            if self.hidden else None
        attentions = [out.attentions[s - 1] for s, _ in self.attention_pairs] if self.attentions else None
        return out.logits, projected, attentions


class DistillationStrategy(Strategy):
    def __init__(self, inner: Strategy):
        super().__init__(inner.config)
        self.inner = inner
        self.name, self.changes_trainable = inner.name, inner.changes_trainable
        self.default_lr_scale = inner.default_lr_scale

    def prepare(self, model: DistillationModel) -> DistillationModel:
        model.student = self.inner.prepare(model.student)
        return model

    def param_groups(self, model: DistillationModel) -> list[dict]:
        groups = self.inner.param_groups(model.student)
        extra = [p for p in model.projections.parameters() if p.requires_grad]
        if extra:
            groups.append({"params": extra, "names": [f"projections.{n}" for n, _ in model.projections.named_parameters()],
                           "lr": self.config.lr, "weight_decay": self.config.weight_decay})
        return groups

    def update(self, model: DistillationModel, epoch: int, step: int) -> None:
        self.inner.update(model.student, epoch, step)

    def export(self, model: nn.Module) -> nn.Module:
        return self.inner.export(model.student if isinstance(model, DistillationModel) else model)


class DistillationTask(Task):
    """Wraps the student's task; `teacher` is a `Teacher` (its model runs live when needed)."""

    def __init__(self, student_task: Task, teacher, config):
        super().__init__(config)
        self.base, self.teacher = student_task, teacher
        self.name, self.metric_names = student_task.name, student_task.metric_names
        self.default_metric = student_task.default_metric
        self.live = config.needs_live_teacher

    # Evaluation, saving and prediction are the student task's; the loop hands the wrapper or,
    # after export, the plain student.
    def predict(self, model, batch: dict):
        return self.base.predict(model.student if isinstance(model, DistillationModel) else model, batch)

    def evaluate(self, dataset, outputs: np.ndarray) -> dict:
        return self.base.evaluate(dataset, outputs)

    def save(self, model, directory) -> None:
        self.base.save(model, directory)

    def start_epoch(self, epoch: int, epochs: int) -> None:
        self.base.start_epoch(epoch, epochs)

    def collate(self, dataset, indices, rng=None) -> dict:
        if not isinstance(dataset, TransferSet):  # validation / test
            return self.base.collate(dataset, indices, rng)
        batch = self.base.collate(dataset.data, indices, rng)
        if dataset.targets is not None:
            self.base.add_soft_targets(batch, dataset.data, indices, dataset.targets.rows, dataset.targets.offsets)
        return batch

    def loss(self, model, batch: dict):
        cfg = self.config
        logits, projected, attentions = model(batch)
        if self.base.distils_sequences:  # the teacher's outputs are targets (speech: its transcripts)
            return self.base.sequence_distillation_loss(logits, batch, cfg)
        mask = batch.get("attention_mask")
        teacher_hidden = teacher_attn = None
        if self.live:
            teacher_out = self._teacher(batch)
            teacher_logits, teacher_mask = teacher_out.logits, batch.get("teacher_mask")
            if teacher_mask is None and teacher_logits.dim() == 3:  # tokens: where the student is labelled
                teacher_mask = mask.bool() if mask is not None else None
            inner = getattr(model, "module", model)  # under DDP the wrapper sits in .module
            if projected is not None:
                teacher_hidden = [teacher_out.hidden_states[t] for _, t in inner.pairs]
            if attentions is not None:
                teacher_attn = [teacher_out.attentions[t - 1] for _, t in inner.attention_pairs]
        else:
            teacher_logits, teacher_mask = batch["teacher_logits"], batch.get("teacher_mask")
        loss = (1 - cfg.alpha) * soft_label_loss(logits, teacher_logits, cfg.temperature, teacher_mask)
        if cfg.alpha > 0 and "labels" in batch:
            loss = loss + cfg.alpha * hard_label_loss(logits, batch["labels"], cfg.label_smoothing)
        if teacher_hidden is not None:
            hidden_mask = mask if projected[0].dim() == 3 else None
            loss = loss + cfg.hidden_weight * hidden_state_loss(projected, teacher_hidden, hidden_mask)
        if teacher_attn is not None:
            loss = loss + cfg.attention_weight * attention_loss(attentions, teacher_attn, mask)
        return loss

    @torch.no_grad()
    def _teacher(self, batch: dict):
        cfg = self.config
        inputs = self.base.teacher_inputs(batch, self.teacher.task)
        return self.teacher.task.forward(self.teacher.model, inputs, hidden_states=cfg.hidden_weight > 0,
                                         attentions=cfg.attention_weight > 0)


def check_same_tokenizer(student_task: Task, teacher_task: Task, why: str) -> None:
    """Live teaching and token-level losses feed the student's token ids to the teacher."""
    a, b = getattr(student_task, "tokenizer", None), getattr(teacher_task, "tokenizer", None)
    if a is None or b is None:
        return
    probe = "Transferkit checks: naïve CAFÉ, 2,048 tokens — ok?"
    if a.get_vocab() != b.get_vocab() or a(probe)["input_ids"] != b(probe)["input_ids"]:
        raise ConfigError(f"invalid student: {why} needs the teacher's tokenizer, and this student tokenizes "
                          "differently; use --teacher-outputs cached with soft-label loss only, or a student with "
                          "the teacher's vocabulary (e.g. from-teacher:K)")
