"""Candidates of a comparison: parsed from specs, trained each in its own `transferkit` subprocess."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from ..._io import atomic_write_json, read_json
from ...errors import ConfigError, TransferkitError
from ...runs import read_run_config
from ...runs.directory import is_run

METHODS = ("finetune", "probe")


@dataclass
class Candidate:
    name: str  # as given (a spec or a run path)
    method: str  # finetune | probe | distill | run
    model: str | None = None
    settings: dict[str, str] = field(default_factory=dict)
    run_dir: str | None = None

    @property
    def slug(self) -> str:
        readable = re.sub(r"[^A-Za-z0-9._=-]+", "_", self.name).strip("_")
        if len(readable) <= 80:
            return readable or "candidate"
        return f"{readable[:70]}-{hashlib.sha1(self.name.encode()).hexdigest()[:8]}"  # long specs stay distinct


def _pairs(text: str, spec: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key:
            raise ConfigError(f"invalid candidate: {spec!r}: expected key=value, got {part!r}")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def parse_candidate(spec: str) -> Candidate:
    """`MODEL:METHOD[:k=v,...]`, `distill:teacher=T,student=S[,k=v...]`, or a run directory."""
    spec = str(spec).strip()
    if Path(spec).is_dir() and is_run(Path(spec)):
        return Candidate(spec, "run", run_dir=spec)
    if spec.startswith("distill:"):
        settings = _pairs(spec[len("distill:"):], spec)
        if "teacher" not in settings or "student" not in settings:
            raise ConfigError(f"invalid candidate: {spec!r}: distill needs teacher=RUN_OR_CANDIDATE,student=MODEL")
        return Candidate(spec, "distill", settings["student"], settings)
    parts = spec.split(":")
    at = max((i for i, p in enumerate(parts) if p in METHODS), default=None)
    if at is None or at == 0:
        raise ConfigError(f"invalid candidate: {spec!r}; write MODEL:finetune, MODEL:probe[:key=value,...], "
                          "distill:teacher=...,student=... or a run directory")
    return Candidate(spec, parts[at], ":".join(parts[:at]), _pairs(":".join(parts[at + 1:]), spec))


def read_candidates(specs: Sequence[str]) -> list[Candidate]:
    """Candidates from specs, comma lists of specs, or YAML files holding a list of specs."""
    out: list[Candidate] = []
    for spec in specs:
        path = Path(spec)
        if path.suffix in (".yaml", ".yml") and path.is_file():
            import yaml

            listed = yaml.safe_load(path.read_text(encoding="utf-8"))
            if not isinstance(listed, list):
                raise ConfigError(f"invalid candidates: {path} must hold a list of candidate specs")
            out += [parse_candidate(str(item)) for item in listed]
        elif path.is_dir():
            out.append(parse_candidate(spec))
        else:
            out += [parse_candidate(s) for s in _split_specs(spec)]
    names = [c.slug for c in out]
    if len(set(names)) != len(names):
        raise ConfigError("invalid candidates: the same candidate is listed twice")
    if not out:
        raise ConfigError("invalid candidates: none given; pass --candidates MODEL:finetune,... or run directories")
    return out


def _split_specs(text: str) -> list[str]:
    """Split a comma list of specs; commas inside a spec's settings belong to it."""
    specs: list[str] = []
    for part in text.split(","):
        if specs and ("=" in part.split(":")[0] and not part.startswith("distill:")):
            specs[-1] += "," + part  # key=value of the previous spec
        elif part.strip():
            specs.append(part.strip())
    return specs


# ---------------------------------------------------------------------------------- training


def _flags(settings: dict[str, str]) -> list[str]:
    out = []
    for key, value in settings.items():
        flag = "--" + key.replace("_", "-")
        if value.lower() in ("true", "false"):
            out.append(flag if value.lower() == "true" else f"--no-{flag[2:]}")
        else:
            out += [flag, value]
    return out


def _command(c: Candidate, out: Path, data: dict, runs: dict[str, Path], task: str | None) -> list[str]:
    split_flags = [item for key in ("train", "validation", "test") if data.get(key) for item in (f"--{key}", data[key])]
    extra = ["--task", task] if task else []
    if c.method == "distill":
        settings = dict(c.settings)
        teacher = settings.pop("teacher")
        teacher = str(runs.get(teacher, teacher))  # another candidate (by name or MODEL:METHOD), or a run
        settings.pop("student")
        control = [] if "control" in settings else ["--no-control"]  # the student alone, unless asked
        return ["distill", "--teacher", teacher, "--student", c.model, *split_flags, "-o", str(out), "--no-progress",
                *control, *_flags(settings)]
    progress = ["--no-progress"] if c.method == "finetune" else []
    return [c.method, "-m", c.model, *split_flags, "-o", str(out), *progress, *extra, *_flags(c.settings)]


def _finished(folder: Path) -> bool:
    try:
        return (folder / "metrics.json").is_file() and "kind" in read_run_config(folder)
    except TransferkitError:
        return False


def _read_cost(folder: Path, c: Candidate) -> dict:
    try:
        cost = read_json(folder / "candidates" / f"{c.slug}.cost.json")
    except (OSError, ValueError):
        return {}
    return {k: cost[k] for k in ("train_wall_s", "train_peak_rss_mb") if isinstance(cost, dict) and k in cost}


def train_candidates(candidates: list[Candidate], folder: Path, data: dict, task: str | None, echo=print) -> dict:
    """Train what is not trained yet; returns slug -> {"run_dir", "train_wall_s", "train_peak_rss_mb", "error"}."""
    done: dict[str, dict] = {}
    runs = {c.name: folder / "candidates" / c.slug for c in candidates if c.method != "run"}
    short = [f"{c.model}:{c.method}" for c in candidates if c.method != "run"]
    runs.update({f"{c.model}:{c.method}": runs[c.name] for c in candidates
                 if c.method != "run" and short.count(f"{c.model}:{c.method}") == 1})
    started, trained = time.perf_counter(), 0
    pending = [c for c in candidates if c.method != "run" and not _finished(runs[c.name])]
    for c in candidates:
        if c.method == "run":
            done[c.slug] = {"run_dir": c.run_dir}
            continue
        out = runs[c.name]
        if _finished(out):  # trained by an earlier call: its training cost as measured then
            done[c.slug] = {"run_dir": str(out), "resumed": True, **_read_cost(folder, c)}
            continue
        command = [sys.executable, "-m", "transferkit", *_command(c, out, data, runs, task), "--overwrite"]
        index = pending.index(c) + 1
        eta = ""
        if trained:
            eta = f" (ETA {((time.perf_counter() - started) / trained) * (len(pending) - trained + 1) / 60:.1f} min)"
        echo(f"[{index}/{len(pending)}] training {c.name}{eta}")
        t0 = time.perf_counter()
        with open(folder / "candidates" / f"{c.slug}.log", "w", encoding="utf-8") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env={**os.environ,
                                                                                        "TRANSFERKIT_PROGRESS": "0"})
            _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        trained += 1
        entry = {"run_dir": str(out), "train_wall_s": round(time.perf_counter() - t0, 2),
                 "train_peak_rss_mb": round(usage.ru_maxrss / 1024, 1)}
        if process.returncode != 0:
            lines = [line for line in (folder / "candidates" / f"{c.slug}.log").read_text(
                encoding="utf-8", errors="replace").splitlines() if line.strip()]
            entry["error"] = (lines[-1] if lines else f"exit {process.returncode}")[:300]
            echo(f"  failed: {entry['error']}")
        else:
            atomic_write_json(folder / "candidates" / f"{c.slug}.cost.json",
                              {k: entry[k] for k in ("train_wall_s", "train_peak_rss_mb")})
        done[c.slug] = entry
    return done
