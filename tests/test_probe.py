"""Probe: the NumPy head matches scikit-learn; end to end on a real packaged model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from transferkit.methods.probe import LinearHead, choose_c


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_head_matches_sklearn(n_classes):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    y = (X[:, 0] * 2 + X[:, 1] > 0).astype(int) + (2 * (X[:, 2] > 0) if n_classes == 4 else 0)
    head = LinearHead.fit(X, y, C=0.5, seed=0)
    ref = LogisticRegression(C=0.5, max_iter=2000, random_state=0).fit((X - X.mean(0)) / (X.std(0) + 1e-6), y)
    np.testing.assert_allclose(head.predict_proba(X), ref.predict_proba((X - X.mean(0)) / (X.std(0) + 1e-6)),
                               atol=1e-5)


def test_linear_head_roundtrip(tmp_path):
    rng = np.random.default_rng(1)
    X, y = rng.normal(size=(60, 5)), rng.integers(0, 3, 60)
    head = LinearHead.fit(X, y, 1.0, 0)
    head.save(tmp_path / "h.safetensors")
    np.testing.assert_allclose(LinearHead.load(tmp_path / "h.safetensors").predict_proba(X), head.predict_proba(X),
                               atol=1e-6)


def test_choose_c_prefers_validation_best_and_cv_without_validation():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 10))
    y = (X[:, 0] > 0).astype(int)
    best, scores = choose_c(X[:200], y[:200], X[200:], y[200:], (0.01, 1.0), 0)
    assert best in scores and scores[best] == max(scores.values()) and scores[best] > 0.9
    best_cv, scores_cv = choose_c(X, y, None, None, (0.01, 1.0), 0)
    assert set(scores_cv) == {0.01, 1.0} and scores_cv[best_cv] > 0.9


@pytest.fixture(scope="module")
def small_reviews(tmp_path_factory, pulled_home):
    """3000 real Rotten Tomatoes snippets (a packaged dataset), as a CSV."""
    import pandas as pd

    from transferkit.data import pull_dataset

    df = pd.read_csv(pull_dataset("rotten_tomatoes")).sample(n=3000, random_state=0)
    path = tmp_path_factory.mktemp("rt") / "reviews.csv"
    df.to_csv(path, index=False)
    return path


def test_probe_real_model_end_to_end(tmp_path, small_reviews, pulled_home):
    import transferkit as tk
    from transferkit.text import load_texts

    out = tmp_path / "run"
    run = tk.probe("minilm-l6", str(small_reviews), output=out, batch_size=32)
    held_out = [run.metrics[s] for s in ("validation", "test")]
    accuracy = sum(m["accuracy"] * m["n"] for m in held_out) / sum(m["n"] for m in held_out)
    # Majority class: 58%; the probe on all 10k training snippets reaches 77%. 2,400 training examples and 600
    # held out (standard error ~2 pt) must clear 68% -- a broken pipeline lands near 58%.
    assert accuracy > 0.68, held_out
    saved = json.loads((out / "metrics.json").read_text())
    for key in ("accuracy", "macro_f1", "per_class", "confusion_matrix"):
        assert key in saved
    assert saved["split"] == "test" and set(saved["by_split"]) == {"validation", "test"}

    loaded = tk.load(out)
    texts = ["A gorgeous, witty, seductive movie.", "Dull, lifeless and far too long."]
    np.testing.assert_allclose(loaded.predict_proba(texts), run.predict_proba(texts), atol=1e-5)
    assert loaded.predict(texts) == ["positive", "negative"]

    examples = load_texts(str(small_reviews), labels=tk.data.LabelMap(loaded.label_names))
    metrics = loaded.evaluate(examples)
    assert metrics["n"] == 3000 and metrics["accuracy"] > 0.72


def test_probe_refuses_existing_output_before_work(tmp_path, tiny_csvs):
    from transferkit.errors import TransferkitError
    from transferkit.methods.probe import probe

    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(TransferkitError, match="already exists and is not a transferkit run"):
        probe("no-such-model-needed", str(tiny_csvs["train"]), output=out, overwrite=True)
    assert (out / "keep.txt").read_text() == "precious"
