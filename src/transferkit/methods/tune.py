"""`transferkit tune`: hyper-parameter search over fine-tuning runs, with Optuna.

    result = transferkit.tune("minilm-l6", "train.csv", "dev.csv", output="runs/tuned", n_trials=12)
    result.best_params, result.predictor.predict(["..."])      # runs/tuned/best is a normal run

Each trial is `transferkit finetune -c trials/NNN.yaml` in its own process, so every trial gets
its memory back (the parent never imports torch); the parent follows the trial's train_log.jsonl
and reports each validation evaluation to Optuna, which prunes a trial that falls below the
median of earlier trials at the same evaluation (the process is stopped with SIGTERM). A trial's
score is its best evaluation, and its model is the weights of that evaluation (trials run with
early stopping, which restores the best weights). The study lives in DIR/study.db (SQLite), so
`--resume -o DIR` continues it; when it ends, the best trial's run becomes DIR/best and the
others are deleted unless --keep-trials. DIR/tune.json lists every trial (settings, score per
evaluation, state, seconds, peak memory).

The search space (a task's `search_space()`, or a YAML file of the same shape) is relative where
that generalises: `lr` and `epochs` marked `relative` are multiples of the defaults transferkit
chooses for this task, model family and data size (methods/defaults.py).
"""

from __future__ import annotations

import copy
import os
import resource
import shutil
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from .._io import atomic_write_json, atomic_write_text, read_json
from ..errors import ConfigError, Interrupted, Terminated, TransferkitError
from ..runs import RUN_KINDS, check_output_dir, load_run
from ..settings import Settings, load_config_file

STATE_FILE, SUMMARY_FILE, BEST = "study.db", "tune.json", "best"


class Param(Settings):
    """One dimension of the search space."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    choices: list[Any] | None = None
    relative: bool = False  # a multiple of the default transferkit chooses for this run
    when: dict[str, Any] | None = None  # sampled only when these settings have these values

    @model_validator(mode="after")
    def _complete(self):
        if self.type == "categorical" and not self.choices:
            raise ValueError("a categorical parameter needs choices: [...]")
        if self.type != "categorical" and (self.low is None or self.high is None or self.low > self.high):
            raise ValueError("a float or int parameter needs low <= high")
        return self


class TuneOptions(Settings):
    n_trials: int = Field(12, ge=1, description="Trials to run (counting those of a resumed study).")
    timeout: float | None = Field(None, gt=0, description="Start no new trial after this many seconds.")
    metric: str | None = Field(None, description="Validation metric to optimise (default: the task's, e.g. macro_f1; "
                                                 "loss is minimised).")
    space: str | None = Field(None, description="YAML file with the search space (default: the task's; see "
                                                "docs/architecture.md).")
    pruner: Literal["median", "asha", "none"] = Field("median", description="Stop poor trials after an evaluation.")
    keep_trials: bool = Field(False, description="Keep every trial's run directory, not only the best.")


@dataclass
class TuneResult:
    """What `tune` returns: the best trial's run (a Predictor), its settings and every trial."""

    predictor: Any
    best_params: dict[str, Any]
    best_value: float
    metric: str
    trials: list[dict] = field(default_factory=list)
    run_dir: Path | None = None

    def predict(self, inputs):
        return self.predictor.predict(inputs)


# ------------------------------------------------------------------ the search space

def load_space(path: str | os.PathLike, fields) -> dict[str, Param]:
    """A search space file: setting name -> {type, low, high, log, choices, relative, when}."""
    return check_space(load_config_file(path, None), fields, str(path))


def check_space(raw: dict, fields, where: str = "space") -> dict[str, Param]:
    space = {}
    for name, spec in raw.items():
        if name not in fields:
            raise ConfigError(f"{where}: {name!r} is not a finetune setting")
        if not isinstance(spec, dict):
            raise ConfigError(f"{where}: {name} needs a mapping like {{type: float, low: 1e-5, high: 1e-3, log: true}}")
        try:
            space[name] = Param(**spec)
        except ValidationError as e:
            first = e.errors()[0]
            problem = first["msg"].removeprefix("Value error, ")
            if first["type"] == "extra_forbidden":
                problem = f"unknown key {first['loc'][0]!r} (use type, low, high, log, choices, relative, when)"
            raise ConfigError(f"{where}: {name}: {problem}") from None
    return space


def sample(trial, space: dict[str, Param], default_of) -> dict[str, Any]:
    """One trial's settings. Unconditional parameters come first, so `when` can test them, and
    relative ones last: `default_of(name, chosen)` is the run's default given what was chosen
    (a LoRA trial's default learning rate is not a full fine-tuning one's)."""
    chosen: dict[str, Any] = {}
    for name, p in sorted(space.items(), key=lambda kv: (kv[1].when is not None, kv[1].relative)):
        if p.when and any(chosen.get(k, default_of(k, chosen)) != v for k, v in p.when.items()):
            continue
        if p.type == "categorical":
            value = trial.suggest_categorical(name, p.choices)
        elif p.type == "int":
            value = trial.suggest_int(name, int(p.low), int(p.high), log=p.log)
        else:
            value = float(f"{trial.suggest_float(name, p.low, p.high, log=p.log):.3g}")  # readable configs
        if p.relative:
            base = default_of(name, chosen)
            value = max(1, round(base * value)) if isinstance(base, int) else float(f"{base * value:.3g}")
        chosen[name] = value
    return chosen


# ------------------------------------------------------------------ one trial, in its own process

@dataclass
class TrialOutcome:
    state: str  # complete | pruned | failed
    values: list[float]
    seconds: float
    peak_rss_mb: float
    error: str | None = None


def run_trial(trial, config_file: Path, run_dir: Path, metric: str, log_file: Path, poll: float = 0.5) -> TrialOutcome:
    """Train one trial in a child process, reporting each evaluation to Optuna; stop it when pruned."""
    started, values, seen = time.perf_counter(), [], 0
    with open(log_file, "wb") as log:
        child = subprocess.Popen([sys.executable, "-m", "transferkit", "finetune", "-c", str(config_file)],
                                 stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "TRANSFERKIT_DEBUG": "0"})
        pruned, status, usage = False, None, None
        try:
            while status is None:
                pid, raw_status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    status = os.waitstatus_to_exitcode(raw_status)
                    break
                time.sleep(poll)
                seen = _report(trial, run_dir / "train_log.jsonl", metric, values, seen)
                if not pruned and values and trial.should_prune():
                    pruned = True
                    child.terminate()
        except BaseException:
            child.terminate()
            child.wait()
            raise
        child.returncode = status
    _report(trial, run_dir / "train_log.jsonl", metric, values, seen)
    rss = usage.ru_maxrss / 1024 if usage is not None else 0.0  # Linux reports KiB
    outcome = TrialOutcome("pruned" if pruned else "complete" if status == 0 else "failed", values,
                           round(time.perf_counter() - started, 1), round(rss, 1))
    if outcome.state == "failed":
        lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
        outcome.error = lines[-1] if lines else f"exit status {status}"
    elif outcome.state == "complete" and not values:
        outcome.state, outcome.error = "failed", "no validation evaluation was logged"
    return outcome


def _report(trial, log_path: Path, metric: str, values: list[float], seen: int) -> int:
    """Report evaluations logged since the last look; returns how many lines were read."""
    import json

    if not log_path.is_file():
        return seen
    lines = log_path.read_text(encoding="utf-8").splitlines()
    complete = lines if log_path.read_text(encoding="utf-8").endswith("\n") else lines[:-1]
    for line in complete[seen:]:
        record = json.loads(line)
        if record.get("event") == "evaluate" and metric in record:
            values.append(float(record[metric]))
            trial.report(values[-1], step=len(values))
    return max(seen, len(complete))


# ------------------------------------------------------------------ the study

def tune(model: str | None = None, train=None, validation=None, test=None, output=None, *, config=None,
         n_trials: int | None = None, timeout: float | None = None, metric: str | None = None, space=None,
         pruner: str | None = None, keep_trials: bool | None = None, **settings) -> TuneResult:
    """Search fine-tuning settings for `model` on `train` (files or dataset names: trials run as
    separate processes), scored on `validation`; returns the best trial, saved in OUTPUT/best."""
    import optuna

    from .config import FinetuneConfig, resolve_config
    from .defaults import choose_defaults
    from .finetune import load_checked_data, setup

    for name, value in (("train", train), ("validation", validation), ("test", test)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise ConfigError(f"invalid {name}: tune runs each trial in its own process; pass a file, folder or "
                              "dataset name, not data in memory")
    # A tune directory is not a finetune run: its resume is handled here, not by resolve_config.
    resume = bool(settings.pop("resume", False))
    cfg = resolve_config(model, train, validation, test, output, config=config, **settings)
    cfg.resume = resume
    if cfg.output is None:
        raise ConfigError("invalid output: tune keeps its study and best run in a directory; pass --output DIR")
    study_dir = Path(cfg.output)
    given = {k: v for k, v in (("n_trials", n_trials), ("timeout", timeout), ("metric", metric),
                               ("space", str(space) if isinstance(space, (str, os.PathLike)) else None),
                               ("pruner", pruner), ("keep_trials", keep_trials)) if v is not None}
    saved = read_json(study_dir / SUMMARY_FILE) if cfg.resume and (study_dir / SUMMARY_FILE).is_file() else None
    options = TuneOptions.build(saved["options"] if saved else None, given)
    if cfg.resume and saved is None and study_dir.exists() and any(study_dir.iterdir()):
        raise TransferkitError(f"{study_dir} holds no tune study ({SUMMARY_FILE} missing); cannot resume it")
    if not cfg.resume:
        check_output_dir(study_dir, cfg.overwrite)

    # Validate everything once, here: a bad setting fails in one line, not in 12 trials.
    probe_cfg = copy.deepcopy(cfg)
    probe_cfg.resume = False
    task, strategy = setup(probe_cfg)
    metric_name = options.metric or task.default_metric
    if metric_name not in task.metric_names:
        raise ConfigError(f"invalid metric: {metric_name!r}; choose from {', '.join(task.metric_names)}")
    raw_space = saved["space"] if saved else (load_config_file(options.space, None) if options.space
                                              else task.search_space())
    # What the user set is fixed: it leaves the space.
    search = check_space({k: v for k, v in raw_space.items() if k not in cfg.model_fields_set},
                         FinetuneConfig.model_fields, options.space or "space")
    data = load_checked_data(task, probe_cfg, train, validation, test)
    choose_defaults(probe_cfg, task, strategy, data)  # the trials' own defaults, for `relative`
    default_of = _defaults_of(probe_cfg, task)
    defaults = {name: default_of(name, {}) for name in search}

    fixed = {k: v for k, v in cfg.model_dump(mode="json", exclude_unset=True).items()
             if k not in ("output", "resume", "overwrite", "progress")}
    fixed.update(progress=False, report=False, early_stopping_metric=metric_name,
                 early_stopping_patience=fixed.get("early_stopping_patience", 2))
    work = study_dir if not cfg.overwrite or not study_dir.exists() else study_dir.with_name(f".{study_dir.name}.tune")
    if work != study_dir and work.exists():
        shutil.rmtree(work)
    (work / "trials").mkdir(parents=True, exist_ok=True)
    summary = {"kind": "tune", "options": options.to_json(), "space": {k: v.to_json() for k, v in search.items()},
               "fixed": fixed, "metric": metric_name, "defaults": defaults, "trials": (saved or {}).get("trials", [])}
    atomic_write_json(work / SUMMARY_FILE, summary)
    _write_config(work, summary, None)  # a tune directory from the start (--overwrite, --resume know it)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)  # TPE's `group`
    from ..engine.callbacks import MINIMIZED

    maximize = metric_name not in MINIMIZED
    study = optuna.create_study(
        storage=f"sqlite:///{work / STATE_FILE}", study_name="transferkit", load_if_exists=True,
        direction="maximize" if maximize else "minimize", pruner=_pruner(options.pruner),
        sampler=optuna.samplers.TPESampler(seed=cfg.seed, n_startup_trials=max(3, options.n_trials // 3),
                                           multivariate=True, group=True))
    for stale in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study.tell(stale.number, state=optuna.trial.TrialState.FAIL)  # killed with the last session
    started = time.perf_counter()
    try:
        while _finished(study) < options.n_trials:
            if options.timeout and time.perf_counter() - started > options.timeout:
                break
            trial = study.ask()
            params = sample(trial, search, default_of)
            run_dir = work / "trials" / f"{trial.number:03d}"
            config_file = work / "trials" / f"{trial.number:03d}.yaml"
            _write_trial_config(config_file, {**fixed, **params, "output": str(run_dir)})
            outcome = run_trial(trial, config_file, run_dir, metric_name, config_file.with_suffix(".log"))
            best = (max if maximize else min)(outcome.values) if outcome.values else None
            if outcome.state == "complete":
                study.tell(trial, best)
            else:
                study.tell(trial, state=optuna.trial.TrialState.PRUNED if outcome.state == "pruned"
                           else optuna.trial.TrialState.FAIL)
            summary["trials"].append({"number": trial.number, "params": params, "state": outcome.state,
                                      "value": best, "evaluations": outcome.values, "seconds": outcome.seconds,
                                      "peak_rss_mb": outcome.peak_rss_mb, "error": outcome.error,
                                      # The parent's own peak: flat across trials, which return their memory.
                                      "tuner_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                                                 / 1024, 1)})
            atomic_write_json(work / SUMMARY_FILE, summary)
            _announce(summary["trials"][-1], metric_name)
            if outcome.state != "complete" and not options.keep_trials:
                shutil.rmtree(run_dir, ignore_errors=True)
    except (KeyboardInterrupt, Terminated) as e:
        raise Interrupted(f"tune interrupted after {_finished(study)} trial(s); continue with --resume -o {study_dir}",
                          143 if isinstance(e, Terminated) else 130) from None
    return _finish(study, summary, work, study_dir, options, maximize)


def _defaults_of(cfg, task):
    """default_of(name, chosen): the value transferkit would use for `name` in a trial that chose `chosen`."""
    from ..strategies import STRATEGIES
    from .defaults import base_lr, family_for

    family = family_for(cfg.model, task)

    def default_of(name: str, chosen: dict) -> Any:
        if name == "lr":
            strategy = STRATEGIES.get(chosen.get("strategy", cfg.strategy))(cfg)
            return base_lr(task, strategy, family)[0]
        return getattr(cfg, name, None)

    return default_of


def _finished(study) -> int:
    import optuna

    done = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED, optuna.trial.TrialState.FAIL)
    return len(study.get_trials(deepcopy=False, states=done))


def _pruner(name: str):
    import optuna

    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=0)
    if name == "asha":
        return optuna.pruners.SuccessiveHalvingPruner()
    return optuna.pruners.NopPruner()


def _write_trial_config(path: Path, settings: dict) -> None:
    import yaml

    atomic_write_text(path, yaml.safe_dump(settings, sort_keys=True))


def _announce(row: dict, metric: str) -> None:
    import logging

    value = f"{metric} {row['value']:.4f}" if row["value"] is not None else row["error"] or row["state"]
    logging.getLogger("transferkit.settings").info(
        "trial %d %s (%s) in %.0fs, peak %.0f MB: %s", row["number"], row["state"], value, row["seconds"],
        row["peak_rss_mb"], ", ".join(f"{k}={v}" for k, v in row["params"].items()))


def _finish(study, summary: dict, work: Path, study_dir: Path, options: TuneOptions, maximize: bool) -> TuneResult:
    complete = [t for t in summary["trials"]
                if t["state"] == "complete" and (work / "trials" / f"{t['number']:03d}").is_dir()]
    if not complete:
        raise TransferkitError(f"tune: no trial completed ({len(summary['trials'])} tried; see {work}/trials/*.log)")
    best = (max if maximize else min)(complete, key=lambda t: t["value"])
    best_dir = work / BEST
    if best_dir.exists():
        shutil.rmtree(best_dir)
    shutil.move(str(work / "trials" / f"{best['number']:03d}"), str(best_dir))
    if not options.keep_trials:
        for path in (work / "trials").glob("[0-9][0-9][0-9]"):
            shutil.rmtree(path, ignore_errors=True)
    summary.update(best_trial=best["number"], best_value=best["value"], best_params=best["params"])
    atomic_write_json(work / SUMMARY_FILE, summary)
    _write_config(work, summary, best)
    if work != study_dir:
        from .._io import swap_in

        swap_in(work, study_dir)
    return TuneResult(load_run(study_dir / BEST), best["params"], best["value"], summary["metric"],
                      summary["trials"], study_dir)


def _write_config(work: Path, summary: dict, best: dict | None) -> None:
    atomic_write_json(work / "config.json", {"kind": "tune", "best": BEST if best else None, "metric": summary["metric"],
                                             "best_params": best["params"] if best else None, **summary["fixed"]})


@RUN_KINDS.register("tune")
def load_tuned(run_dir: Path, config: dict):
    """A tune study directory loads as its best trial's run."""
    best = Path(run_dir) / (config.get("best") or BEST)
    if not config.get("best") or not (best / "config.json").is_file():
        raise TransferkitError(f"{run_dir}: the study has no best run yet (continue it with tune --resume)")
    return load_run(best)
