"""Readable console reports of metrics and predictions (rich tables)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def _console():
    from rich.console import Console

    return Console()


def print_metrics(metrics: dict, title: str = "metrics") -> None:
    """Headline numbers, per-class table and confusion matrix of a classification_metrics dict."""
    from rich.table import Table

    con = _console()
    if "entities" in metrics:  # token classification: the headline is entity-level (seqeval)
        con.print(f"[bold]{title}[/]  entity F1 [bold green]{metrics['f1']:.4f}[/] (P {metrics['precision']:.4f}, "
                  f"R {metrics['recall']:.4f})  macro F1 {metrics['macro_f1']:.4f}  "
                  f"token accuracy {metrics['accuracy']:.4f}  (n={metrics.get('n', '?')})")
    else:
        con.print(f"[bold]{title}[/]  accuracy [bold green]{metrics['accuracy']:.4f}[/]  "
                  f"macro F1 [bold]{metrics['macro_f1']:.4f}[/]  (n={metrics.get('n', '?')})")
    per = Table(show_header=True, header_style="bold")
    for col in ("class", "precision", "recall", "f1", "support"):
        per.add_column(col, justify="left" if col == "class" else "right")
    for name, m in metrics["per_class"].items():
        per.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    con.print(per)
    cm = metrics["confusion_matrix"]
    mat = Table(title="confusion matrix (rows: true, columns: predicted)", header_style="bold")
    mat.add_column("")
    for name in cm["labels"]:
        mat.add_column(name, justify="right")
    for name, row in zip(cm["labels"], cm["matrix"]):
        mat.add_row(name, *map(str, row))
    con.print(mat)


def print_predictions(texts: Sequence[str], probs: np.ndarray, label_names: Sequence[str], width: int = 70) -> None:
    from rich.table import Table

    t = Table(show_header=True, header_style="bold")
    t.add_column("text")
    t.add_column("label")
    t.add_column("p", justify="right")
    for text, p in zip(texts, probs):
        k = int(np.argmax(p))
        t.add_row(text if len(text) <= width else text[: width - 1] + "…", label_names[k], f"{p[k]:.3f}")
    _console().print(t)
