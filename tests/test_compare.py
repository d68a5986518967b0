"""`transferkit compare` (methods/compare.py): candidates trained in subprocesses, finished runs,
resuming, failures, bootstrap intervals, the Pareto front and the recommendation under constraints."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from transferkit.errors import ConfigError
from transferkit.methods.compare import bootstrap_interval, compare, pareto, parse_candidate, read_candidates, recommend
from transferkit.runs import load_run
from transferkit.tasks import TASKS

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = "max_steps=4,batch_size=8,lr=3e-3"


@pytest.fixture(scope="module")
def text_example(tmp_path_factory):
    return TASKS.get("text-classification").tiny_example(tmp_path_factory.mktemp("cmp-text"))


def test_candidate_specs_parse():
    c = parse_candidate("hf:org/model:finetune:strategy=lora,epochs=2")
    assert (c.model, c.method, c.settings) == ("hf:org/model", "finetune", {"strategy": "lora", "epochs": "2"})
    d = read_candidates(["a:finetune,distill:teacher=a:finetune,student=from-teacher:3,epochs=1,b:probe"])
    assert [x.method for x in d] == ["finetune", "distill", "probe"]
    assert d[1].settings == {"teacher": "a:finetune", "student": "from-teacher:3", "epochs": "1"}
    for bad in ("just-a-model", "m:finetune:nokey", "distill:student=x"):
        with pytest.raises(ConfigError):
            parse_candidate(bad)
    with pytest.raises(ConfigError, match="twice"):
        read_candidates(["a:probe", "a:probe"])


def test_pareto_and_recommendation_under_constraints():
    rows = [
        {"candidate": "big", "metric": "accuracy", "score": 0.90, "ci_low": 0.88, "ci_high": 0.92,
         "latency_p50_ms": 20.0, "size_mb": 400.0, "run_dir": "big"},
        {"candidate": "mid", "metric": "accuracy", "score": 0.89, "ci_low": 0.87, "ci_high": 0.91,
         "latency_p50_ms": 5.0, "size_mb": 90.0, "run_dir": "mid"},
        {"candidate": "slow-small", "metric": "accuracy", "score": 0.80, "ci_low": 0.78, "ci_high": 0.82,
         "latency_p50_ms": 30.0, "size_mb": 500.0, "run_dir": "ss"},
    ]
    pareto(rows)
    assert [r["pareto"] for r in rows] == [True, True, False]
    tied = recommend(rows)  # big is best, but mid's interval reaches 0.90 and it is 4x faster
    assert tied["candidate"] == "mid" and "within the 95 % interval" in tied["reason"] and "big is +1.0 pt" in tied["reason"]
    rows[1]["ci_high"] = 0.895
    assert recommend(rows)["candidate"] == "big"
    assert recommend(rows, max_latency_ms=10)["candidate"] == "mid"
    assert recommend(rows, max_size_mb=50)["candidate"] is None
    assert recommend(rows, min_metric=0.95)["reason"].startswith("no candidate meets accuracy >= 0.95")


def test_bootstrap_interval_brackets_the_score():
    task = TASKS.get("text-classification")(None)  # headline_from_parts needs no settings
    correct = (np.random.default_rng(0).random(400) < 0.8).astype(float)
    parts = np.stack([correct, np.ones_like(correct)], axis=1)
    low, high = bootstrap_interval(task, parts)
    assert low < correct.mean() < high and 0.05 < high - low < 0.12


def test_compare_trains_measures_resumes_and_survives_a_failure(text_example, tmp_path):
    model = text_example.model
    out = tmp_path / "cmp"
    said = []
    specs = [f"{model}:finetune:{FAST}", f"{model}:probe", "no-such-model:finetune",
             f"distill:teacher={model}:finetune,student=from-teacher:1,{FAST}"]
    doc = compare(specs, out, train=text_example.train, validation=text_example.validation, latency_calls=5,
                  echo=said.append)
    rows = {r["candidate"]: r for r in doc["candidates"]}
    assert "no-such-model" in rows["no-such-model:finetune"]["error"]
    good = [r for r in doc["candidates"] if not r.get("error")]
    assert len(good) == 3
    for r in good:
        assert 0 <= r["score"] <= 1 and r["ci_low"] <= r["score"] <= r["ci_high"]
        assert r["latency_p50_ms"] > 0 and r["throughput_per_s"] > 0 and r["size_mb"] > 0 and r["parameters"] > 0
    assert any(r["pareto"] for r in good)
    assert doc["recommendation"]["candidate"] in rows and doc["hardware"]["threads"] >= 1
    with open(out / "leaderboard.csv", newline="") as f:
        assert len(list(csv.DictReader(f))) == 4
    assert load_run(out).label_names == load_run(doc["recommendation"]["run_dir"]).label_names
    page = (out / "report.html").read_text()  # leaderboard (a header and 4 rows), recommendation, Pareto plot
    board = page.split('id=leaderboard>')[1].split("</table>")[0]
    assert board.count("<tr>") == 5 and "failed: " in board and 'alt="Pareto plot" src="data:image/png;base64,' in page
    assert doc["recommendation"]["reason"].split(":")[0] in page.split('id="recommendation"')[1]
    # Again: finished candidates are kept, only the failed one is tried again.
    said.clear()
    again = compare(specs, out, train=text_example.train, validation=text_example.validation, latency_calls=5,
                    echo=said.append)
    assert [s for s in said if "training" in s] == ["[1/1] training no-such-model:finetune"]
    assert {r["candidate"]: r["score"] for r in again["candidates"] if "score" in r} == \
        {r["candidate"]: r["score"] for r in good}


def test_compare_finished_runs_and_an_image_task(tmp_path):
    example = TASKS.get("image-classification").tiny_example(tmp_path / "img")
    settings = ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in
                        {**example.settings, "max_steps": 2}.items() if k != "image_size")
    specs = [f"{example.model}:finetune:{settings},image_size={size}" for size in (32, 64)]
    doc = compare(specs, tmp_path / "cmp", train=example.train, validation=example.validation, task="image-classification",
                  latency_calls=3, echo=lambda _: None)
    assert doc["task"] == "image-classification" and all(r.get("score") is not None for r in doc["candidates"])
    runs = [r["run_dir"] for r in doc["candidates"]]
    finished = compare(runs, tmp_path / "cmp-runs", validation=example.validation, latency_calls=3,
                       echo=lambda _: None)
    assert [r["method"] for r in finished["candidates"]] == ["run", "run"]
    assert [r["score"] for r in finished["candidates"]] == [r["score"] for r in doc["candidates"]]


def test_compare_refuses_what_it_cannot_score(text_example, tmp_path):
    with pytest.raises(ConfigError, match="--test or --validation"):
        compare([f"{text_example.model}:probe"], tmp_path / "a", train=text_example.train)
    with pytest.raises(ConfigError, match="need --train"):
        compare([f"{text_example.model}:probe"], tmp_path / "b", validation=text_example.validation)


def test_compare_command_line(text_example, tmp_path):
    out = tmp_path / "cli"
    done = subprocess.run([sys.executable, "-m", "transferkit", "compare", "--candidates",
                           f"{text_example.model}:probe,{text_example.model}:finetune:{FAST}", "--train",
                           text_example.train, "--validation", text_example.validation, "-o", str(out),
                           "--latency-calls", "3", "--max-latency-ms", "10000"], capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    assert "leaderboard" in done.stdout and "recommended:" in done.stdout
    assert json.loads((out / "leaderboard.json").read_text())["constraints"]["max_latency_ms"] == 10000
