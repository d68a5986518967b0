"""Run directories: what every trained artefact (probe, fine-tune, distilled) looks like on disk.

    RUN_DIR/
      config.json    resolved settings; "kind" selects the loader, "task" the task
      labels.json    label names in class-id order
      metrics.json   {"split": ..., <metrics of that split>, "by_split": {name: metrics}}
      evaluation.jsonl  that split's examples with their predictions (Task.review_rows), for reports
      report.html    the run's self-contained report
      ...            kind-specific files (a head, a Hugging Face model folder, checkpoints)
"""

from __future__ import annotations

import os
from pathlib import Path

from .._io import atomic_write_json, read_json
from ..errors import TransferkitError


def is_run(path: Path) -> bool:
    """A folder transferkit wrote: its config.json names a run kind."""
    try:
        config = read_json(Path(path) / "config.json")
    except (OSError, ValueError):
        return False
    return isinstance(config, dict) and isinstance(config.get("kind"), str)


def check_output_dir(path: str | os.PathLike, overwrite: bool) -> Path:
    """Where a new run may go, checked before any work: a new or empty folder, or with `overwrite`
    an earlier *run* (never a file, never a folder of other things), in a place we can write."""
    path = Path(path)
    if path.is_symlink() and not path.exists():
        raise TransferkitError(f"{path} is a broken symbolic link; remove it or choose another --output")
    if path.exists() and not path.is_dir():
        raise TransferkitError(f"{path} is a file, not a run directory; choose another --output "
                               "(--overwrite only replaces an earlier run)")
    if path.is_dir() and any(path.iterdir()):
        if not is_run(path):
            raise TransferkitError(f"{path} already exists and is not a transferkit run (no config.json with a run "
                                   "kind); choose another --output: --overwrite only replaces an earlier run")
        if not overwrite:
            raise TransferkitError(f"{path} already exists; choose another --output or pass --overwrite")
    _check_writable(path)
    return path


def _check_writable(path: Path) -> None:
    existing = path
    while not existing.exists():  # the nearest folder that exists is where the run gets created
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK) or (path.exists() and not os.access(path.parent, os.W_OK)):
        where = existing if not os.access(existing, os.W_OK | os.X_OK) else path.parent
        raise TransferkitError(f"{where}: not writable (permission denied or a read-only file system); choose "
                               "another --output")


def read_run_config(run_dir: str | os.PathLike) -> dict:
    """config.json of a run directory, with one-line errors for what is not a run."""
    run_dir = Path(run_dir)
    path = run_dir / "config.json"
    if not path.is_file():
        raise TransferkitError(f"{run_dir} is not a transferkit run directory (no config.json); "
                               "pass the --output folder of a probe, finetune or distill run")
    try:
        config = read_json(path)
    except (OSError, ValueError) as e:
        raise TransferkitError(f"{path}: unreadable run config ({e}); the run is damaged, train it again") from None
    if not isinstance(config, dict) or "kind" not in config:
        if isinstance(config, dict) and ("model_type" in config or "architectures" in config):
            raise TransferkitError(f"{run_dir} is a model folder, not a run; use it as --model to fine-tune or probe it")
        raise TransferkitError(f"{path}: not a transferkit run config (no 'kind'); pass the --output folder of a run")
    return config


def read_labels(run_dir: str | os.PathLike) -> list[str]:
    path = Path(run_dir) / "labels.json"
    try:
        return list(read_json(path)["names"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise TransferkitError(f"{path}: unreadable label names ({e}); the run is damaged, train it again") from None


EVALUATION_FILE = "evaluation.jsonl"
EVALUATION_ROWS = 20_000  # kept per run: enough for calibration and mistakes, bounded on disk


def headline_split(by_split: dict) -> str | None:
    """The split a run is judged on: test if present, else validation."""
    return "test" if "test" in by_split else ("validation" if "validation" in by_split else next(iter(by_split), None))


def write_evaluation(run_dir: str | os.PathLike, rows: list[dict] | None) -> None:
    """evaluation.jsonl: the headline split's examples with predictions (the first EVALUATION_ROWS)."""
    if rows:
        from ..outputs.tables import write_jsonl

        write_jsonl(Path(run_dir) / EVALUATION_FILE, rows[:EVALUATION_ROWS])


def write_metrics(run_dir: str | os.PathLike, by_split: dict[str, dict]) -> dict:
    """metrics.json: the headline split (test if present, else validation) flattened at top level."""
    headline = headline_split(by_split)
    doc = {"split": headline, **(by_split.get(headline) or {}), "by_split": by_split}
    atomic_write_json(Path(run_dir) / "metrics.json", doc)
    return doc
