"""Fine-tune a pretrained model: the functional API and the `finetune` run kind.

    from transferkit import finetune
    run = finetune("minilm-l6", "train.csv", "dev.csv", output="runs/ft", epochs=3, strategy="lora")
    run.predict(["a gorgeous, witty film"])

`finetune` composes small steps: settings -> task -> data -> model -> strategy -> training loop
-> export -> metrics -> run directory. The same call runs under `torchrun`/`accelerate launch`
with several processes; only the main process writes. Distillation reuses the steps.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .._io import atomic_dir, atomic_write_json, give_default_permissions, swap_in
from ..errors import ConfigError, Interrupted, ModelSourceError, Terminated, TransferkitError
from ..runs import (
    RUN_KINDS,
    ModelScorer,
    Predictor,
    check_output_dir,
    headline_split,
    public_metrics,
    read_labels,
    read_run_config,
    write_evaluation,
    write_metrics,
)
from ..settings import refuse_foreign
from .config import FinetuneConfig, check_family, record_detected, resolve_config, resolve_task, saved_settings
from .defaults import Chosen, announce, base_lr, choose_defaults, family_for
from .report import write_report


@dataclass
class FinetuneResult:
    """What `finetune` returns: the trained predictor, its metrics and where it was saved."""

    predictor: Predictor
    metrics: dict[str, dict]  # by split: validation, test
    config: FinetuneConfig
    run_dir: Path | None  # None when trained without an output directory
    info: dict[str, Any]  # world size, device, precision, steps, seconds

    @property
    def label_names(self) -> list[str]:
        return self.predictor.label_names

    def predict_proba(self, inputs):
        return self.predictor.predict_proba(inputs)

    def predict(self, inputs) -> list:
        return self.predictor.predict(inputs)

    def predict_json(self, inputs) -> list[dict]:
        return self.predictor.predict_json(inputs)

    def evaluate(self, examples) -> dict:
        return self.predictor.evaluate(examples)


FinetuneRun = FinetuneResult  # the name of earlier releases


def finetune(model: str | None = None, train=None, validation=None, test=None, output=None, *,
             config: FinetuneConfig | dict | str | os.PathLike | None = None, callbacks: Sequence = (),
             **settings) -> FinetuneResult:
    """Fine-tune `model` on labelled data and return the result.

    train/validation/test: files, folders or dataset names (see transferkit.data), or data in
    memory as the task reads it ((texts, labels), (token lists, tag lists), (images, labels)).
    output: run directory (None: train in a temporary directory and keep only the in-memory
    model). settings: any FinetuneConfig field, e.g. epochs=3, lr=2e-5, strategy="lora";
    config: a YAML/JSON file, dict or FinetuneConfig they override.
    """
    cfg = resolve_config(model, train, validation, test, output, config=config, **settings)
    return train_run(cfg, train, validation, test, callbacks, kind="finetune")


def train_run(cfg: FinetuneConfig, train, validation, test, callbacks: Sequence = (), *, kind: str,
              extra_info: dict | None = None) -> FinetuneResult:
    """settings -> task -> data -> model -> strategy -> training loop -> run directory (finetune, pretrain)."""
    task, strategy = setup(cfg)  # every settings error is raised here, before torch is imported
    from accelerate.utils import set_seed

    from ..engine.loop import check_fit

    accelerator, dtype = make_engine(cfg, strategy)
    check_run_dir(cfg, accelerator, kind)
    data = load_checked_data(task, cfg, train, validation, test)
    chosen, dtype = resolve_defaults(cfg, task, strategy, data, accelerator)

    set_seed(cfg.seed)  # the new head's initialisation
    network = strategy.prepare(task.build_model(cfg.model, data))
    strategy.update(network, 0, 0)  # the first step's trainable set, so run_info records it
    encoded = encode_splits(task, data, accelerator)
    check_fit(cfg, network, encoded["train"])
    lr_test = choose_auto_lr(cfg, task, strategy, network, encoded["train"], accelerator, dtype, chosen)
    notes = getattr(task, "loading_notes", None)
    info = {**(extra_info or {}), **({"model_notes": notes} if notes else {})}
    result = train_and_save(cfg, task, strategy, network, data, encoded, accelerator, dtype, callbacks, kind=kind,
                            defaults=chosen, lr_test=lr_test, extra_info=info)
    if cfg.report and accelerator.is_main_process:
        write_report(result.run_dir)
    return result


# The steps of `finetune`, shared with distillation (which swaps in its own task, strategy and data).

def setup(cfg: FinetuneConfig, *, pretrained: bool = True):
    """(task, strategy) for the settings, after every check that needs no data or model.
    `pretrained=False`: cfg.model names no pretrained model (a distilled student cut from its teacher)."""
    from ..strategies import STRATEGIES
    from ..tasks import TASKS

    if cfg.model is None:
        raise ConfigError("invalid model: no model given; pass --model NAME_OR_FOLDER")
    if cfg.resume and cfg.overwrite:
        raise ConfigError(f"invalid resume: --resume continues the run in {cfg.output} and --overwrite replaces it; "
                          "pass one of them")
    task = TASKS.get(resolve_task(cfg))(cfg)
    if pretrained:
        check_family(cfg.model, task)
    strategy = STRATEGIES.get(cfg.strategy)(cfg)
    refuse_foreign(cfg, f"task {cfg.task}", f"strategy {cfg.strategy}")
    task.check_config()
    strategy.check_config()
    return task, strategy


def make_engine(cfg, strategy):
    """(accelerate.Accelerator, autocast dtype or None) for the configured device and precision."""
    from ..engine.device import make_accelerator, resolve_precision

    accelerator = make_accelerator(cfg.device, find_unused_parameters=strategy.changes_trainable)
    return accelerator, resolve_precision(cfg.precision, accelerator.device)


def load_checked_data(task, cfg, train, validation, test):
    """The task's splits (arguments win over the config's paths); records detected columns in cfg."""
    if train is None and cfg.train is None:
        raise ConfigError("invalid train: no training data given; pass --train FILE")
    data = task.load_data(train if train is not None else cfg.train,
                          validation if validation is not None else cfg.validation,
                          test if test is not None else cfg.test)
    if cfg.early_stopping_patience and data.validation is None:
        raise ConfigError("invalid early_stopping_patience: early stopping needs validation data (--validation)")
    record_detected(cfg, data)
    return data


def resolve_defaults(cfg, task, strategy, data, accelerator):
    """(the Chosen defaults, the autocast dtype of the resolved precision) for this run."""
    from ..engine.device import resolve_precision

    chosen = choose_defaults(cfg, task, strategy, data, world_size=accelerator.num_processes,
                             device=accelerator.device.type)
    return chosen, resolve_precision(cfg.precision, accelerator.device)


def choose_auto_lr(cfg, task, strategy, network, train_set, accelerator, dtype, chosen: list):
    """With --lr auto: run the LR range test, set cfg.lr and note why; returns its result (else None)."""
    if cfg.lr != "auto":
        return None
    from ..engine.lr_find import range_test

    # The param groups need a number while the test runs: per-group ratios (--head-lr, llrd) are
    # taken relative to the default learning rate.
    cfg.lr = base_lr(task, strategy, family_for(cfg.model, task))[0]
    result = range_test(task, network, train_set, strategy, cfg, accelerator, dtype, steps=cfg.lr_find_steps)
    cfg.lr = float(f"{result.suggestion:.3g}")
    chosen.append(Chosen("lr", cfg.lr, f"LR range test ({len(result.lrs)} steps, {result.stopped}): the valley of "
                                       f"the smoothed loss; steepest descent at {result.steep:.2e}"))
    return result


def encode_splits(task, data, accelerator) -> dict:
    with accelerator.main_process_first():  # the main process fills the token cache first
        return {name: task.encode(split, training=name == "train")
                for name in ("train", "validation", "test") if (split := getattr(data, name)) is not None}


def inference_task(task, cfg):
    """A copy of a trained task for predicting: same tokenizer and labels, no token cache writes."""
    copied = copy.copy(task)
    copied.config = cfg.model_copy(update={"cache_tokens": False})
    return copied


def train_and_save(cfg, task, strategy, network, data, encoded: dict, accelerator, dtype, callbacks: Sequence = (),
                   *, kind: str, extra_info: dict | None = None, inference=None, defaults: Sequence = (),
                   lr_test=None) -> FinetuneResult:
    """Train `network` on encoded["train"], export it, score validation/test in fp32 and write the
    run directory (model/, labels.json, metrics.json, config.json with run_info). `inference`: the
    task the returned predictor uses (default `task`; distillation trains through a wrapper).
    `defaults`: the Chosen settings (recorded in run_info); `lr_test`: an LR range test to keep."""
    from accelerate.utils import set_seed

    from ..engine.callbacks import JsonlLogger, ProgressBar, TensorBoardLogger
    from ..engine.device import precision_name
    from ..engine.inference import predict
    from ..engine.loop import TrainLoop, input_embedding_table

    set_seed(cfg.seed, device_specific=True)  # dropout: different per process, same per run
    place = RunPlace.create(cfg, accelerator)
    run_dir, temporary = place.work, place.final is None

    frozen = input_embedding_table(network) if getattr(cfg, "freeze_embeddings", False) else None
    info = {"world_size": accelerator.num_processes, "device": str(accelerator.device),
            "precision": precision_name(dtype), "split": getattr(data, "split_info", None),
            "sizes": {name: len(ds) for name, ds in encoded.items()},
            "parameters": sum(p.numel() for p in network.parameters()),
            # Of the first step (gradual unfreezing trains more later).
            "trainable_parameters": sum(p.numel() for p in network.parameters() if p.requires_grad and p is not frozen),
            **(extra_info or {})}
    _record_defaults(info, cfg, defaults, lr_test)
    main = accelerator.is_main_process
    if main:
        announce(list(defaults))  # every check has passed: this run trains with them
    if main and lr_test is not None:
        from ..engine.lr_find import write_lr_find

        write_lr_find(run_dir, lr_test)
    if main:
        atomic_write_json(run_dir / "config.json", _config_doc(cfg, info, kind))
    loggers = [JsonlLogger(run_dir / "train_log.jsonl")] if main else []
    if main and cfg.tensorboard:
        loggers.append(TensorBoardLogger(run_dir / "tensorboard"))
    if main and cfg.progress:
        loggers.append(ProgressBar())

    final: dict = {}

    def final_evaluation(model):
        """Final metrics in fp32, exactly what the saved model gives when loaded anywhere; the loop
        logs the validation ones as the last evaluation instead of scoring the set once more."""
        began = time.perf_counter()
        final["model"] = trained = strategy.export(model).eval()
        batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
        final["outputs"] = {name: predict(trained, encoded[name], task.collate, task.predict, batch_size=batch_size,
                                          accelerator=accelerator) for name in ("validation", "test") if name in encoded}
        final["metrics"] = {name: task.evaluate(encoded[name], out) for name, out in final["outputs"].items()}
        final["seconds"] = time.perf_counter() - began
        return final["metrics"].get("validation")

    started = time.perf_counter()
    loop = TrainLoop(task, network, encoded["train"], encoded.get("validation"), strategy, cfg, run_dir,
                     accelerator, dtype, [*loggers, *callbacks], final_evaluation=final_evaluation)
    try:
        state = loop.run()
    except KeyboardInterrupt as e:  # Ctrl-C, or SIGTERM turned into one by the CLI
        raise place.interrupted(loop, e) from None
    info.update(steps=state.step, epochs_completed=state.epoch, stopped_early=state.stopped_early,
                train_seconds=round(time.perf_counter() - started - final["seconds"], 2),
                final_evaluation_seconds=round(final["seconds"], 2))

    trained, outputs = final["model"], final["outputs"]
    metrics = {name: public_metrics(values) for name, values in final["metrics"].items()}
    if main and not temporary:
        with atomic_dir(run_dir / "model", overwrite=True) as tmp:
            task.save(trained, tmp)
        if loop.checkpoints:
            loop.checkpoints.finish(cfg.keep_checkpoints)
        atomic_write_json(run_dir / "labels.json", {"names": list(data.label_names)})
        write_metrics(run_dir, metrics)
        if (split := headline_split(outputs)) is not None:
            write_evaluation(run_dir, (inference or task).review_rows(getattr(data, split), encoded[split],
                                                                        outputs[split]))
        atomic_write_json(run_dir / "config.json", _config_doc(cfg, info, kind))
    place.finish(accelerator)
    result_dir = place.final
    inference = inference_task(inference or task, cfg)
    predictor = Predictor(inference, ModelScorer(inference, trained, cfg.eval_batch_size or 64), result_dir)
    return FinetuneResult(predictor, metrics, cfg, result_dir, info)


def _record_defaults(info: dict, cfg, defaults: Sequence, lr_test) -> None:
    """run_info["defaults"]: setting -> why it was chosen (kept from the first start on --resume)."""
    chosen = {c.setting: c.reason for c in defaults}
    if not chosen and cfg.resume and cfg.output and (Path(cfg.output) / "config.json").is_file():
        chosen = read_run_config(Path(cfg.output)).get("run_info", {}).get("defaults", {})
    if chosen:
        info["defaults"] = chosen
    if lr_test is not None:
        info["lr_find"] = {"suggestion": lr_test.suggestion, "steep": lr_test.steep, "steps": len(lr_test.lrs),
                           "stopped": lr_test.stopped}


def _config_doc(cfg, info: dict, kind: str) -> dict:
    return {"kind": kind, **cfg.to_json(), "run_info": info}


def check_run_dir(cfg, accelerator, kind: str) -> None:
    """Refuse to replace a run without --overwrite, or to resume another kind of run: before any work."""
    if cfg.output is None:
        if accelerator.num_processes > 1:
            raise ConfigError("invalid output: several processes need a shared --output directory")
        return
    run_dir = Path(cfg.output)
    if cfg.resume and (run_dir / "config.json").is_file():
        config = read_run_config(run_dir)
        if config.get("kind") != kind:
            raise TransferkitError(f"{run_dir} holds a {config.get('kind')} run, not a {kind} run; cannot resume it")
        if "steps" in config.get("run_info", {}) and not any((run_dir / "checkpoints").glob("step-*.pt")):
            raise TransferkitError(f"{run_dir} is a finished run that kept no checkpoints (--keep-checkpoints 0), so "
                                   f"it cannot be resumed; train further from its model instead (-m {run_dir}), or "
                                   "keep checkpoints next time with --keep-checkpoints 1")
    elif not cfg.resume:
        check_output_dir(run_dir, cfg.overwrite)


@dataclass
class RunPlace:
    """Where a run is built and where it ends up.

    A new run is built in place (so a killed run can be continued with --resume). A run that
    replaces an earlier one (--overwrite) is built beside it, in .NAME.overwrite, and swapped in
    only when complete: a crash, kill or Ctrl-C leaves the earlier run as it was. Without an
    output, the run lives in a temporary folder that is removed at the end."""

    work: Path
    final: Path | None
    beside: bool = False  # built next to an earlier run that it replaces at the end

    @classmethod
    def create(cls, cfg, accelerator) -> RunPlace:
        if cfg.output is None:
            return cls(Path(tempfile.mkdtemp(prefix="transferkit-finetune-")), None)
        final = Path(cfg.output)
        beside = bool(cfg.overwrite and not cfg.resume and final.is_dir() and any(final.iterdir()))
        work = final.with_name(f".{final.name}.overwrite") if beside else final
        if accelerator.is_main_process:
            if beside and work.exists():
                shutil.rmtree(work)  # what an earlier interrupted --overwrite left
            work.mkdir(parents=True, exist_ok=True)
            give_default_permissions(work)
        accelerator.wait_for_everyone()
        return cls(work, final, beside)

    def finish(self, accelerator) -> None:
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            if self.final is None:
                shutil.rmtree(self.work, ignore_errors=True)
            elif self.beside:
                swap_in(self.work, self.final)
        accelerator.wait_for_everyone()

    def interrupted(self, loop, error: BaseException) -> Interrupted:
        """The one line to say after Ctrl-C / SIGTERM stopped training, and the exit code to use."""
        state = loop.state
        where = f"interrupted at step {state.step} of {state.total_steps}"
        latest = loop.checkpoints.latest() if loop.checkpoints else None
        if self.final is None:
            advice = "nothing was saved (no --output)"
        elif self.beside:
            shutil.rmtree(self.work, ignore_errors=True)
            advice = f"the earlier run in {self.final} is unchanged"
        elif latest is not None:
            advice = f"continue with --resume -o {self.final} (from its checkpoint at step {_step_of(latest)})"
        else:
            advice = f"no checkpoint yet; run again (add --overwrite to replace the partial run in {self.final})"
        return Interrupted(f"{where}; {advice}", 143 if isinstance(error, Terminated) else 130)


def _step_of(checkpoint: Path) -> int:
    return int(checkpoint.stem.split("-")[-1])


@RUN_KINDS.register("pretrain")
@RUN_KINDS.register("finetune")
def load_finetuned(run_dir: Path, config: dict) -> Predictor:
    """The predictor of a finetune (or distill) run: its task and model/ folder."""
    from ..tasks import TASKS

    cfg = saved_settings(config, FinetuneConfig, cache_tokens=False)
    if cfg.task is None:  # a ready model's run (an image detector): its family's task
        from ..tasks import task_for_family
        from .config import model_family

        cfg.task = task_for_family(model_family(cfg.model))
    task = TASKS.get(cfg.task)(cfg)
    folder = Path(run_dir) / "model"
    if not folder.is_dir() or not any(folder.iterdir()):
        raise TransferkitError(f"{run_dir}: no fine-tuned model in model/ (the run did not finish; "
                               "continue it with --resume)")
    try:
        model = task.load_model(folder, read_labels(run_dir))
    except ModelSourceError as e:
        raise TransferkitError(f"{run_dir}: the trained model cannot be loaded ({e}); the run is damaged: train it "
                               "again") from None
    return Predictor(task, ModelScorer(task, model, cfg.eval_batch_size or 64), Path(run_dir), config)
