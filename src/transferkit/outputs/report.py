"""Readable console reports of metrics and predictions (rich tables)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

MAX_CLASSES_SHOWN = 30  # longer per-class tables and confusion matrices are cut, with a count


def _console():
    from rich.console import Console

    return Console()


def print_metrics(metrics: dict, title: str = "metrics", summary: str | None = None) -> None:
    """The headline line (`summary`, from the task), the per-class table and the confusion matrix."""
    from rich.table import Table

    con = _console()
    if summary is None:
        summary = (f"accuracy [bold green]{metrics['accuracy']:.4f}[/]  macro F1 [bold]{metrics['macro_f1']:.4f}[/]  "
                   f"(n={metrics.get('n', '?')})")
    con.print(f"[bold]{title}[/]  {summary}")
    per_class = list(metrics.get("per_class", {}).items())
    if per_class:
        per = Table(show_header=True, header_style="bold")
        for col in ("class", "precision", "recall", "f1", "support"):
            per.add_column(col, justify="left" if col == "class" else "right")
        for name, m in per_class[:MAX_CLASSES_SHOWN]:
            per.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
        con.print(per)
        if len(per_class) > MAX_CLASSES_SHOWN:
            con.print(f"... and {len(per_class) - MAX_CLASSES_SHOWN} more classes (all of them are in the metrics JSON)")
    cm = metrics.get("confusion_matrix")
    if cm and 0 < len(cm["labels"]) <= MAX_CLASSES_SHOWN:
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


def print_leaderboard(document: dict) -> None:
    """The comparison table: one row per candidate, the Pareto front starred, failures shown."""
    from rich.table import Table

    rows = document["candidates"]
    metric = next((r["metric"] for r in rows if r.get("metric")), "metric")
    table = Table(title=f"leaderboard ({metric} on {document.get('evaluated_on')})", header_style="bold")
    for column in ("candidate", metric, "95 % CI", "size MB", "p50 ms", "p95 ms", "/s", "train s", "pareto"):
        table.add_column(column, justify="left" if column == "candidate" else "right")

    def number(value, fmt: str = "{:.4f}") -> str:
        return "-" if value is None else fmt.format(value)

    for r in rows:
        if r.get("error"):
            table.add_row(r["candidate"], f"[red]failed[/]: {r['error'][:60]}", *[""] * 7)
            continue
        ci = "-" if r.get("ci_low") is None else f"{r['ci_low']:.4f}-{r['ci_high']:.4f}"
        table.add_row(r["candidate"], number(r.get("score")), ci, number(r.get("size_mb"), "{:.1f}"),
                      number(r.get("latency_p50_ms"), "{:.2f}"), number(r.get("latency_p95_ms"), "{:.2f}"),
                      number(r.get("throughput_per_s"), "{:.0f}"), number(r.get("train_seconds"), "{:.0f}"),
                      "*" if r.get("pareto") else "")
    _console().print(table)
