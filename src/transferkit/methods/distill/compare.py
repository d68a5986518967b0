"""The comparison every distill run writes (comparison.json): teacher vs student vs control.

Quality is each model's metrics on the same validation/test examples; retention is the
student's headline metric as a percentage of the teacher's. Cost is measured here, on this
machine, in fp32 with one thread pool, on the same examples for both models: parameters, size
of the saved model folder, latency of one example (median of repeated calls) and throughput in
batches. `speedup` is the teacher's latency over the student's.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np
import torch

from ...engine.batching import sorted_batches


def folder_bytes(folder: Path | None) -> int | None:
    if folder is None or not Path(folder).is_dir():
        return None
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


@torch.inference_mode()
def measure_speed(task, model, dataset, *, batch_size: int = 32, latency_calls: int = 30,
                  device: torch.device | None = None) -> dict:
    """{"latency_ms": median of one-example calls, "throughput_per_s": examples/s in length-sorted batches}."""
    device = device or torch.device("cpu")
    model = model.eval().to(device)
    n = len(dataset)

    def run(indices) -> None:
        batch = task.collate(dataset, indices)
        task.predict(model, {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()})

    run(np.arange(min(n, batch_size)))  # warm-up: allocator, kernels
    times = []
    for i in range(latency_calls):
        start = time.perf_counter()
        run(np.array([i % n]))
        times.append(time.perf_counter() - start)
    batches = sorted_batches(dataset.lengths, batch_size)
    start = time.perf_counter()
    for indices in batches:
        run(indices)
    elapsed = time.perf_counter() - start
    return {"latency_ms": round(1000 * statistics.median(times), 3), "throughput_per_s": round(n / elapsed, 1),
            "speed_examples": n}


def describe(name: str, metrics: dict, parameters: int | None, size: int | None, speed: dict | None) -> dict:
    return {"model": name, "metrics": metrics, "parameters": parameters, "size_bytes": size, **(speed or {})}


def comparison(teacher: dict, student: dict, control: dict | None, metric: str, split: str) -> dict:
    """The comparison document; `teacher`/`student`/`control` come from `describe`."""
    def score(row):
        return None if row is None else (row["metrics"].get(split) or {}).get(metric)

    t, s, c = score(teacher), score(student), score(control)
    doc = {"metric": metric, "split": split, "teacher": teacher, "student": student, "control": control,
           "retention_pct": round(100 * s / t, 2) if t and s is not None else None,
           "gain_over_control_pt": round(100 * (s - c), 2) if s is not None and c is not None else None}
    if teacher.get("latency_ms") and student.get("latency_ms"):
        doc["speedup"] = round(teacher["latency_ms"] / student["latency_ms"], 2)
        doc["throughput_ratio"] = round(student["throughput_per_s"] / teacher["throughput_per_s"], 2)
    if teacher.get("parameters") and student.get("parameters"):
        doc["parameter_ratio"] = round(student["parameters"] / teacher["parameters"], 3)
    return doc


def print_comparison(doc: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    metric, split = doc["metric"], doc["split"]
    table = Table(title=f"distillation: {metric} on {split}")
    for column in ("model", metric, "parameters", "size MB", "latency ms", "examples/s"):
        table.add_column(column, justify="left" if column == "model" else "right")
    for role in ("teacher", "student", "control"):
        row = doc.get(role)
        if row is None:
            continue
        value = (row["metrics"].get(split) or {}).get(metric)
        size = row.get("size_bytes")
        table.add_row(f"{role}: {row['model']}", "-" if value is None else f"{100 * value:.2f}",
                      f"{row['parameters'] / 1e6:.1f}M" if row.get("parameters") else "-",
                      f"{size / 2**20:.1f}" if size else "-",
                      f"{row['latency_ms']:.2f}" if row.get("latency_ms") else "-",
                      f"{row['throughput_per_s']:.0f}" if row.get("throughput_per_s") else "-")
    Console().print(table)
    parts = []
    if doc.get("retention_pct") is not None:
        parts.append(f"retention {doc['retention_pct']:.1f}%")
    if doc.get("gain_over_control_pt") is not None:
        parts.append(f"{doc['gain_over_control_pt']:+.2f} pt over the control")
    if doc.get("speedup"):
        parts.append(f"{doc['speedup']:.2f}x faster per example, {doc['throughput_ratio']:.2f}x throughput")
    if parts:
        Console().print("; ".join(parts))
