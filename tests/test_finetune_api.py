"""Fine-tuning from the outside: CLI + config file, plain-transformers reload, predict/evaluate on a
fine-tuned run, the scikit-learn estimator, settings validation, loss options."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = dict(batch_size=8, lr=3e-3, progress=False)


def tk_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transferkit", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def cli_run(tiny_bert, tiny_texts, tmp_path_factory):
    """A run trained once through the CLI, with settings from a YAML file that flags override."""
    from transferkit.text.tiny import write_csv

    folder = tmp_path_factory.mktemp("cli-run")
    files = {split: write_csv(folder / f"{split}.csv", *data) for split, data in tiny_texts.items()}
    config = folder / "run.yaml"
    config.write_text("epochs: 1\nbatch-size: 8\nlr: 0.003\nstrategy: full\nlabel_smoothing: 0.1\n"
                      "class_weights: balanced\n")
    out = folder / "run"
    env = {"TRANSFERKIT_HOME": str(folder / "home"), "TRANSFERKIT_OFFLINE": "1", "TRANSFERKIT_PROGRESS": "0",
           "OMP_NUM_THREADS": "1"}
    done = tk_cli("finetune", "--config", str(config), "--model", str(tiny_bert), "--train", files["train"],
                  "--validation", files["validation"], "--test", files["test"], "--epochs", "8", "--output", str(out),
                  "--no-progress", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.slow
def test_cli_run_saves_resolved_config_and_metrics(cli_run):
    saved = json.loads((cli_run / "config.json").read_text())
    assert saved["kind"] == "finetune" and saved["epochs"] == 8  # the flag beat the file
    assert saved["batch_size"] == 8 and saved["label_smoothing"] == 0.1 and saved["class_weights"] == "balanced"
    assert saved["text_column"] == "text" and saved["label_column"] == "label"
    metrics = json.loads((cli_run / "metrics.json").read_text())
    assert metrics["split"] == "test" and set(metrics["by_split"]) == {"validation", "test"}
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert key in metrics  # the same keys as a probe run
    assert metrics["accuracy"] > 0.8  # the tiny task is learnable
    assert json.loads((cli_run / "labels.json").read_text()) == {"names": ["neg", "pos"]}


@pytest.mark.slow
def test_plain_transformers_reload_gives_the_same_predictions(cli_run):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    import transferkit as tk

    texts = ["the movie was great and fun", "awful boring plot", "it is a film"]
    run = tk.load(cli_run)
    model = AutoModelForSequenceClassification.from_pretrained(cli_run / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(cli_run / "model")
    with torch.inference_mode():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    np.testing.assert_allclose(torch.softmax(logits, -1).numpy(), run.predict_proba(texts), atol=1e-5)
    assert [model.config.id2label[i] for i in logits.argmax(-1).tolist()] == run.predict(texts)
    assert run.predict(texts)[:2] == ["pos", "neg"]


@pytest.mark.slow
def test_predict_and_evaluate_commands_on_a_finetuned_run(cli_run, tiny_csvs, tmp_path):
    done = tk_cli("predict", str(cli_run), "--text", "great lovely film")
    assert done.returncode == 0 and "pos" in done.stdout, done.stderr
    out = tmp_path / "predictions.csv"
    done = tk_cli("predict", str(cli_run), "--input", str(tiny_csvs["test"]), "--output", str(out))
    assert done.returncode == 0, done.stderr
    import pandas as pd

    table = pd.read_csv(out)
    assert len(table) == 24 and {"prediction", "p_pos", "p_neg"} <= set(table.columns)
    done = tk_cli("evaluate", str(cli_run), "--data", str(tiny_csvs["test"]))
    assert done.returncode == 0, done.stderr
    evaluation = json.loads((cli_run / "evaluations" / "test.json").read_text())
    trained = json.loads((cli_run / "metrics.json").read_text())  # the same test file, scored at the end of training
    assert evaluation["n"] == 24 and evaluation["accuracy"] == pytest.approx(trained["accuracy"])
    assert evaluation["data"] == str(tiny_csvs["test"]) and f"{evaluation['accuracy']:.4f}" in done.stdout


@pytest.mark.parametrize("args,message", [
    (["--epochs", "0"], "invalid epochs: Input should be greater than or equal to 1 (got 0)"),
    (["--strategy", "sideways"], "strategy: 'sideways' is not a strategy; choose from full, head-only"),
    (["--class-weights", "1,-2"], "class weights must be positive"),
    (["--lr", "-1"], "invalid lr: must be a number > 0 or auto (got '-1')"),
        (["--lr", "fast"], "invalid lr: must be a number > 0 or auto (got 'fast')"),
    (["--llrd", "0.8", "--strategy", "lora"], "llrd: layer-wise LR decay does not apply to strategy 'lora'"),
    (["--early-stopping-metric", "bleu", "--validation", "{val}"], "invalid early_stopping_metric: 'bleu'; choose from"),
    (["--mixup", "0.2"], "invalid mixup: 0.2 is a setting of task image-classification"),
    (["--strategy", "head-only", "--top-k", "3"], "invalid top_k: 3 is a setting of strategy top-k"),
])
def test_invalid_settings_fail_in_one_line_before_work(tiny_bert, tiny_csvs, tmp_path, args, message):
    out = tmp_path / "run"
    args = [a.replace("{val}", str(tiny_csvs["validation"])) for a in args]
    done = tk_cli("finetune", "--model", str(tiny_bert), "--train", str(tiny_csvs["train"]), "--output", str(out),
                  *args)
    assert done.returncode == 2, done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (out / "checkpoints").exists()


def test_unknown_setting_in_config_file_is_named(tiny_bert, tiny_csvs, tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 1\nlearning_rate: 0.1\n")
    done = tk_cli("finetune", "-c", str(config), "-m", str(tiny_bert), "--train", str(tiny_csvs["train"]),
                  "-o", str(tmp_path / "run"))
    assert done.returncode == 2 and "learning_rate" in done.stderr and "'lr'" in done.stderr, done.stderr


def test_existing_run_is_kept_without_overwrite(tiny_bert, tiny_texts, tmp_path):
    from transferkit.errors import TransferkitError
    from transferkit.methods.finetune import finetune

    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(TransferkitError, match="--overwrite"):
        finetune(str(tiny_bert), tiny_texts["train"], output=out, epochs=1, **FAST)
    assert (out / "keep.txt").read_text() == "precious"


def test_text_classifier_is_a_scikit_learn_estimator(tiny_bert, tiny_texts):
    from sklearn.base import clone

    from transferkit import TextClassifier

    clf = TextClassifier(str(tiny_bert), epochs=4, batch_size=8, lr=3e-3, seed=3)
    assert clone(clf).get_params() == clf.get_params()
    assert not hasattr(clf, "classes_")  # the constructor only stores parameters
    clf.set_params(epochs=10)
    texts, labels = tiny_texts["train"]
    clf.fit(texts, labels, eval_set=tiny_texts["validation"])
    assert list(clf.classes_) == ["neg", "pos"]
    proba = clf.predict_proba(tiny_texts["test"][0])
    assert proba.shape == (24, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert clf.score(*tiny_texts["test"]) > 0.8
    assert clf.predict(["a great and fun film", "awful boring plot"]).tolist() == ["pos", "neg"]


def test_class_weights_and_label_smoothing_are_the_loss_they_say(tiny_bert, tiny_texts):
    import torch.nn.functional as F

    from transferkit.methods.config import FinetuneConfig
    from transferkit.tasks import get_task

    texts, labels = tiny_texts["train"]
    skewed = (texts[:40], ["pos"] * 30 + ["neg"] * 10)
    weights = {"plain": None, "balanced": [2.0, 2 / 3], "explicit": [5.0, 1.0], "smooth": None}
    for name, settings in {"plain": {}, "balanced": {"class_weights": "balanced"},
                           "explicit": {"class_weights": {"neg": 5.0}}, "smooth": {"label_smoothing": 0.2}}.items():
        task = get_task("text-classification")(FinetuneConfig(task="text-classification", **settings))
        data = task.load_data(skewed)
        model = task.build_model(str(tiny_bert), data).eval()
        # scikit-learn's balanced weights n / (k * count): 40 / (2 * 10) for neg, 40 / (2 * 30) for pos
        expected_weights = weights[name]
        if expected_weights is None:
            assert task.class_weights is None
        else:
            assert task.class_weights.tolist() == pytest.approx(expected_weights)
        batch = task.collate(task.encode(data.train), np.arange(40))
        with torch.no_grad():
            logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            expected = F.cross_entropy(logits, batch["labels"], label_smoothing=settings.get("label_smoothing", 0.0),
                                       weight=None if expected_weights is None else torch.tensor(expected_weights))
            assert task.loss(model, batch).item() == pytest.approx(expected.item(), rel=1e-6), name


def test_tensorboard_and_step_log(tiny_bert, tiny_texts, tmp_path):
    from transferkit.methods.finetune import finetune

    out = tmp_path / "run"
    finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=out, epochs=1, log_every=2,
             tensorboard=True, **FAST)
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    steps = [r for r in log if "event" not in r]
    assert [r["step"] for r in steps] == [2, 4, 6, 8]
    assert all({"loss", "lr", "samples_per_s", "epoch"} <= set(r) for r in steps)
    assert any(r.get("event") == "evaluate" for r in log)
