"""Shared helpers for benchmark scripts: environment facts, peak RSS, JSON results."""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"


def environment() -> dict:
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
            "cpus": os.cpu_count(), "threads": torch.get_num_threads(), "machine": platform.machine(),
            "cuda": torch.cuda.is_available()}


def peak_rss_mb() -> float:
    """This process's peak resident memory. VmHWM, not ru_maxrss: Linux carries ru_maxrss over
    fork + exec, so a child would report its parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(fn, repeats: int = 3) -> tuple[float, object]:
    """Median wall time of `repeats` calls and the last result (machines here are noisy)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def in_child(fn, *args, **kwargs):
    """Run one contender in a fresh spawned process: its own peak RSS, no warm caches from another."""
    import multiprocessing as mp

    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args, kwargs)


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {"benchmark": name, "command": " ".join([Path(sys.executable).name, *sys.argv]),
              "date": time.strftime("%Y-%m-%d %H:%M:%S"), "environment": environment(), **result}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return path


def sst2_dir() -> Path:
    path = Path(os.environ.get("TRANSFERKIT_SST2_DIR", SHARED / "sst2"))
    if not (path / "train.tsv").is_file():
        sys.exit(f"SST-2 not found at {path}; set TRANSFERKIT_SST2_DIR to a folder with train.tsv and validation.tsv")
    return path
