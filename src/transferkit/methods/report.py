"""`transferkit report RUN_DIR|COMPARE_DIR`: one self-contained HTML page (plots embedded, no CDN).

A run's page is built from what its directory holds, so every run kind gets the sections its
files support: config.json (what was trained), metrics.json (per split, per class, the confusion
matrix), train_log.jsonl (learning curves), evaluation.jsonl (calibration, the most confident
mistakes: texts, tagged sentences or image thumbnails), comparison.json (a distillation's
teacher / student / control), lr_find.json and a probe's C scores. A comparison's page is its
leaderboard, recommendation and Pareto plot. `finetune`, `pretrain`, `distill`, `probe` and
`compare` write RUN_DIR/report.html at the end unless told not to (`--no-report`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np

from .._io import atomic_write_text, read_json
from ..errors import TransferkitError
from ..outputs import html, plots
from ..runs import read_run_config
from ..runs.directory import EVALUATION_FILE

REPORT_FILE = "report.html"
MISTAKES_SHOWN = 20
CLASSES_SHOWN = 50
log = logging.getLogger("transferkit.report")


def report(path: str | os.PathLike, output: str | os.PathLike | None = None) -> Path:
    """Write the report of a run or comparison directory (default PATH/report.html); returns its path."""
    folder = Path(path)
    config = read_run_config(folder)
    builder = compare_page if config["kind"] == "compare" else run_page
    document = builder(folder, config)
    target = Path(output) if output is not None else folder / REPORT_FILE
    if target.is_dir():
        target = target / REPORT_FILE
    atomic_write_text(target, document)
    return target


def write_report(run_dir: str | os.PathLike | None, echo=None) -> Path | None:
    """The end-of-run report: never fails the finished run (a problem is logged and skipped)."""
    if run_dir is None:
        return None
    try:
        target = report(run_dir)
    except Exception as e:  # noqa: BLE001 - the run is done and saved; only its page is missing
        log.warning("no report written for %s: %s", run_dir, e)
        return None
    if echo is not None:
        echo(f"report: {target}")
    return target


# ---------------------------------------------------------------------------- reading


def _read(folder: Path, name: str):
    try:
        return read_json(folder / name)
    except (OSError, ValueError):
        return None


def _jsonl(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:  # a torn last line of a killed run
            continue
    return rows


def _headline(config: dict) -> str:
    from ..tasks import TASKS

    try:
        return TASKS.get(config.get("task")).headline_metric
    except Exception:  # noqa: BLE001 - an unknown task still gets a page
        return "accuracy"


# ---------------------------------------------------------------------------- a run


def run_page(folder: Path, config: dict) -> str:
    metric = _headline(config)
    metrics = _read(folder, "metrics.json") or {}
    train_log = _jsonl(folder / "train_log.jsonl")
    rows = _jsonl(folder / EVALUATION_FILE)
    sections = [overview(config, metrics, metric)]
    sections += [learning_curves(train_log, metric), distillation(_read(folder, "comparison.json")),
                 probe_scores(config), lr_find(_read(folder, "lr_find.json"), folder),
                 per_class(metrics), calibration(rows, metrics.get("split")),
                 mistakes(rows, metrics.get("split")), settings_table(config)]
    model = config.get("model") or "?"
    title = f"{config['kind']} · {model} · {config.get('task') or ''}".strip(" ·")
    return html.page(title, f"run directory {folder.resolve()}", [s for s in sections if s])


SCALARS_SKIPPED = {"per_class", "confusion_matrix"}


def overview(config: dict, metrics: dict, metric: str) -> str:
    by_split = metrics.get("by_split") or {}
    names = [m for m in next(iter(by_split.values()), {}) if m not in SCALARS_SKIPPED
             and isinstance(next(iter(by_split.values()))[m], (int, float))]
    names.sort(key=lambda m: (m != metric, m != "macro_f1", m))
    parts = []
    if by_split:
        parts.append(html.table(["metric", *by_split], [[m, *(s.get(m) for s in by_split.values())] for m in names],
                                table_id="metrics"))
    else:
        parts.append(html.paragraph("no metrics.json: the run has no evaluation split (or did not finish)", muted=True))
    info = config.get("run_info") or {}
    facts = [(k, info.get(k)) for k in ("steps", "epochs_completed", "stopped_early", "train_seconds", "device",
                                         "precision", "world_size", "parameters", "trainable_parameters", "objective")
             if info.get(k) is not None]
    facts += [(k, config.get(k)) for k in ("train", "validation", "test", "strategy", "epochs", "lr", "batch_size")
              if config.get(k) is not None]
    if facts:
        parts.append(html.table(["", "value"], facts, table_id="facts"))
    for note in info.get("model_notes") or []:
        parts.append(html.paragraph(f"note: {note}", muted=True))
    return html.section(f"{metric} {_headline_value(metrics, metric)}", *parts, section_id="overview")


def _headline_value(metrics: dict, metric: str) -> str:
    value = metrics.get(metric)
    return f"{value:.4f} on {metrics.get('split')}" if isinstance(value, (int, float)) else "(not measured)"


def learning_curves(log: list[dict], metric: str) -> str:
    if not log:
        return ""
    evals = [r for r in log if r.get("event") == "evaluate"]
    png = plots.learning_curves_png(log, metric)
    parts = [html.figure(png, "learning curves", plots.NO_MATPLOTLIB)]
    if evals:
        keys = [k for k in (metric, "loss", "macro_f1", "accuracy") if any(k in r for r in evals)]
        keys = list(dict.fromkeys(keys))
        parts.append(html.details(f"{len(evals)} evaluations", html.table(
            ["step", "epoch", *keys], [[r.get("step"), r.get("epoch"), *(r.get(k) for k in keys)] for r in evals])))
    return html.section("Learning curves", *parts, section_id="curves")


def per_class(metrics: dict) -> str:
    classes = list((metrics.get("per_class") or {}).items())
    cm = metrics.get("confusion_matrix") or {}
    if not classes and not cm.get("matrix"):
        return ""
    parts = []
    if classes:
        parts.append(html.table(["class", "precision", "recall", "f1", "support"],
                                [[name, m["precision"], m["recall"], m["f1"], m["support"]]
                                 for name, m in classes[:CLASSES_SHOWN]], table_id="per-class"))
        if len(classes) > CLASSES_SHOWN:
            parts.append(html.paragraph(f"... and {len(classes) - CLASSES_SHOWN} more classes (metrics.json has all)",
                                        muted=True))
    if cm.get("matrix") and len(cm["labels"]) <= CLASSES_SHOWN:
        parts.append(html.figure(plots.confusion_png(cm["labels"], cm["matrix"]), "confusion matrix",
                                 plots.NO_MATPLOTLIB))
    return html.section(f"Per class ({metrics.get('split')})", *parts, section_id="classes")


def _confidence_pairs(rows: list[dict]) -> tuple[np.ndarray, np.ndarray, str]:
    """(confidence, correct) per example, or per word for tagged sentences."""
    if rows and isinstance(rows[0].get("confidence"), list):
        confidence = [c for r in rows for c in r["confidence"]]
        correct = [t == p for r in rows for t, p in zip(r["true"], r["predicted"])]
        return np.asarray(confidence), np.asarray(correct), "word"
    return (np.asarray([r["confidence"] for r in rows]), np.asarray([r["correct"] for r in rows]), "example")


def calibration(rows: list[dict], split: str | None) -> str:
    if not rows:
        return ""
    confidence, correct, unit = _confidence_pairs(rows)
    table = plots.reliability(confidence, correct)
    parts = [html.figure(plots.reliability_png(table, unit), "reliability diagram", plots.NO_MATPLOTLIB),
             html.paragraph(f"expected calibration error {table['ece']:.4f} over {table['n']} {unit}s: the mean gap "
                            "between confidence and accuracy, weighted by the share of each bin"),
             html.details("bins", html.table(["confidence from", "to", "mean confidence", "accuracy", unit + "s"],
                                             [[b["low"], b["high"], b["confidence"], b["accuracy"], b["count"]]
                                              for b in table["bins"]]))]
    return html.section(f"Calibration ({split})", *parts, section_id="calibration")


def mistakes(rows: list[dict], split: str | None) -> str:
    wrong = [r for r in rows if not r.get("correct")]
    if not rows:
        return ""
    heading = f"Most confident mistakes ({len(wrong)} of {len(rows)} {split} examples wrong)"
    if not wrong:
        return html.section(heading, html.paragraph("no mistakes"), section_id="mistakes")
    if "tokens" in rows[0]:
        return html.section(heading, _tagged_mistakes(wrong), section_id="mistakes")
    wrong.sort(key=lambda r: -r["confidence"])
    shown = wrong[:MISTAKES_SHOWN]
    if any("thumbnail" in r for r in shown):
        cards = "".join(
            f'<div class=thumb>{_thumbnail(r)}<div>{html.escape(r["true"])} → <b>{html.escape(r["predicted"])}</b> '
            f'({r["confidence"]:.2f})</div><div class=muted>{html.escape(Path(str(r.get("path", ""))).name)}</div></div>'
            for r in shown)
        return html.section(heading, f"<div class=thumbs id=mistake-thumbs>{cards}</div>", section_id="mistakes")
    column = "text" if "text" in rows[0] else "path"
    return html.section(heading, html.table([column, "true", "predicted", "confidence"],
                                            [[r.get(column), r["true"], r["predicted"], r["confidence"]] for r in shown],
                                            text_columns=(0,), table_id="mistake-table"), section_id="mistakes")


def _thumbnail(row: dict) -> str:
    uri = str(row.get("thumbnail", ""))
    return f'<img alt="mistake" src="{html.escape(uri)}">' if uri.startswith("data:image/png;base64,") else ""


def _kind(tag: str) -> str:
    return "O" if tag == "O" else tag.split("-", 1)[-1]


def _mark(word: str, css: str, title: str, note: str) -> str:
    return (f'<mark class={css} title="{html.escape(title)}">{html.escape(word)}'
            f"<sub>{html.escape(note)}</sub></mark>")


def _tagged_mistakes(wrong: list[dict]) -> str:
    """Sentences with wrong tags, the most confident first: each word marked by what went wrong."""
    def cost(r):
        bad = [c for c, t, p in zip(r["confidence"], r["true"], r["predicted"]) if t != p]
        return -max(bad) if bad else 0.0

    lines = []
    for r in sorted(wrong, key=cost)[:MISTAKES_SHOWN]:
        words = []
        for word, gold, pred in zip(r["tokens"], r["true"], r["predicted"]):
            g, p = _kind(gold), _kind(pred)
            if gold == pred and g == "O":
                words.append(html.escape(word))
            elif gold == pred:
                words.append(_mark(word, "both", gold, g))
            elif p == "O":
                words.append(_mark(word, "true", f"missed: gold {gold}", g + "?"))
            else:
                words.append(_mark(word, "pred", f"gold {gold}, predicted {pred}", p + ("≠" + g if g != "O" else "")))
        lines.append(f"<li>{' '.join(words)}</li>")
    legend = html.paragraph("<mark class=both>right</mark> entity tagged correctly · <mark class=true>missed</mark> "
                            "gold entity not found (gold type?) · <mark class=pred>wrong</mark> predicted type "
                            "(≠ gold type)", raw=True)
    return legend + f"<ol id=mistake-sentences>{''.join(lines)}</ol>"


def distillation(doc: dict | None) -> str:
    if not doc:
        return ""
    metric, split = doc.get("metric"), doc.get("split")
    rows = []
    for role in ("teacher", "student", "control"):
        row = doc.get(role)
        if row:
            size = row.get("size_bytes")
            rows.append([f"{role}: {row.get('model')}", (row.get("metrics", {}).get(split) or {}).get(metric),
                         row.get("parameters"), None if not size else round(size / 2**20, 1), row.get("latency_ms"),
                         row.get("throughput_per_s")])
    facts = [f"{k.replace('_', ' ')} {doc[k]}" for k in ("retention_pct", "gain_over_control_pt", "speedup",
                                                          "throughput_ratio", "parameter_ratio")
             if doc.get(k) is not None]
    return html.section(f"Distillation ({metric} on {split})",
                        html.table(["model", metric, "parameters", "size MB", "latency ms", "examples/s"], rows,
                                   table_id="distillation"),
                        html.paragraph("; ".join(facts)) if facts else "", section_id="distillation")


def probe_scores(config: dict) -> str:
    scores = config.get("C_scores")
    if not scores:
        return ""
    items = scores.items() if isinstance(scores, dict) else enumerate(scores)
    return html.section(f"Probe: regularisation chosen on validation (C = {config.get('C')})",
                        html.table(["C", "validation score"], [[c, s] for c, s in items]), section_id="probe")


def lr_find(doc: dict | None, folder: Path) -> str:
    if not doc:
        return ""
    png = (folder / "lr_find.png").read_bytes() if (folder / "lr_find.png").is_file() else None
    return html.section("Learning-rate range test", html.figure(png, "LR range test", "lr_find.png missing"),
                        html.paragraph(f"suggestion {doc.get('suggestion')}, steepest descent {doc.get('steep')}"),
                        section_id="lr-find")


def settings_table(config: dict) -> str:
    info = config.get("run_info") or {}
    chosen = info.get("defaults") or {}
    parts = []
    if chosen:
        parts.append(html.table(["setting", "value", "why"], [[k, config.get(k), why] for k, why in chosen.items()],
                                text_columns=(2,), table_id="defaults"))
    settings = {k: v for k, v in config.items() if k not in ("run_info", "kind") and not isinstance(v, (dict, list))}
    parts.append(html.details(f"all {len(settings)} settings (config.json)",
                              html.table(["setting", "value"], sorted(settings.items()))))
    return html.section("Settings" + (" (defaults chosen for this run)" if chosen else ""), *parts,
                        section_id="settings")


# ---------------------------------------------------------------------------- a comparison


LEADERBOARD = [("candidate", "candidate"), ("score", None), ("ci_low", "95 % low"), ("ci_high", "95 % high"),
               ("macro_f1", "macro F1"), ("parameters", "parameters"), ("size_mb", "size MB"),
               ("latency_p50_ms", "p50 ms"), ("latency_p95_ms", "p95 ms"), ("throughput_per_s", "examples/s"),
               ("train_seconds", "train s"), ("train_peak_rss_mb", "peak RSS MB"), ("pareto", "Pareto")]


def compare_page(folder: Path, config: dict) -> str:
    doc = _read(folder, "leaderboard.json")
    if not doc:
        raise TransferkitError(f"{folder}: no leaderboard.json (the comparison did not finish); run compare again")
    rows = doc.get("candidates") or []
    metric = next((r["metric"] for r in rows if r.get("metric")), "metric")
    header = [label or metric for _, label in LEADERBOARD]
    body = []
    for r in rows:
        if r.get("error"):
            body.append([r["candidate"], f"failed: {r['error']}", *[""] * (len(LEADERBOARD) - 2)])
            continue
        body.append([r.get(k) if k != "pareto" else ("yes" if r.get("pareto") else "") for k, _ in LEADERBOARD])
    choice = doc.get("recommendation") or {}
    sections = [
        html.section("Recommendation", html.paragraph(choice.get("reason") or "no candidate was measured"),
                     html.paragraph("constraints: " + (", ".join(f"{k} {v}" for k, v in doc.get("constraints", {}).items()
                                                                 if v is not None) or "none"), muted=True),
                     section_id="recommendation"),
        html.section(f"Leaderboard ({metric} on {doc.get('evaluated_on')})",
                     html.table(header, body, table_id="leaderboard"), section_id="leaderboard"),
        html.section("Pareto front", html.figure(plots.pareto_png(rows, metric), "Pareto plot", plots.NO_MATPLOTLIB),
                     section_id="pareto"),
        html.section("Hardware and cost", html.table(["", "value"], [
            *[(k, ", ".join(v) if isinstance(v, list) else v) for k, v in (doc.get("hardware") or {}).items()],
            ("comparison wall seconds", doc.get("wall_seconds")),
            ("candidates' training seconds", doc.get("training_seconds"))]), section_id="hardware"),
    ]
    return html.page(f"compare · {len(rows)} candidates · {doc.get('task') or ''}".strip(" ·"),
                     f"comparison directory {folder.resolve()}", sections)
