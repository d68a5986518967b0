"""Reports (methods/report.py): every run writes evaluation.jsonl and report.html; the page holds
the sections its files support; `transferkit report` rebuilds it; without matplotlib the page is
still written. The browser check is in test_serve_browser.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from transferkit.methods.report import report
from transferkit.outputs import plots
from transferkit.tasks import TASKS
from transferkit.tasks.base import Task

pytestmark = pytest.mark.usefixtures("ft_env")
LABELLED = [name for name, task in TASKS.items() if task.review_rows is not Task.review_rows and task.has_classes]


def _rows(run):
    return [json.loads(line) for line in (run / "evaluation.jsonl").read_text().splitlines()]


def _images(page: str) -> list[str]:
    return re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', page)


@pytest.mark.parametrize("name", LABELLED)
def test_a_labelled_run_reports_curves_classes_calibration_and_mistakes(tiny_runs, name):
    _, run = tiny_runs[name]
    metrics = json.loads((run / "metrics.json").read_text())
    rows = _rows(run)
    assert len(rows) == metrics["n"]
    if name == "token-classification":  # per word: the tags, and token accuracy rebuilt from them
        words = [(t, p) for r in rows for t, p in zip(r["true"], r["predicted"])]
        assert all(len(r["tokens"]) == len(r["true"]) == len(r["confidence"]) for r in rows)
        assert np.mean([t == p for t, p in words]) == pytest.approx(metrics["accuracy"])
    else:  # per example: the accuracy of the saved rows is the run's accuracy
        assert np.mean([r["correct"] for r in rows]) == pytest.approx(metrics["accuracy"])
        assert all(r["correct"] == (r["true"] == r["predicted"]) and 0 < r["confidence"] <= 1 for r in rows)
    page = (run / "report.html").read_text()
    for section in ("overview", "curves", "classes", "calibration", "mistakes", "settings"):
        assert f'id="{section}"' in page
    assert {"learning curves", "confusion matrix", "reliability diagram"} <= set(_images(page))
    per_class = page.split("id=per-class>")[1].split("</table>")[0]
    assert per_class.count("<tr>") == 1 + len(metrics["per_class"])
    assert "http://" not in page and "https://" not in page  # self-contained: nothing fetched
    wrong = [r for r in rows if not r["correct"]]
    if name == "image-classification" and wrong:
        assert page.count('<div class=thumb><img alt="mistake" src="data:image/png;base64,') == min(len(wrong), 20)
    if name == "text-classification" and wrong:
        first = max(wrong, key=lambda r: r["confidence"])
        assert page.split("id=mistake-table>")[1].split("</tr>")[1].count(first["text"].split()[0]) >= 1


def test_pretrain_run_reports_its_perplexity_curve(tiny_runs):
    _, run = tiny_runs["masked-lm"]
    page = (run / "report.html").read_text()
    assert "perplexity" in page.split('id="overview"')[1][:200]
    assert "learning curves" in _images(page) and 'id="mistakes"' not in page
    assert not (run / "evaluation.jsonl").exists()


def test_tagged_mistakes_are_marked_word_by_word(tiny_runs, tmp_path):
    _, run = tiny_runs["token-classification"]
    copy = tmp_path / "run"
    shutil.copytree(run, copy, ignore=shutil.ignore_patterns("checkpoints", "model"))
    rows = [{"tokens": ["Anna", "flew", "to", "Oslo", "<b>"], "true": ["B-PER", "O", "O", "B-LOC", "O"],
             "predicted": ["B-PER", "O", "O", "O", "B-LOC"], "confidence": [0.9, 0.9, 0.9, 0.8, 0.7], "correct": False},
            {"tokens": ["fine"], "true": ["O"], "predicted": ["O"], "confidence": [0.99], "correct": True}]
    (copy / "evaluation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    page = report(copy).read_text()
    sentences = page.split("id=mistake-sentences>")[1].split("</ol>")[0]
    assert sentences.count("<li>") == 1
    assert '<mark class=both title="B-PER">Anna<sub>PER</sub></mark>' in sentences
    assert '<mark class=true title="missed: gold B-LOC">Oslo<sub>LOC?</sub></mark>' in sentences
    assert "&lt;b&gt;<sub>LOC</sub>" in sentences and "<b>" not in sentences  # inputs are escaped
    assert "1 of 2 validation examples wrong" in page


def test_reliability_bins_and_ece():
    confidence = np.array([0.95, 0.95, 0.55, 0.55])
    correct = np.array([1, 1, 1, 0])
    table = plots.reliability(confidence, correct)
    assert [(b["count"], b["accuracy"]) for b in table["bins"]] == [(2, 0.5), (2, 1.0)]
    assert table["ece"] == pytest.approx(0.5 * 0.05 + 0.5 * 0.05)


def test_report_command_rebuilds_the_page_elsewhere(tiny_runs, tmp_path):
    _, run = tiny_runs["text-classification"]
    target = tmp_path / "out.html"
    done = subprocess.run([sys.executable, "-m", "transferkit", "report", str(run), "-o", str(target)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert str(target) in done.stdout and "reliability diagram" in _images(target.read_text())
    bad = subprocess.run([sys.executable, "-m", "transferkit", "report", str(tmp_path)], capture_output=True,
                         text=True, timeout=300)
    assert bad.returncode == 2 and "not a transferkit run directory" in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1


def test_without_matplotlib_the_page_says_why_figures_are_missing(tiny_runs, tmp_path, monkeypatch):
    _, run = tiny_runs["text-classification"]
    monkeypatch.setattr(plots, "_pyplot", lambda: None)
    page = report(run, tmp_path).read_text()
    assert _images(page) == [] and "(no figure: matplotlib is not installed" in page
    assert "id=per-class>" in page and ("id=mistake-table>" in page or "no mistakes" in page)


def test_no_report_and_a_failing_report_never_fail_the_run(tmp_path, monkeypatch):
    from transferkit.methods import report as report_module
    from transferkit.methods.finetune import finetune
    from transferkit.tasks import TASKS

    example = TASKS.get("text-classification").tiny_example(tmp_path / "ex")
    quiet = finetune(example.model, example.train, example.validation, output=str(tmp_path / "quiet"),
                     max_steps=2, report=False, progress=False)
    assert not (quiet.run_dir / "report.html").exists() and (quiet.run_dir / "evaluation.jsonl").is_file()

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(report_module, "report", broken)
    run = finetune(example.model, example.train, example.validation, output=str(tmp_path / "broken"), max_steps=2,
                   progress=False)
    assert (run.run_dir / "metrics.json").is_file() and not (run.run_dir / "report.html").exists()


def test_probe_run_reports_its_regularisation_choice(tiny_runs, tmp_path):
    from transferkit.methods.probe import probe

    example, _ = tiny_runs["text-classification"]
    run = probe(example.model, example.train, example.validation, output=tmp_path / "probe")
    page = (tmp_path / "probe" / "report.html").read_text()
    assert 'id="probe"' in page and f"C = {run.config['C']}" in page
    assert len(_rows(tmp_path / "probe")) == run.metrics["validation"]["n"]


def test_numpy_softmax_matches_scipy_and_survives_large_logits():
    from scipy.special import log_softmax as scipy_log_softmax

    from transferkit.outputs.metrics import log_softmax, softmax

    logits = np.random.default_rng(0).normal(size=(5, 7)) * 30
    logits[0, 0] = 1e4  # exp would overflow without the shift
    assert np.allclose(log_softmax(logits, axis=1), scipy_log_softmax(logits, axis=1))
    assert np.allclose(softmax(logits, axis=1).sum(1), 1) and np.isfinite(softmax(logits, axis=0)).all()
