"""`distill`: teach a student with a trained teacher, inside the fine-tuning engine.

    from transferkit import distill
    run = distill("runs/teacher", "from-teacher:3", "train.csv", "dev.csv", output="runs/student",
                  unlabeled="reviews.csv", temperature=2.0, alpha=0.5)
    run.comparison["retention_pct"], run.predict(["a gorgeous, witty film"])

Steps: settings (a DistillConfig) -> teacher run -> student (registry model or from-teacher:K)
-> transfer set (labelled train + teacher-labelled unlabelled data + augmented copies, teacher
outputs cached on disk) -> `finetune.train_and_save` with the distillation task/strategy/model
-> a control (the same student fine-tuned without the teacher) -> comparison.json.
The result is an ordinary run directory (kind "distill"): evaluate, predict and serve load it.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..._io import atomic_write_json
from ...errors import ConfigError
from ...runs import public_metrics
from ..config import FinetuneConfig, resolve_config
from ..finetune import (
    FinetuneResult,
    check_run_dir,
    encode_splits,
    finetune,
    load_checked_data,
    make_engine,
    resolve_defaults,
    setup,
    train_and_save,
)
from ..report import write_report
from .compare import comparison, describe, folder_bytes, measure_speed
from .config import DistillConfig
from .students import parse_from_teacher, shallow_copy
from .teacher import SoftTargets, Teacher
from .training import (
    DistillationModel,
    DistillationStrategy,
    DistillationTask,
    TransferSet,
    check_same_tokenizer,
    default_layer_pairs,
    hidden_count,
    hidden_width,
)

# Fields of DistillConfig that a plain fine-tuning run (the control) does not have.
_DISTILL_ONLY = set(DistillConfig.model_fields) - set(FinetuneConfig.model_fields)


@dataclass
class DistillResult(FinetuneResult):
    comparison: dict = field(default_factory=dict)


DistillRun = DistillResult  # the name of earlier releases


def distill(teacher: str | os.PathLike | None = None, student: str | None = None, train=None, validation=None,
            test=None, output=None, *, unlabeled=None, config=None, callbacks: Sequence = (), **settings) -> DistillResult:
    """Distil the run in `teacher` into `student` (a registry model, folder or from-teacher:K).

    train/validation/test/unlabeled: files, dataset names or in-memory data as for `finetune`;
    settings: any DistillConfig field (temperature, alpha, hidden_weight, epochs, lr, ...).
    """
    from accelerate.utils import set_seed

    from ...engine.loop import check_fit

    in_memory_unlabeled = unlabeled if unlabeled is not None and not isinstance(unlabeled, (str, os.PathLike)) else None
    if isinstance(unlabeled, (str, os.PathLike)):
        settings["unlabeled"] = str(unlabeled)
    if teacher is not None:
        settings["teacher"] = str(teacher)
    cfg = resolve_config(student, train, validation, test, output, config=config, schema=DistillConfig, **settings)
    if cfg.teacher is None:
        raise ConfigError("invalid teacher: no teacher given; pass --teacher RUN_DIR (a finetune run)")
    if cfg.model is None:
        raise ConfigError("invalid student: no student given; pass --student MODEL or from-teacher:K")
    if cfg.lr == "auto":
        raise ConfigError("invalid lr: auto is for finetune; find the student's rate with transferkit lr-find -m STUDENT "
                          "and pass it as --lr")
    mentor = Teacher(cfg.teacher)
    _inherit(cfg, mentor)
    task, inner = setup(cfg, pretrained=parse_from_teacher(cfg.model) is None)
    task.check_distillation(cfg)
    strategy = DistillationStrategy(inner)
    accelerator, dtype = make_engine(cfg, strategy)
    check_run_dir(cfg, accelerator, "distill")
    data = load_checked_data(task, cfg, train, validation, test)
    if list(data.label_names) != mentor.label_names:
        raise ConfigError(f"train: labels {list(data.label_names)} differ from the teacher's {mentor.label_names}; "
                          "distil on data with the teacher's label set")
    chosen, dtype = resolve_defaults(cfg, task, strategy, data, accelerator)

    set_seed(cfg.seed)
    keep = parse_from_teacher(cfg.model)
    init_dir = None
    if keep is not None:
        student_model = shallow_copy(task.load_model(mentor.folder, mentor.label_names), keep)
        if cfg.control:  # the control starts from this same copy
            init_dir = Path(tempfile.mkdtemp(prefix="transferkit-student-init-"))
            task.save(student_model, init_dir)
    else:
        student_model = task.build_model(cfg.model, data)
    if cfg.needs_live_teacher:
        check_same_tokenizer(task, mentor.task, "a live teacher (hidden-state or attention loss, --teacher-outputs live)")
    network = _wrap(cfg, task, student_model, mentor)
    network = strategy.prepare(network)
    strategy.update(network, 0, 0)

    encoded = encode_splits(task, data, accelerator)
    extra = _extra_examples(cfg, task, data, in_memory_unlabeled)
    batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
    parts = [encoded["train"], *(task.encode(e, training=True) for e in extra.values())]
    targets = None
    if not cfg.needs_live_teacher:
        targets = SoftTargets.concat([mentor.soft_targets(e, accelerator, batch_size, dtype, cfg.cache_tokens)
                                      for e in (data.train, *extra.values())])
    else:
        mentor.model.to(accelerator.device)
    encoded["train"] = TransferSet(task.concat(parts) if len(parts) > 1 else parts[0], targets)
    check_fit(cfg, network, encoded["train"])
    examples = len(getattr(encoded["train"].data, "n_words", encoded["train"].data))  # sentences, not windows
    if targets is not None and len(targets) != examples:
        raise ConfigError(f"train: the teacher read {len(targets)} examples but the student {examples} "
                          "(images unreadable for one of them?); pass --bad-images error to find them")
    info = {"teacher": str(mentor.run_dir), "teacher_task": mentor.task_name,
            "transfer_set": {"labelled": len(data.train), **{k: len(v) for k, v in extra.items()}},
            "teacher_outputs": "live" if cfg.needs_live_teacher else "cached"}
    run = train_and_save(cfg, DistillationTask(task, mentor, cfg), strategy, network, data, encoded, accelerator,
                         dtype, callbacks, kind="distill", extra_info=info, inference=task, defaults=chosen)
    try:
        doc = _compare(cfg, run, task, mentor, data, accelerator, init_dir, train, validation, test)
    finally:
        if init_dir is not None:
            shutil.rmtree(init_dir, ignore_errors=True)
    if run.run_dir is not None and accelerator.is_main_process:
        atomic_write_json(run.run_dir / "comparison.json", doc)
        if cfg.report:
            write_report(run.run_dir)
    return DistillResult(run.predictor, run.metrics, run.config, run.run_dir, run.info, doc)


def _inherit(cfg: DistillConfig, mentor: Teacher) -> None:
    """The task, and how inputs are read and sized, come from the teacher unless given."""
    if "task" in cfg.model_fields_set and cfg.task is not None and cfg.task != mentor.task_name:
        raise ConfigError(f"invalid task: the teacher is a {mentor.task_name} run; a student learns the same task")
    cfg.task = mentor.task_name
    for name in mentor.task.student_inherits:
        if name not in cfg.model_fields_set and mentor.settings.get(name) is not None:
            setattr(cfg, name, mentor.settings[name])


def _wrap(cfg: DistillConfig, task, student, mentor: Teacher) -> DistillationModel:
    hidden, attentions = cfg.hidden_weight > 0, cfg.attention_weight > 0
    s_states, t_states = hidden_count(student), hidden_count(mentor.model)
    pairs = cfg.layer_pairs() or default_layer_pairs(s_states, t_states)
    for s, t in pairs:
        if not (0 <= s < s_states and 0 <= t < t_states):
            raise ConfigError(f"invalid hidden_layers: {s}:{t} is out of range (student 0..{s_states - 1}, "
                              f"teacher 0..{t_states - 1}; 0 is the embeddings)")
    if attentions:
        if s_states == 1:
            raise ConfigError("invalid attention_weight: attention maps exist in transformer models only")
        for model in (student, mentor.model):  # fused attention kernels return no attention maps
            model.set_attn_implementation("eager")
    return DistillationModel(task, student, pairs, hidden_width(mentor.model), hidden, attentions)


def _extra_examples(cfg: DistillConfig, task, data, in_memory_unlabeled) -> dict:
    """Transfer-set examples beyond the labelled train split: unlabelled data, augmented copies."""
    extra = {}
    source = in_memory_unlabeled if in_memory_unlabeled is not None else cfg.unlabeled
    if source is not None:
        unlabeled = task.read_unlabeled(source)
        if getattr(unlabeled, "labels", None) is not None:
            unlabeled.labels = None  # a label column found there is not used: the teacher labels it
        extra["unlabeled"] = unlabeled
    if cfg.augment_copies:
        extra["augmented"] = task.transfer_copies(data.train, cfg.augment_copies, cfg.seed)
    return extra


def _compare(cfg: DistillConfig, run: FinetuneResult, task, mentor: Teacher, data, accelerator, init_dir, train,
             validation, test) -> dict:
    """comparison.json: teacher and control scored on the splits the student was scored on; speed."""
    from ...engine.loop import evaluate

    splits = [name for name in ("validation", "test") if getattr(data, name) is not None]
    if not splits:
        return {"note": "no validation or test data: nothing to compare"}
    batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
    mentor.model.to(accelerator.device)
    teacher_metrics = {name: public_metrics(evaluate(mentor.task, mentor.model, mentor.task.encode(getattr(data, name)),
                                              accelerator, batch_size)) for name in splits}
    control = None
    if cfg.control:
        settings = {k: v for k, v in cfg.to_json().items()
                    if k not in _DISTILL_ONLY and k not in ("model", "train", "validation", "test", "output")}
        settings.update(progress=False, resume=False, overwrite=True, tensorboard=False)
        splits_given = [given if given is not None else getattr(cfg, name)
                        for name, given in (("train", train), ("validation", validation), ("test", test))]
        control_run = finetune(str(init_dir) if init_dir is not None else cfg.model, *splits_given,
                               output=None if accelerator.num_processes == 1 else str(run.run_dir / "control"),
                               **settings)
        control = describe(cfg.model + " (no teacher)", control_run.metrics,
                           sum(p.numel() for p in control_run.predictor.model.parameters()), None, None)
        control["train_seconds"] = control_run.info["train_seconds"]
    split = "test" if "test" in splits else "validation"
    sample = getattr(data, split).subset(np.arange(min(256, len(getattr(data, split)))))
    student_model = run.predictor.model
    teacher_speed = measure_speed(mentor.task, mentor.model, mentor.task.encode(sample), device=accelerator.device)
    student_speed = measure_speed(task, student_model, task.encode(sample), device=accelerator.device)
    student_dir = run.run_dir / "model" if run.run_dir is not None else None
    teacher_row = describe(mentor.settings.get("model", str(mentor.run_dir)), teacher_metrics,
                           sum(p.numel() for p in mentor.model.parameters()), folder_bytes(mentor.folder), teacher_speed)
    student_row = describe(cfg.model, run.metrics, sum(p.numel() for p in student_model.parameters()),
                           folder_bytes(student_dir), student_speed)
    student_row["train_seconds"] = run.info["train_seconds"]
    return comparison(teacher_row, student_row, control, task.headline_metric, split)
