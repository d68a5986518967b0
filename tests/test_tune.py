"""`transferkit tune` (methods/tune.py): the search space, trials in their own processes with
pruning, the study on disk (resume), the best trial kept as a run."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from transferkit.errors import ConfigError
from transferkit.methods.config import FinetuneConfig
from transferkit.methods.tune import check_space, run_trial, sample

pytestmark = pytest.mark.usefixtures("ft_env")


def test_space_errors_name_the_parameter():
    with pytest.raises(ConfigError, match="'lrate' is not a finetune setting"):
        check_space({"lrate": {"type": "float", "low": 1, "high": 2}}, FinetuneConfig.model_fields)
    with pytest.raises(ConfigError, match="strategy: .*needs choices"):
        check_space({"strategy": {"type": "categorical"}}, FinetuneConfig.model_fields)
    with pytest.raises(ConfigError, match="lr: .*low <= high"):
        check_space({"lr": {"type": "float", "low": 2, "high": 1}}, FinetuneConfig.model_fields)
    with pytest.raises(ConfigError, match="epochs needs a mapping"):
        check_space({"epochs": 3}, FinetuneConfig.model_fields)


def test_relative_and_conditional_parameters():
    from optuna.trial import FixedTrial

    space = check_space({"strategy": {"type": "categorical", "choices": ["full", "lora"]},
                         "lr": {"type": "float", "low": 0.25, "high": 4, "log": True, "relative": True},
                         "epochs": {"type": "float", "low": 0.5, "high": 2, "relative": True},
                         "lora_r": {"type": "categorical", "choices": [4, 8], "when": {"strategy": "lora"}}},
                        FinetuneConfig.model_fields)
    base = {"full": 1e-4, "lora": 5e-4}
    default_of = lambda name, chosen: {"lr": base[chosen.get("strategy", "full")], "epochs": 3,
                                       "strategy": "full"}[name]
    full = sample(FixedTrial({"strategy": "full", "lr": 2.0, "epochs": 2.0}), space, default_of)
    assert full == {"strategy": "full", "lr": 2e-4, "epochs": 6}  # no lora_r without lora
    lora = sample(FixedTrial({"strategy": "lora", "lr": 0.5, "epochs": 0.5, "lora_r": 8}), space, default_of)
    assert lora == {"strategy": "lora", "lr": 2.5e-4, "epochs": 2, "lora_r": 8}  # relative to lora's default


class PruneAfterFirst:
    """An Optuna trial stand-in that asks to prune as soon as one evaluation is reported."""

    def __init__(self):
        self.reports = []

    def report(self, value, step):
        self.reports.append((step, value))

    def should_prune(self):
        return bool(self.reports)


@pytest.mark.slow
def test_a_pruned_trial_process_is_stopped_after_its_first_evaluation(tiny_bert, tiny_csvs, tmp_path):
    import yaml

    run_dir, config = tmp_path / "trial", tmp_path / "trial.yaml"
    config.write_text(yaml.safe_dump({"model": str(tiny_bert), "train": str(tiny_csvs["train"]),
                                      "validation": str(tiny_csvs["validation"]), "output": str(run_dir),
                                      "epochs": 40, "batch_size": 8, "max_length": 16, "lr": 3e-3,
                                      "progress": False}))
    trial = PruneAfterFirst()
    outcome = run_trial(trial, config, run_dir, "macro_f1", tmp_path / "trial.log", poll=0.1)
    assert outcome.state == "pruned" and trial.reports[0][0] == 1
    logged = [json.loads(line) for line in (run_dir / "train_log.jsonl").read_text().splitlines()]
    epochs = {r["epoch"] for r in logged if r.get("event") == "evaluate"}
    assert max(epochs) < 10  # stopped long before its 40 epochs
    assert outcome.peak_rss_mb > 50 and not (run_dir / "model").exists()


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("lr: {type: float, low: 0.001, high: 0.01, log: true}\n"
                    "warmup_ratio: {type: float, low: 0.0, high: 0.2}\n")
    return path


@pytest.mark.slow
def test_tune_keeps_the_best_trial_as_a_run_and_resumes(tiny_bert, tiny_csvs, tmp_path, space_file):
    import transferkit as tk

    out = tmp_path / "tuned"
    common = dict(epochs=3, batch_size=8, max_length=16, space=space_file, metric="accuracy")
    result = tk.tune(str(tiny_bert), tiny_csvs["train"], tiny_csvs["validation"], output=out, n_trials=2, **common)
    summary = json.loads((out / "tune.json").read_text())
    assert [t["number"] for t in summary["trials"]] == [0, 1] and summary["best_trial"] in (0, 1)
    best = max((t for t in summary["trials"] if t["state"] == "complete"), key=lambda t: t["value"])
    assert result.best_value == best["value"] == max(best["evaluations"])  # the best epoch, not the last
    assert result.best_params == best["params"] and set(best["params"]) == {"lr", "warmup_ratio"}
    assert 1e-3 <= best["params"]["lr"] <= 1e-2
    # The best trial is an ordinary run; the study directory loads as it; the others are gone.
    saved = json.loads((out / "best" / "config.json").read_text())
    assert saved["kind"] == "finetune" and saved["lr"] == best["params"]["lr"] and saved["epochs"] == 3
    metrics = json.loads((out / "best" / "metrics.json").read_text())
    assert metrics["accuracy"] == pytest.approx(best["value"])  # the restored best weights
    assert tk.load(out).predict(["a wonderful film"]) == result.predict(["a wonderful film"])
    assert not [p for p in (out / "trials").iterdir() if p.is_dir()]
    assert all(t["peak_rss_mb"] > 50 for t in summary["trials"])

    # Resume to 3 trials: exactly one more runs, in the same study.
    again = tk.tune(str(tiny_bert), tiny_csvs["train"], tiny_csvs["validation"], output=out, n_trials=3, resume=True,
                    **common)
    summary = json.loads((out / "tune.json").read_text())
    assert [t["number"] for t in summary["trials"]] == [0, 1, 2]
    assert again.best_value == max(t["value"] for t in summary["trials"] if t["value"] is not None)
    tuner = [t["tuner_peak_rss_mb"] for t in summary["trials"]]
    assert max(tuner) - min(tuner) < 100  # trials give their memory back: the tuner stays flat


def test_tune_refuses_in_memory_data_and_a_missing_output(tiny_texts, tmp_path):
    import transferkit as tk

    with pytest.raises(ConfigError, match="invalid train: tune runs each trial in its own process"):
        tk.tune("minilm-l6", tiny_texts["train"], output=tmp_path / "t")
    with pytest.raises(ConfigError, match="invalid output: tune keeps its study"):
        tk.tune("minilm-l6", "train.csv")


def test_tune_cli_bad_space_file_is_one_line(tiny_bert, tiny_csvs, tmp_path):
    space = tmp_path / "space.yaml"
    space.write_text("learning_rate: {type: float, low: 1e-5, high: 1e-3}\n")
    done = subprocess.run([sys.executable, "-m", "transferkit", "tune", "-m", str(tiny_bert), "--train",
                           str(tiny_csvs["train"]), "-o", str(tmp_path / "t"), "--space", str(space)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().count("\n") == 0, done.stderr
    assert "'learning_rate' is not a finetune setting" in done.stderr
