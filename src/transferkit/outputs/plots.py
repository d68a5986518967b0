"""Figures of a run (matplotlib, the `plot` extra; headless Agg backend), as PNG bytes.

Every figure function returns the PNG, or None when matplotlib is missing: the numbers are still
written, only the picture is skipped (the caller says so once).
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Sequence

import numpy as np

from .._io import atomic_write_bytes

NO_MATPLOTLIB = "matplotlib is not installed (pip install 'transferkit[plot]')"


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def have_matplotlib() -> bool:
    return _pyplot() is not None


def _png(fig) -> bytes:
    plt = _pyplot()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def lr_curve_png(lrs: Sequence[float], losses: Sequence[float], raw: Sequence[float], suggestion: float,
                 steep: float, title: str = "learning-rate range test") -> bytes | None:
    """The LR range test's loss against the learning rate (log scale) with the suggestions marked."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=110)
    ax.plot(lrs, raw, color="0.8", linewidth=0.8, label="loss per step")
    ax.plot(lrs, losses, color="C0", linewidth=1.8, label="smoothed loss")
    top = max(losses[: max(2, len(losses) - 1)])
    ax.set_ylim(min(losses) - 0.05 * abs(top - min(losses)), top + 0.1 * abs(top - min(losses)) + 1e-6)
    ax.axvline(suggestion, color="C2", linestyle="--", label=f"suggestion (valley) {suggestion:.2e}")
    ax.axvline(steep, color="C1", linestyle=":", label=f"steepest descent {steep:.2e}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def plot_lr_curve(lrs, losses, raw, suggestion: float, steep: float, path: str | os.PathLike,
                  title: str = "learning-rate range test") -> bool:
    """Write the LR range test's figure to `path`; False when matplotlib is missing (nothing written)."""
    png = lr_curve_png(lrs, losses, raw, suggestion, steep, title)
    if png is None:
        warnings.warn(f"no plot written to {path}: {NO_MATPLOTLIB}", stacklevel=2)
        return False
    atomic_write_bytes(path, png)
    return True


def learning_curves_png(log: Sequence[dict], metric: str | None) -> bytes | None:
    """Training loss against step and, on a second axis, the validation `metric` per evaluation."""
    plt = _pyplot()
    if plt is None:
        return None
    train = [r for r in log if "loss" in r and "event" not in r and "step" in r]
    evals = [r for r in log if r.get("event") == "evaluate" and metric in r]
    fig, ax = plt.subplots(figsize=(7.0, 3.8), dpi=100)
    if train:
        ax.plot([r["step"] for r in train], [r["loss"] for r in train], color="C0", linewidth=1.4,
                label="training loss")
    if evals and any("loss" in r for r in evals):
        ax.plot([r["step"] for r in evals if "loss" in r], [r["loss"] for r in evals if "loss" in r], "o--",
                color="C1", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    handles, labels = ax.get_legend_handles_labels()
    if evals and metric != "loss":
        right = ax.twinx()
        right.plot([r["step"] for r in evals], [r[metric] for r in evals], "s-", color="C2", label=f"validation {metric}")
        right.set_ylabel(f"validation {metric}")
        more_handles, more_labels = right.get_legend_handles_labels()
        handles, labels = handles + more_handles, labels + more_labels
    if handles:
        ax.legend(handles, labels, fontsize=8, loc="best")
    ax.set_title("learning curves")
    return _png(fig)


def confusion_png(labels: Sequence[str], matrix: Sequence[Sequence[int]]) -> bytes | None:
    """The confusion matrix as a heat map, rows normalised (recall per true class), counts written."""
    plt = _pyplot()
    if plt is None:
        return None
    counts = np.asarray(matrix, dtype=np.float64)
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    side = min(12.0, 2.5 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(side + 1.2, side), dpi=100)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), [str(x) for x in labels], rotation=45 if n > 4 else 0, ha="right" if n > 4 else "center")
    ax.set_yticks(range(n), [str(x) for x in labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=8,
                        color="white" if share[i, j] > 0.6 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of the true class")
    ax.set_title("confusion matrix")
    return _png(fig)


def reliability(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> dict:
    """Per confidence bin: mean confidence, accuracy, count; and the expected calibration error."""
    confidence, correct = np.asarray(confidence, dtype=np.float64), np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1]), 0, bins - 1)
    rows = []
    ece = 0.0
    for b in range(bins):
        inside = which == b
        if inside.any():
            mean_conf, accuracy = float(confidence[inside].mean()), float(correct[inside].mean())
            ece += inside.mean() * abs(mean_conf - accuracy)
            rows.append({"low": float(edges[b]), "high": float(edges[b + 1]), "confidence": mean_conf,
                         "accuracy": accuracy, "count": int(inside.sum())})
    return {"bins": rows, "ece": float(ece), "n": int(len(confidence))}


def reliability_png(table: dict, unit: str = "example") -> bytes | None:
    """Accuracy against confidence per bin (the diagonal is perfect calibration), counts below."""
    plt = _pyplot()
    if plt is None:
        return None
    fig, (ax, counts) = plt.subplots(2, 1, figsize=(5.2, 5.4), dpi=100, height_ratios=(3, 1), sharex=True)
    bins = table["bins"]
    centres = [(b["low"] + b["high"]) / 2 for b in bins]
    width = bins[0]["high"] - bins[0]["low"] if bins else 0.1
    ax.bar(centres, [b["accuracy"] for b in bins], width=width * 0.9, color="C0", alpha=0.8, label="accuracy")
    ax.plot([0, 1], [0, 1], "--", color="0.4", label="perfect calibration")
    ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o", color="C3", label="mean confidence")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(f"reliability (ECE {table['ece']:.3f}, n={table['n']} {unit}s)")
    ax.legend(fontsize=8, loc="upper left")
    counts.bar(centres, [b["count"] for b in bins], width=width * 0.9, color="0.6")
    counts.set_xlim(0, 1)
    counts.set_xlabel("confidence of the predicted label")
    counts.set_ylabel(f"{unit}s")
    return _png(fig)


def pareto_png(rows: Sequence[dict], metric: str) -> bytes | None:
    """The headline metric against batch-1 latency, marker area ~ size on disk, the Pareto front drawn."""
    plt = _pyplot()
    if plt is None:
        return None
    points = [r for r in rows if r.get("score") is not None and r.get("latency_p50_ms") is not None]
    fig, ax = plt.subplots(figsize=(7.0, 4.6), dpi=100)
    if points:
        sizes = np.array([r.get("size_mb") or 1.0 for r in points])
        area = 40 + 400 * sizes / max(sizes.max(), 1e-9)
        colours = ["C3" if r.get("pareto") else "C0" for r in points]
        ax.scatter([r["latency_p50_ms"] for r in points], [r["score"] for r in points], s=area, c=colours, alpha=0.6,
                   edgecolors="black", linewidths=0.6)
        for r in points:
            ax.annotate(r["candidate"], (r["latency_p50_ms"], r["score"]), fontsize=7, xytext=(4, 4),
                        textcoords="offset points")
        front = sorted((r for r in points if r.get("pareto")), key=lambda r: r["latency_p50_ms"])
        if len(front) > 1:
            ax.step([r["latency_p50_ms"] for r in front], [r["score"] for r in front], where="post", color="C3",
                    linewidth=1.2, label="Pareto front")
            ax.legend(fontsize=8)
        ax.set_xscale("log")
    ax.set_xlabel("batch-1 latency p50 (ms, log scale)")
    ax.set_ylabel(metric)
    ax.set_title("accuracy x latency (marker area: size on disk; red: Pareto front)")
    return _png(fig)
