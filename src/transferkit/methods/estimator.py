"""`TextClassifier`: fine-tuning as a scikit-learn estimator (fit / predict / predict_proba / score).

    clf = TextClassifier("minilm-l6", epochs=2).fit(texts, labels)
    clf.score(test_texts, test_labels)

The constructor only stores parameters, so `clone`, `get_params` and grid search work.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import TransferkitError
from .finetune import finetune

try:  # scikit-learn is a dependency; the guard keeps this module importable in minimal installs
    from sklearn.base import BaseEstimator, ClassifierMixin
except ImportError:  # pragma: no cover
    BaseEstimator, ClassifierMixin = object, object


class TextClassifier(ClassifierMixin, BaseEstimator):
    """scikit-learn estimator that fine-tunes a pretrained encoder on texts.

    The constructor only stores parameters (so `clone` and grid search work); `settings` takes
    any further FinetuneConfig field, e.g. {"weight_decay": 0.1, "early_stopping_patience": 2}.
    epochs, batch_size, lr: None takes finetune's defaults for the task, model and data size.
    """

    def __init__(self, model: str = "minilm-l6", *, strategy: str = "full", epochs: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, max_length: int = 128, seed: int = 42,
                 output: str | None = None, settings: dict | None = None):
        self.model = model
        self.strategy = strategy
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.max_length = max_length
        self.seed = seed
        self.output = output
        self.settings = settings

    def fit(self, X: Sequence[str], y, eval_set: tuple[Sequence[str], Any] | None = None) -> TextClassifier:
        from ..data import LabelMap

        _check_texts(X, "fit(X, y)")
        y = np.asarray(y)
        if len(X) == 0 or len(np.unique(y)) < 2:
            raise TransferkitError(f"fit(X, y): {len(X)} texts of {len(np.unique(y))} class(es); give labelled texts "
                                   "of at least two classes")
        self.classes_ = np.unique(y)
        labels = LabelMap([str(c) for c in self.classes_])
        train = self._examples(X, y, labels, "fit(X, y)")
        validation = self._examples(*eval_set, labels, "eval_set") if eval_set is not None else None
        settings = {"progress": False, **(self.settings or {}),
                    "strategy": self.strategy, "epochs": self.epochs, "batch_size": self.batch_size,
                    "lr": self.lr, "max_length": self.max_length, "seed": self.seed}
        if self.output is not None:
            settings["overwrite"] = settings.get("overwrite", True)
        self.run_ = finetune(self.model, train, validation, output=self.output, **settings)
        return self

    def _examples(self, X, y, labels, source: str):
        from ..text import TextExamples

        y = np.asarray(y)
        unknown = sorted(set(y.tolist()) - set(self.classes_.tolist()), key=str)
        if unknown:
            raise TransferkitError(f"{source}: labels {unknown[:5]} are not among the training classes")
        texts = _check_texts(X, source)
        if len(texts) != len(y):
            raise TransferkitError(f"{source}: {len(texts)} texts but {len(y)} labels")
        ids = np.searchsorted(self.classes_, y).astype(np.int64)
        return TextExamples(texts, ids, np.arange(1, len(texts) + 1), source, labels)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "run_")  # NotFittedError, as for any scikit-learn estimator
        return self.run_.predict_proba(_check_texts(X, "X"))

    def predict(self, X: Sequence[str]) -> np.ndarray:
        probabilities = self.predict_proba(X)
        return self.classes_[probabilities.argmax(axis=1)]


def _check_texts(X, source: str) -> list[str]:
    from ..text.examples import check_texts

    if isinstance(X, np.ndarray):
        X = X.tolist()
    return check_texts(X, source=source)
