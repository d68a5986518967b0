"""Choose a model: train candidates (or take finished runs), measure them all the same way on this
machine, and rank them on quality x size x speed.

    transferkit compare --train t.csv --validation v.csv -o runs/cmp \\
        --candidates minilm-l3:finetune,minilm-l6:probe,minilm-l6:finetune:strategy=lora
    transferkit compare runs/ft runs/small-int8 --validation v.csv -o runs/cmp --max-latency-ms 5

A candidate is `MODEL:METHOD[:key=value,...]` (METHOD: finetune or probe; any setting of that
command), or `distill:teacher=RUN_OR_CANDIDATE,student=MODEL[,key=value...]`, or a finished run
directory (fine-tuned, distilled, probed or exported). Each candidate trains in its own
`transferkit` subprocess into DIR/candidates/NAME (a failure is recorded and the others go on;
a finished candidate is not trained again), then each run is measured in a fresh process with a
fixed thread count: the headline metric on the evaluation split (the test data, else the
validation data) with a bootstrap 95 % interval, size on disk, parameters, batch-1 latency
(p50/p95 of end-to-end single predictions after warm-up) and batch-32 throughput. A candidate no
other beats on metric, latency and size at once is on the Pareto front; the recommendation is the
best metric within `--max-latency-ms` / `--max-size-mb` / `--min-metric`, preferring the cheaper
of candidates whose intervals overlap the best. Writes leaderboard.csv, leaderboard.json and
config.json (kind "compare": `load_run(DIR)` loads the recommended run).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

from ..._io import atomic_write_json, atomic_write_text
from ...errors import ConfigError, TransferkitError
from ...runs import RUN_KINDS
from ..report import write_report
from .candidates import Candidate, parse_candidate, read_candidates, train_candidates
from .measure import _measure_in_child, bootstrap_interval, hardware, measure
from .ranking import pareto, recommend

COLUMNS = ("candidate", "method", "model", "metric", "score", "ci_low", "ci_high", "macro_f1", "parameters",
           "parameters_without_embeddings", "size_mb", "latency_p50_ms", "latency_p95_ms", "throughput_per_s",
           "train_seconds", "train_peak_rss_mb", "pareto", "run_dir", "error")


def compare(candidates: Sequence[str], output, *, train=None, validation=None, test=None, task: str | None = None,
            max_latency_ms: float | None = None, max_size_mb: float | None = None, min_metric: float | None = None,
            threads: int | None = None, latency_calls: int = 100, overwrite: bool = False, report: bool = True,
            echo=print) -> dict:
    """Train and measure the candidates into `output`; returns the leaderboard document."""
    parsed = read_candidates(candidates)
    needs_training = any(c.method != "run" for c in parsed)
    if needs_training and train is None:
        raise ConfigError("invalid train: candidates to train need --train DATA")
    evaluation = test if test is not None else validation
    if evaluation is None:
        raise ConfigError("invalid validation: the comparison scores every candidate on the same data; pass --test or "
                          "--validation")
    folder = Path(output)
    if folder.is_dir() and (folder / "config.json").is_file() and overwrite:
        import shutil

        shutil.rmtree(folder)
    (folder / "candidates").mkdir(parents=True, exist_ok=True)
    threads = threads or min(4, os.cpu_count() or 1)
    data = {"train": str(train) if train is not None else None,
            "validation": str(validation) if validation is not None else None,
            "test": str(test) if test is not None else None}
    started = time.perf_counter()
    trained = train_candidates(parsed, folder, data, task, echo)
    rows = []
    for c in parsed:
        entry = trained[c.slug]
        row = {"candidate": c.name, "method": c.method, "model": c.model, "run_dir": entry["run_dir"],
               "train_peak_rss_mb": entry.get("train_peak_rss_mb")}
        if "error" in entry:
            row["error"] = entry["error"]
        else:
            echo(f"measuring {c.name}")
            result = _measure_in_child(entry["run_dir"], str(evaluation), threads, latency_calls)
            row.update({k: v for k, v in result.items() if k not in ("model",) or row["model"] is None})
        rows.append(row)
    tasks = {r.get("task") for r in rows if r.get("task")}
    if len(tasks) > 1:
        raise ConfigError(f"invalid candidates: they solve different tasks ({', '.join(sorted(tasks))}); compare "
                          "candidates of one task")
    pareto(rows)
    choice = recommend(rows, max_latency_ms, max_size_mb, min_metric)
    wall = time.perf_counter() - started
    training = sum(e.get("train_wall_s", 0) for e in trained.values())  # earlier calls' included
    # compare's own cost: this call's wall time less the training it ran (measuring, orchestration).
    overhead = wall - sum(e.get("train_wall_s", 0) for e in trained.values() if not e.get("resumed"))
    document = {"candidates": rows, "recommendation": choice, "evaluated_on": str(evaluation),
                "constraints": {"max_latency_ms": max_latency_ms, "max_size_mb": max_size_mb,
                                "min_metric": min_metric},
                "hardware": hardware(threads), "wall_seconds": round(wall, 1), "training_seconds": round(training, 1),
                "overhead_seconds": round(overhead, 1),
                "overhead_pct": round(100 * overhead / training, 1) if training else None,
                "task": next(iter(tasks), None)}
    atomic_write_json(folder / "leaderboard.json", document)
    atomic_write_text(folder / "leaderboard.csv", _csv(rows))
    chosen = choice.get("run_dir") if choice else None
    if chosen and Path(chosen).resolve().is_relative_to(folder.resolve()):
        chosen = str(Path(chosen).resolve().relative_to(folder.resolve()))  # the folder can move
    atomic_write_json(folder / "config.json", {"kind": "compare", "candidates": [asdict(c) for c in parsed],
                                               "data": data, "recommended": chosen})
    if report:
        write_report(folder)
    return document


def _csv(rows: list[dict]) -> str:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


@RUN_KINDS.register("compare")
def load_compared(run_dir: Path, config: dict):
    """A comparison loads as the run it recommends."""
    from ...runs import load_run

    chosen = config.get("recommended")
    if not chosen:
        raise TransferkitError(f"{run_dir}: the comparison recommended no candidate; load one of "
                               f"{run_dir}/candidates/* instead")
    return load_run(Path(run_dir) / chosen)  # relative: a candidate inside the comparison; else as given


__all__ = ["compare", "Candidate", "parse_candidate", "read_candidates", "train_candidates", "measure",
           "bootstrap_interval", "hardware", "pareto", "recommend"]
