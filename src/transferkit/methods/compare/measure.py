"""One measurement for every candidate: the metric with a bootstrap interval, size, parameters, speed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...runs import read_run_config

BOOTSTRAP = 1000


def hardware(threads: int) -> dict:
    import platform

    info: dict[str, Any] = {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                            "threads": threads}
    try:
        text = Path("/proc/cpuinfo").read_text()
        model = re.search(r"model name\s*:\s*(.+)", text)
        flags = re.search(r"flags\s*:\s*(.+)", text)
        info["cpu"] = model.group(1).strip() if model else info["cpu"]
        wanted = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
        info["flags"] = [f for f in wanted if flags and f in flags.group(1).split()]
    except OSError:
        pass
    for package in ("torch", "onnxruntime", "transformers"):
        try:
            from importlib.metadata import version

            info[package] = version(package)
        except Exception:  # noqa: BLE001 - not installed
            pass
    return info


def latency_summary(seconds: list[float]) -> dict:
    """p50 / p95 in milliseconds of timed calls (the same percentile rule everywhere)."""
    import statistics

    times = sorted(seconds)
    return {"latency_p50_ms": round(1000 * statistics.median(times), 3),
            "latency_p95_ms": round(1000 * times[int(0.95 * (len(times) - 1))], 3)}


def bootstrap_interval(task, parts: np.ndarray | None, seed: int = 0) -> tuple[float, float] | None:
    """95 % percentile interval of the headline metric over resamples of the examples."""
    if parts is None or len(parts) < 2:
        return None
    rng = np.random.default_rng(seed)
    counts = rng.multinomial(len(parts), np.full(len(parts), 1 / len(parts)), size=BOOTSTRAP)
    values = task.headline_from_parts(counts @ parts)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def measure(run_dir: str, data: str, threads: int, calls: int = 100, limit: int = 2000) -> dict:
    """The metric with its interval, size, parameters and speed of one run (in this process)."""

    import torch

    from ...runs import load_run, public_metrics
    from ..distill.compare import folder_bytes

    torch.set_num_threads(threads)
    predictor = load_run(run_dir)
    task = predictor.task
    examples = task.read_inputs(data, labelled=True)
    inputs = task.raw_inputs(examples)[:limit]
    for x in inputs[:10]:
        predictor.predict_json([x])  # warm-up: allocator, kernels, caches
    if hasattr(predictor.scorer, "batch_size"):
        predictor.scorer.batch_size = 32
    # The scored pass is also the throughput measurement (encoding included): one pass, not two.
    t0 = time.perf_counter()
    dataset = task.encode(examples)
    outputs = predictor.scorer(dataset)
    throughput = len(dataset) / (time.perf_counter() - t0)
    metrics = public_metrics(task.evaluate(dataset, outputs))
    interval = bootstrap_interval(task, task.score_parts(dataset, outputs))
    config = read_run_config(run_dir)
    size = folder_bytes(Path(run_dir) / "model")
    if size is None and (Path(run_dir) / "head.safetensors").is_file():  # a probe: the encoder + its head
        from ...sources import resolve_model

        size = (folder_bytes(resolve_model(config["model"], pull=False).path) or 0) + \
            (Path(run_dir) / "head.safetensors").stat().st_size
    times = []
    for i in range(calls):
        t0 = time.perf_counter()
        predictor.predict_json([inputs[i % len(inputs)]])
        times.append(time.perf_counter() - t0)
    parameters, no_embeddings = _parameters(predictor, config)
    headline = task.headline_metric
    return {"task": task.name, "kind": config.get("kind"), "model": config.get("model"), "metric": headline,
            "score": metrics.get(headline), "ci_low": interval[0] if interval else None,
            "ci_high": interval[1] if interval else None, "macro_f1": metrics.get("macro_f1"), "n": metrics.get("n"),
            "parameters": parameters, "parameters_without_embeddings": no_embeddings,
            "size_mb": round(size / 2**20, 2) if size else None,
            **latency_summary(times),
            "throughput_per_s": round(throughput, 1), "train_seconds": config.get("run_info", {}).get("train_seconds"),
            "peak_rss_mb": round(_peak_rss_mb(), 1)}


def _parameters(predictor, config: dict) -> tuple[int | None, int | None]:
    """(all parameters, those outside embedding tables) of the run's network; a probe's encoder
    plus its linear head; an exported run's from its source run."""
    model = predictor.model
    extra = 0
    if model is None:  # a probe: its frozen encoder (loaded by the predictions above) and its head
        encoder = getattr(predictor.scorer, "encoder", None)
        model = getattr(encoder, "_model", None) or getattr(encoder, "backbone", None)
        head = getattr(predictor.scorer, "head", None)
        extra = sum(int(np.size(getattr(head, k, 0))) for k in ("coef", "intercept")) if head is not None else 0
    if model is None or not hasattr(model, "named_parameters"):
        return config.get("run_info", {}).get("parameters"), None
    named = list(model.named_parameters())
    return (sum(p.numel() for _, p in named) + extra,
            sum(p.numel() for n, p in named if "embed" not in n) + extra)


def _peak_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure_in_child(run_dir: str, data: str, threads: int, calls: int) -> dict:
    code = ("import json, sys; from transferkit.methods.compare.measure import measure; "
            "print('\\nRESULT ' + json.dumps(measure(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))))")
    done = subprocess.run([sys.executable, "-c", code, run_dir, data, str(threads), str(calls)], capture_output=True,
                          text=True, env={**os.environ, "TRANSFERKIT_PROGRESS": "0"})
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return {"error": (lines[-1] if lines else f"exit {done.returncode}")[:300]}
