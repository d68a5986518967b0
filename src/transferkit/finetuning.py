"""Fine-tune a pretrained model: the functional API, the `finetune` run kind, and TextClassifier.

    from transferkit import finetune
    run = finetune("minilm-l6", "train.csv", "dev.csv", output="runs/ft", epochs=3, strategy="lora")
    run.predict(["a gorgeous, witty film"])

`finetune` composes small steps: settings -> task -> data -> model -> strategy -> training loop
-> export -> metrics -> run directory. The same call runs under `torchrun`/`accelerate launch`
with several processes; only the main process writes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ._io import atomic_dir, atomic_write_json, read_json
from .config import FinetuneConfig, load_config_file
from .errors import ConfigError, TransferkitError
from .runs import Predictor, check_output_dir, register_run_kind, write_metrics


@dataclass
class FinetuneRun:
    """The result of `finetune`: the trained predictor, its metrics and where it was saved."""

    predictor: Predictor
    metrics: dict[str, dict]  # by split: validation, test
    config: FinetuneConfig
    run_dir: Path | None  # None when trained without an output directory
    info: dict[str, Any]  # world size, device, precision, steps, seconds

    @property
    def label_names(self) -> list[str]:
        return self.predictor.label_names

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.predictor.predict_proba(texts)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return self.predictor.predict(texts)

    def evaluate(self, examples) -> dict:
        return self.predictor.evaluate(examples)


def resolve_config(model=None, train=None, validation=None, test=None, output=None, *,
                   config: FinetuneConfig | dict | str | os.PathLike | None = None, schema=FinetuneConfig,
                   **settings) -> FinetuneConfig:
    """Saved run config (on resume) < config file/dict < arguments; validated once by `schema`."""
    if isinstance(config, FinetuneConfig):
        base = config.to_json()
    elif isinstance(config, (str, os.PathLike)):
        base = load_config_file(config, schema)
    else:
        base = dict(config or {})
    paths = {name: str(value) for name, value in
             (("model", model), ("train", train), ("validation", validation), ("test", test), ("output", output))
             if isinstance(value, (str, os.PathLike))}
    explicit = {**base, **{k: v for k, v in settings.items() if v is not None}, **paths}
    saved = None
    run_dir = explicit.get("output")
    if explicit.get("resume") and run_dir and (Path(run_dir) / "config.json").is_file():
        saved = load_config_file(Path(run_dir) / "config.json", schema)
    return schema.build(saved, explicit)


def finetune(model: str | None = None, train=None, validation=None, test=None, output=None, *,
             config: FinetuneConfig | dict | str | os.PathLike | None = None, callbacks: Sequence = (),
             **settings) -> FinetuneRun:
    """Fine-tune `model` on labelled texts and return the run.

    train/validation/test: files or dataset names (see transferkit.data), `(texts, labels)`
    pairs, or TextExamples. output: run directory (None: train in a temporary directory and
    keep only the in-memory model). settings: any FinetuneConfig field, e.g. epochs=3, lr=2e-5,
    strategy="lora"; config: a YAML/JSON file, dict or FinetuneConfig they override.
    """
    from accelerate.utils import set_seed

    from .strategies import get_strategy
    from .tasks import get_task

    cfg = resolve_config(model, train, validation, test, output, config=config, **settings)
    if cfg.model is None:
        raise ConfigError("invalid model: no model given; pass --model NAME_OR_FOLDER")
    task = get_task(cfg.task)(cfg)
    task.check_config()
    strategy = get_strategy(cfg.strategy)(cfg)
    accelerator, dtype = make_engine(cfg, strategy)
    check_run_dir(cfg, accelerator, "finetune")
    data = load_checked_data(task, cfg, train, validation, test)

    set_seed(cfg.seed)  # the new head's initialisation
    network = strategy.prepare(task.build_model(_model_folder(cfg.model), data))
    strategy.update(network, 0, 0)  # the first step's trainable set, so run_info records it
    encoded = encode_splits(task, data, accelerator)
    return train_and_save(cfg, task, strategy, network, data, encoded, accelerator, dtype, callbacks, kind="finetune")


# The steps of `finetune`, shared with distillation (which swaps in its own task, strategy and data).

def make_engine(cfg, strategy):
    """(accelerate.Accelerator, autocast dtype or None) for the configured device and precision."""
    from .engine.device import make_accelerator, resolve_precision

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
    for name in ("text_column", "label_column"):  # record what was detected, for the saved config
        if getattr(cfg, name) is None and getattr(data, name, None):
            setattr(cfg, name, getattr(data, name))
    return data


def encode_splits(task, data, accelerator) -> dict:
    with accelerator.main_process_first():  # the main process fills the token cache first
        return {name: task.encode(split, training=name == "train")
                for name in ("train", "validation", "test") if (split := getattr(data, name)) is not None}


def train_and_save(cfg, task, strategy, network, data, encoded: dict, accelerator, dtype, callbacks: Sequence = (),
                   *, kind: str, extra_info: dict | None = None) -> FinetuneRun:
    """Train `network` on encoded["train"], export it, score validation/test in fp32 and write the
    run directory (model/, labels.json, metrics.json, config.json with run_info)."""
    from accelerate.utils import set_seed

    from .engine.callbacks import JsonlLogger, ProgressBar, TensorBoardLogger
    from .engine.device import precision_name
    from .engine.loop import TrainLoop, evaluate

    set_seed(cfg.seed, device_specific=True)  # dropout: different per process, same per run
    run_dir, temporary = _create_run_dir(cfg, accelerator)

    info = {"world_size": accelerator.num_processes, "device": str(accelerator.device),
            "precision": precision_name(dtype), "split": getattr(data, "split_info", None),
            "sizes": {name: len(ds) for name, ds in encoded.items()},
            "parameters": sum(p.numel() for p in network.parameters()),
            # Of the first step (gradual unfreezing trains more later).
            "trainable_parameters": sum(p.numel() for p in network.parameters() if p.requires_grad),
            **(extra_info or {})}
    main = accelerator.is_main_process
    if main:
        atomic_write_json(run_dir / "config.json", _config_doc(cfg, info, kind))
    loggers = [JsonlLogger(run_dir / "train_log.jsonl")] if main else []
    if main and cfg.tensorboard:
        loggers.append(TensorBoardLogger(run_dir / "tensorboard"))
    if main and cfg.progress:
        loggers.append(ProgressBar())

    started = time.perf_counter()
    loop = TrainLoop(task, network, encoded["train"], encoded.get("validation"), strategy, cfg, run_dir,
                     accelerator, dtype, [*loggers, *callbacks])
    state = loop.run()
    info.update(steps=state.step, epochs_completed=state.epoch, stopped_early=state.stopped_early,
                train_seconds=round(time.perf_counter() - started, 2))

    trained = strategy.export(loop.raw_model).eval()
    batch_size = cfg.eval_batch_size or 2 * cfg.batch_size
    # Final metrics in fp32: exactly what the saved model gives when loaded anywhere.
    metrics = {name: _public(evaluate(task, trained, encoded[name], accelerator, batch_size))
               for name in ("validation", "test") if name in encoded}
    if main and not temporary:
        with atomic_dir(run_dir / "model", overwrite=True) as tmp:
            task.save(trained, tmp)
        atomic_write_json(run_dir / "labels.json", {"names": list(data.label_names)})
        write_metrics(run_dir, metrics)
        atomic_write_json(run_dir / "config.json", _config_doc(cfg, info, kind))
    accelerator.wait_for_everyone()
    if temporary and main:
        shutil.rmtree(run_dir, ignore_errors=True)
    result_dir = None if temporary else run_dir
    return FinetuneRun(task.predictor(trained, result_dir), metrics, cfg, result_dir, info)


def _model_folder(ref: str) -> Path:
    from .sources import resolve_model

    if ref.startswith("timm:"):  # timm builds its own weights; the image task reads cfg.model
        return Path(ref)

    return Path(resolve_model(ref).path)


def _public(metrics: dict) -> dict:
    """Metrics as in every run kind's metrics.json (the eval loss is only logged)."""
    return {k: v for k, v in metrics.items() if k != "loss"}


def _config_doc(cfg: FinetuneConfig, info: dict, kind: str) -> dict:
    return {"kind": kind, **cfg.to_json(), "run_info": info}


def check_run_dir(cfg: FinetuneConfig, accelerator, kind: str) -> None:
    """Refuse to replace a run without --overwrite, or to resume another kind of run: before any work."""
    if cfg.output is None:
        if accelerator.num_processes > 1:
            raise ConfigError("invalid output: several processes need a shared --output directory")
        return
    run_dir = Path(cfg.output)
    if cfg.resume and (run_dir / "config.json").is_file():
        found = read_json(run_dir / "config.json").get("kind")
        if found != kind:
            raise TransferkitError(f"{run_dir} holds a {found} run, not a {kind} run; cannot resume it")
    elif not cfg.resume:
        check_output_dir(run_dir, cfg.overwrite)


def _create_run_dir(cfg: FinetuneConfig, accelerator) -> tuple[Path, bool]:
    """(run directory, is temporary), created once data and model have loaded."""
    if cfg.output is None:
        return Path(tempfile.mkdtemp(prefix="transferkit-finetune-")), True
    run_dir = Path(cfg.output)
    if accelerator.is_main_process:
        if cfg.overwrite and not cfg.resume and run_dir.exists():
            shutil.rmtree(run_dir)
        run_dir.mkdir(parents=True, exist_ok=True)
    accelerator.wait_for_everyone()
    return run_dir, False


@register_run_kind("finetune")
def load(run_dir: Path) -> Predictor:
    from .tasks import get_task

    config = read_json(Path(run_dir) / "config.json")
    return get_task(config.get("task", "text-classification")).load_predictor(Path(run_dir), config)


try:  # scikit-learn is a dependency; the guard keeps this module importable in minimal installs
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover
    BaseEstimator, ClassifierMixin = object, object


class TextClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn estimator that fine-tunes a pretrained encoder on texts.

    The constructor only stores parameters (so `clone` and grid search work); `settings` takes
    any further FinetuneConfig field, e.g. {"weight_decay": 0.1, "early_stopping_patience": 2}.
    """

    def __init__(self, model: str = "minilm-l6", *, strategy: str = "full", epochs: int = 3,
                 batch_size: int = 32, lr: float = 5e-5, max_length: int = 128, seed: int = 42,
                 output: str | None = None, settings: dict | None = None):
        self.model = model
        self.strategy = strategy
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_length = max_length
        self.seed = seed
        self.output = output
        self.settings = settings

    def fit(self, X: Sequence[str], y, eval_set: tuple[Sequence[str], Any] | None = None) -> "TextClassifier":
        from .data import LabelMap

        y = np.asarray(y)
        self.classes_ = np.unique(y)
        labels = LabelMap([str(c) for c in self.classes_])
        train = self._examples(X, y, labels, "fit(X, y)")
        validation = self._examples(*eval_set, labels, "eval_set") if eval_set is not None else None
        settings = {"progress": False, **(self.settings or {}),
                    "strategy": self.strategy, "epochs": self.epochs, "batch_size": self.batch_size,
                    "lr": self.lr, "max_length": self.max_length, "seed": self.seed}
        if self.output is not None:
            settings["overwrite"] = settings.get("overwrite", True)
        self.run_ = finetune(self.model, train, validation, output=self.output, **settings)
        return self

    def _examples(self, X, y, labels, source: str):
        from .data import TextExamples

        y = np.asarray(y)
        unknown = sorted(set(y.tolist()) - set(self.classes_.tolist()), key=str)
        if unknown:
            raise TransferkitError(f"{source}: labels {unknown[:5]} are not among the training classes")
        texts = [str(x) for x in X]
        if len(texts) != len(y):
            raise TransferkitError(f"{source}: {len(texts)} texts but {len(y)} labels")
        ids = np.searchsorted(self.classes_, y).astype(np.int64)
        return TextExamples(texts, ids, np.arange(1, len(texts) + 1), source, labels)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "run_")
        return self.run_.predict_proba([str(x) for x in X])

    def predict(self, X: Sequence[str]) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
