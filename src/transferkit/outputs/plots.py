"""Figures written next to a run's JSON (matplotlib, the `plot` extra; headless Agg backend).

Without matplotlib the numbers are still written; only the picture is skipped, with a note.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Sequence

from .._io import atomic_write_bytes


def _pyplot():
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def plot_lr_curve(lrs: Sequence[float], losses: Sequence[float], raw: Sequence[float], suggestion: float,
                  steep: float, path: str | os.PathLike, title: str = "learning-rate range test") -> bool:
    """The LR range test's loss against the learning rate (log scale) with the suggestions marked;
    False when matplotlib is missing (nothing written)."""
    plt = _pyplot()
    if plt is None:
        warnings.warn(f"no plot written to {path}: matplotlib is not installed (pip install 'transferkit[plot]')",
                      stacklevel=2)
        return False
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
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return True
