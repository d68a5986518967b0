"""Token classification end to end on a tiny BERT: CLI fine-tuning, the saved Hugging Face folder
reloaded by plain transformers, predict (texts -> entities with character spans, files -> JSONL),
evaluate, every strategy, long-sentence windows and the per-task early-stopping metric."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = dict(task="token-classification", batch_size=8, lr=3e-3, max_length=24, progress=False)


def tk_cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transferkit", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture(scope="module")
def ner_run(tmp_path_factory, tiny_ner_bert, tiny_ner):
    """A token-classification run trained through the CLI on 3-column CoNLL files (trained once)."""
    from conftest import write_conll

    folder = tmp_path_factory.mktemp("ner-run")
    files = {split: write_conll(folder / f"{split}.conll", *data, extra_column=True)
             for split, data in tiny_ner.items()}
    out = folder / "run"
    env = {"TRANSFERKIT_HOME": str(folder / "home"), "TRANSFERKIT_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = tk_cli("finetune", "--task", "token-classification", "--model", str(tiny_ner_bert),
                  "--train", str(files["train"]), "--validation", str(files["validation"]),
                  "--test", str(files["test"]),
                  "--tag-column", "-1", "--epochs", "8", "--batch-size", "8", "--lr", "0.003", "--max-length", "24",
                  "--early-stopping-patience", "3", "--output", str(out), "--no-progress", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "saved to" in done.stdout
    return out, files


@pytest.mark.slow
def test_cli_run_saves_config_labels_and_entity_metrics(ner_run):
    run, _ = ner_run
    saved = json.loads((run / "config.json").read_text())
    assert saved["kind"] == "finetune" and saved["task"] == "token-classification"
    assert saved["early_stopping_metric"] == "f1"  # the task's default, resolved and recorded
    assert json.loads((run / "labels.json").read_text()) == {"names": ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]}
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["split"] == "test" and set(metrics["by_split"]) == {"validation", "test"}
    p, r = metrics["precision"], metrics["recall"]
    assert metrics["f1"] == pytest.approx(2 * p * r / (p + r))  # entity micro F1: harmonic mean of micro P and R
    assert set(metrics["per_class"]) == {"LOC", "PER"}
    assert metrics["macro_f1"] == pytest.approx(np.mean([m["f1"] for m in metrics["per_class"].values()]))
    assert metrics["entities"] == sum(m["support"] for m in metrics["per_class"].values())
    assert metrics["f1"] > 0.9 and metrics["accuracy"] > 0.9  # the tiny set is learnable
    assert (run / "model" / "tokenizer.json").is_file()


@pytest.mark.slow
def test_plain_transformers_reload_gives_the_same_predictions(ner_run, tiny_ner):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    import transferkit as tk

    run_dir, _ = ner_run
    sentences = tiny_ner["test"][0][:8] + [["bob", "smithson", "lives", "near", "newyork"]]
    model = AutoModelForTokenClassification.from_pretrained(run_dir / "model").eval()
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    with torch.inference_mode():
        probs = torch.softmax(model(**enc).logits, -1).numpy()
    plain_probs, plain_tags = [], []
    for i, words in enumerate(sentences):  # the standard recipe: the first sub-word of each word
        word_ids = enc.word_ids(i)
        first = [word_ids.index(w) for w in range(len(words))]
        plain_probs.append(probs[i, first])
        plain_tags.append([model.config.id2label[int(k)] for k in probs[i, first].argmax(-1)])
    run = tk.load(run_dir)
    for ours, theirs in zip(run.predict_proba(sentences), plain_probs):
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    assert [r["tags"] for r in run.predict_json(sentences)] == plain_tags
    assert plain_tags[-1] == ["B-PER", "I-PER", "O", "O", "B-LOC"]


@pytest.mark.slow
def test_predict_text_returns_entities_with_character_spans(ner_run):
    run, _ = ner_run
    text = "Yesterday alice  met bob smithson in newyork, today erin visited rome"
    done = tk_cli("predict", str(run), "--text", text.lower(), "--text", "the and to")
    assert done.returncode == 0, done.stderr
    first, second = (json.loads(line) for line in done.stdout.strip().splitlines())
    assert second == {"text": "the and to", "entities": []}
    found = [(e["entity"], e["text"]) for e in first["entities"]]
    assert found == [("PER", "alice"), ("PER", "bob smithson"), ("LOC", "newyork"), ("PER", "erin"), ("LOC", "rome")]
    for entity in first["entities"]:
        assert first["text"][entity["start"]:entity["end"]] == entity["text"] and 0 < entity["score"] <= 1


@pytest.mark.slow
def test_predict_files_and_evaluate(ner_run, tmp_path, capsys):
    from transferkit.runs import load_run

    run, files = ner_run
    predictor = load_run(run)
    out, count = predictor.predict_file(str(files["test"]), tmp_path / "pred.jsonl")
    assert count == 32
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 32 and rows[0]["line"] == 3 and len(rows[0]["tags"]) == len(rows[0]["tokens"])
    assert all(e.keys() >= {"entity", "start_token", "end_token", "score"} for r in rows for e in r["entities"])
    texts = tmp_path / "texts.csv"
    texts.write_text("text\nalice went to paris\nnothing here\n")
    rows = [json.loads(line) for line in predictor.predict_file(str(texts))[0].read_text().splitlines()]
    assert [e["text"] for e in rows[0]["entities"]] == ["alice", "paris"] and rows[1]["entities"] == []
    assert (tmp_path / "texts.predictions.jsonl").is_file()
    metrics, path = predictor.evaluate_file(str(files["test"]))
    assert path == run / "evaluations" / "test.json" and metrics["f1"] > 0.9
    assert json.loads(path.read_text())["per_class"]["PER"]["support"] > 0


@pytest.mark.parametrize("strategy,settings", [
    ("full", {}), ("head-only", {}), ("top-k", {"top_k": 1}), ("gradual-unfreeze", {"unfreeze_unit": "step"}),
    ("llrd", {"llrd": 0.8}), ("lora", {"lora_r": 4}),
])
def test_every_strategy_trains_a_token_model(tiny_ner_bert, tiny_ner, strategy, settings):
    from transformers import BertForTokenClassification

    from transferkit.methods.finetune import finetune

    train = tuple(part[:32] for part in tiny_ner["train"])
    run = finetune(str(tiny_ner_bert), train, tiny_ner["validation"], strategy=strategy, epochs=2, **FAST, **settings)
    model = run.predictor.model
    assert type(model) is BertForTokenClassification  # LoRA merged back into a plain model
    assert run.info["steps"] == 8 and {"f1", "precision", "recall"} <= set(run.metrics["validation"])
    trainable, total = run.info["trainable_parameters"], run.info["parameters"]
    # run_info records the first step: gradual unfreezing starts with the head alone.
    assert (trainable == total) == (strategy in ("full", "llrd"))


def test_long_sentences_train_and_predict_through_windows(tiny_ner_bert, tiny_ner):
    from transferkit.methods.finetune import finetune

    long = [sum(tiny_ner["train"][0][i:i + 6], []) for i in range(0, 96, 6)]
    tags = [sum(tiny_ner["train"][1][i:i + 6], []) for i in range(0, 96, 6)]
    assert max(map(len, long)) > 30
    run = finetune(str(tiny_ner_bert), (long, tags), tiny_ner["validation"], epochs=1,
                   **{**FAST, "max_length": 10, "window_stride": 2, "label_all_subwords": True})
    assert run.info["sizes"]["train"] > 16 * 3  # windows, not sentences
    predicted = [r["tags"] for r in run.predict_json(long[:3])]
    assert [len(p) for p in predicted] == [len(s) for s in long[:3]]  # no token dropped


def test_early_stopping_metric_defaults_per_task_and_foreign_settings_are_refused(tiny_bert):
    from transferkit.errors import ConfigError
    from transferkit.methods.config import FinetuneConfig
    from transferkit.methods.finetune import setup

    text, _ = setup(FinetuneConfig(model=str(tiny_bert), task="text-classification"))
    assert text.config.early_stopping_metric == "macro_f1"
    token, _ = setup(FinetuneConfig(model=str(tiny_bert), task="token-classification"))
    assert token.config.early_stopping_metric == "f1"
    with pytest.raises(ConfigError, match="invalid early_stopping_metric: 'weighted_precision'"):
        setup(FinetuneConfig(model=str(tiny_bert), task="token-classification", early_stopping_metric="weighted_precision"))
    with pytest.raises(ConfigError, match="invalid class_weights: 'balanced' is a setting of task audio-classification "
                                          "or task image-classification or task text-classification"):
        setup(FinetuneConfig(model=str(tiny_bert), task="token-classification", class_weights="balanced"))
    with pytest.raises(ConfigError, match="invalid tag_scheme: 'bioes' is a setting of task token-classification"):
        setup(FinetuneConfig(model=str(tiny_bert), task="text-classification", tag_scheme="bioes"))
    with pytest.raises(ConfigError, match="invalid lora_r: 16 is a setting of strategy lora"):
        setup(FinetuneConfig(model=str(tiny_bert), task="text-classification", strategy="head-only", lora_r=16))


def test_word_shapes():
    from transferkit.tasks.token_classification.shapes import SHAPES, word_shape

    cases = {"paris": "lower or other", "Paris": "Capitalised", "I": "Capitalised", "PARIS": "ALLCAPS",
             "eBay": "miXed", "McDonald": "miXed", "1999": "digits", "3.5": "digits", "B2B": "letters+digits",
             ",": "punctuation", "--": "punctuation", "": "lower or other", "über": "lower or other",
             "Über": "Capitalised"}
    assert {w: SHAPES[word_shape(w)] for w in cases} == cases


def test_shape_embeddings_start_as_the_pretrained_token_type(tiny_ner_bert):
    from transformers import AutoModelForTokenClassification

    from transferkit.tasks.token_classification.shapes import NUM_SHAPES, add_shape_embeddings, uses_shapes

    model = AutoModelForTokenClassification.from_pretrained(tiny_ner_bert, num_labels=3).eval()
    ids = torch.tensor([[2, 7, 8, 9, 3]])
    with torch.inference_mode():
        before = model(input_ids=ids).logits
        add_shape_embeddings(model)
        after = model(input_ids=ids, token_type_ids=torch.tensor([[0, 1, 2, 6, 0]])).logits
    assert model.config.type_vocab_size == NUM_SHAPES and uses_shapes(model)
    torch.testing.assert_close(before, after)  # training starts from the pretrained model's behaviour


@pytest.mark.slow
def test_word_shapes_are_token_types_a_plain_transformers_caller_can_pass(ner_run):
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    import transferkit as tk
    from transferkit.tasks.token_classification.shapes import NUM_SHAPES, sentence_shapes, uses_shapes

    run_dir, _ = ner_run
    assert json.loads((run_dir / "config.json").read_text())["word_shapes"] is True  # auto: the tokenizer is uncased
    model = AutoModelForTokenClassification.from_pretrained(run_dir / "model").eval()
    assert model.config.type_vocab_size == NUM_SHAPES and uses_shapes(model)
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "model")
    sentences = [["Bob", "Smithson", "lives", "near", "NEWYORK", "."], ["alice", "met", "Carol"]]
    enc = tokenizer(sentences, is_split_into_words=True, padding=True, return_tensors="pt")
    types = torch.tensor([[0 if w is None else int(sentence_shapes(words)[w]) for w in enc.word_ids(i)]
                          for i, words in enumerate(sentences)])
    with torch.inference_mode():
        probs = torch.softmax(model(**{**enc, "token_type_ids": types}).logits, -1).numpy()
    ours = tk.load(run_dir).predict_proba(sentences)
    for i, words in enumerate(sentences):
        first = [enc.word_ids(i).index(w) for w in range(len(words))]
        np.testing.assert_allclose(ours[i], probs[i, first], atol=1e-5)
