"""`transferkit data list | inspect | pull`: look at datasets before training on them.

Only typer is imported at the top; pandas and the data modules load inside the commands so
that `transferkit --help` stays instant.
"""

from __future__ import annotations

from typing import Optional

import typer

from . import app

data_app = typer.Typer(help="List, inspect and pull datasets (CSV/TSV/JSONL/Parquet files or named).",
                       no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("list")
def list_command() -> None:
    """Named datasets: usable anywhere a file is (--train rotten_tomatoes, --data sst2:validation)."""
    from rich.console import Console
    from rich.table import Table

    from ..data import dataset_info, list_datasets
    from ..tasks import TASKS

    readers: dict[str, list[str]] = {}
    for task_name, task in TASKS.items():
        readers.setdefault(task.dataset_kind, []).append(task_name)
    table = Table(title="named datasets")
    for column in ("name", "task", "rows", "labels", "description", "source", "local copy"):
        table.add_column(column, justify="right" if column == "rows" else "left")
    for name in list_datasets():
        info = dataset_info(name)
        table.add_row(name, ", ".join(readers.get(info["kind"], [info["kind"]])),
                      f"{info['rows']:,}" if info["rows"] else "?", ", ".join(info["labels"]),
                      info["description"], info["source"], str(info["path"]) if info["path"] else "[dim]pull it")
    Console().print(table)


@data_app.command("pull")
def pull_command(name: str = typer.Argument(..., help="A name from `transferkit data list`.")) -> None:
    """Fetch a named dataset into the cache ($TRANSFERKIT_HOME/datasets) and print its path."""
    from ..data import pull_dataset

    typer.echo(str(pull_dataset(name)))


@data_app.command("inspect")
def inspect_command(
    target: str = typer.Argument(..., help="A CSV/TSV/JSONL/Parquet file, a folder, or a dataset name."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Column with the text."),
    label_column: Optional[str] = typer.Option(None, "--label-column", help="Column with the label."),
    examples: int = typer.Option(3, "--examples", "-n", help="How many example rows to show."),
) -> None:
    """Rows, columns, detected text/label columns, label distribution, text lengths, examples."""
    from rich.console import Console

    from ..data import read_table, resolve, table_splits

    console = Console()
    resolved = resolve(target)
    path, spec = resolved.path, resolved.spec
    if path.is_dir():
        files = table_splits(path)
        shown = resolved.split or "train"
        if shown not in files:
            from ..errors import DataError

            raise DataError(f"{target}: no {shown} table in {path} (it has {', '.join(files) or 'none'}); "
                            "`data inspect` reads tables (CSV/TSV/JSONL/Parquet)")
        console.print(f"[bold]{target}[/]: splits " + ", ".join(f"{s}={p.name}" for s, p in files.items())
                      + f"; showing {shown}")
        path = files[shown]
    elif resolved.split:
        console.print(f"[bold]{target}[/] is a seeded split of {path}; showing the whole file")
    frame = read_table(path)
    if spec is not None:
        text_column, label_column = text_column or spec.text_column, label_column or spec.label_column
    _show(console, frame, str(path), text_column, label_column, spec.id_names if spec else None, examples)


def _show(console, frame, source, text_column, label_column, id_names, n_examples) -> None:
    from rich.table import Table

    from ..data import LABEL_COLUMNS, find_column
    from ..text import TEXT_COLUMNS

    kind = frame.attrs.get("row_kind", "line")
    console.print(f"[bold]{source}[/]: {len(frame):,} rows ({kind}s {frame.index[0]}-{frame.index[-1]}), "
                  f"{len(frame.columns)} columns")
    columns = Table(title="columns")
    for c in ("column", "types", "empty", "first value"):
        columns.add_column(c)
    for name in frame.columns:
        values = frame[name].tolist()
        types = sorted({type(v).__name__ for v in values if not _blank(v)})
        columns.add_row(str(name), ", ".join(types) or "-", str(sum(map(_blank, values))), _clip(values[0], 50))
    console.print(columns)
    text_col = find_column(frame.columns, text_column, TEXT_COLUMNS, source=source, role="text",
                           option="--text-column")
    label_col = find_column(frame.columns, label_column, LABEL_COLUMNS, source=source, role="label",
                            option="--label-column", required=label_column is not None, exclude=text_col)
    console.print(f"text column: [bold]{text_col}[/]   label column: [bold]{label_col or '(none: unlabelled)'}[/]")
    texts = frame[text_col].tolist()
    labels = _label_names(frame[label_col].tolist(), id_names) if label_col else None
    if labels is not None:
        _show_labels(console, labels)
    _show_lengths(console, texts, frame.index, kind)
    shown = Table(title=f"first {min(n_examples, len(frame))} rows")
    shown.add_column(kind, justify="right")
    shown.add_column(text_col)
    if labels is not None:
        shown.add_column(label_col)
    for i in range(min(n_examples, len(frame))):
        shown.add_row(str(frame.index[i]), _clip(texts[i], 100), *([labels[i]] if labels is not None else []))
    console.print(shown)


def _blank(value) -> bool:
    if isinstance(value, str):
        return not value.strip()
    return value is None or (isinstance(value, float) and value != value)  # NaN is the only value != itself


def _clip(value, width: int) -> str:
    text = repr(value) if not isinstance(value, str) else value
    return text if len(text) <= width else text[: width - 1] + "…"


def _label_names(raw: list, id_names) -> list[str]:
    from ..data.labels import label_key

    keys = [label_key(v) for v in raw]
    if id_names:
        keys = [id_names[int(k)] if k is not None and k.isdigit() and int(k) < len(id_names) else k for k in keys]
    return [k if k is not None else "(missing)" for k in keys]


def _show_labels(console, labels: list[str]) -> None:
    from collections import Counter

    from rich.table import Table

    from ..data.labels import _is_int

    counts = Counter(labels)
    order = sorted(counts, key=lambda k: (k == "(missing)", int(k) if _is_int(k) else 0, k))
    table = Table(title=f"labels ({len(counts)} classes)")
    for c, justify in (("label", "left"), ("rows", "right"), ("share", "right")):
        table.add_column(c, justify=justify)
    for label in order:
        table.add_row(label, f"{counts[label]:,}", f"{counts[label] / len(labels):.1%}")
    console.print(table)


def _show_lengths(console, texts: list, index, kind: str) -> None:
    import numpy as np
    from rich.table import Table

    from ..data.tables import format_rows

    bad = [index[i] for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    good = [t for t in texts if isinstance(t, str) and t.strip()]
    if bad:
        console.print(f"[yellow]{len(bad)} empty or non-text rows ({format_rows(bad, kind)}); "
                      "training fails on them unless --drop-invalid is given")
    if not good:
        return
    table = Table(title="text length")
    for c in ("", "min", "median", "mean", "p95", "max"):
        table.add_column(c, justify="right")
    for unit, lengths in (("chars", [len(t) for t in good]), ("words", [len(t.split()) for t in good])):
        a = np.asarray(lengths)
        table.add_row(unit, str(a.min()), f"{np.median(a):g}", f"{a.mean():.1f}", f"{np.percentile(a, 95):g}",
                      str(a.max()))
    console.print(table)
