"""Linear probe: frozen encoder features + a logistic-regression head.

The quickest honest baseline for a pretrained model on a labelled set: embed every text once,
standardise, fit scikit-learn's LogisticRegression with C chosen on the validation split (or by
5-fold cross-validation when there is none), report metrics on validation and test.

The head is saved as safetensors (scaler mean/scale, coef, intercept) and applied in NumPy, so
loading a run never unpickles anything.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ._io import atomic_dir, atomic_write_json, read_json
from .features import TextEncoder
from .runs import Predictor, check_output_dir, register_run_kind, write_metrics

DEFAULT_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


class LinearHead:
    """Standardise then a (multinomial or binary) logistic-regression layer, in NumPy."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray):
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, intercept

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, C: float, seed: int) -> "LinearHead":
        from sklearn.linear_model import LogisticRegression

        mean, scale = X.mean(0), X.std(0) + 1e-6
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit((X - mean) / scale, y)
        return cls(mean, scale, clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = ((X - self.mean) / self.scale) @ self.coef.T + self.intercept
        if z.shape[1] == 1:  # binary: sklearn keeps one row of weights for the positive class
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], axis=1)
        from scipy.special import softmax

        return softmax(z, axis=1)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        # safetensors writes raw buffers: sklearn's coef_ is Fortran-ordered, so force C order.
        tensors = {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> "LinearHead":
        from safetensors.numpy import load_file

        t = load_file(str(path))
        return cls(t["mean"], t["scale"], t["coef"], t["intercept"])


def choose_c(X_tr, y_tr, X_val, y_val, Cs: Sequence[float], seed: int) -> tuple[float, dict[float, float]]:
    """C with the best validation accuracy; without validation, 5-fold CV on train."""
    def accuracy(C, X_fit, y_fit, X_eval, y_eval) -> float:
        return float((LinearHead.fit(X_fit, y_fit, C, seed).predict_proba(X_eval).argmax(1) == y_eval).mean())

    if X_val is not None:
        scores = {float(C): accuracy(C, X_tr, y_tr, X_val, y_val) for C in Cs}
    else:
        from sklearn.model_selection import StratifiedKFold

        folds = list(StratifiedKFold(n_splits=5, shuffle=True, random_state=seed).split(X_tr, y_tr))
        scores = {float(C): float(np.mean([accuracy(C, X_tr[a], y_tr[a], X_tr[b], y_tr[b]) for a, b in folds]))
                  for C in Cs}
    best = max(scores, key=lambda c: (scores[c], -abs(np.log10(c))))  # ties: the C closest to 1
    return best, scores


class ProbeRun(Predictor):
    """A trained probe: encoder reference + linear head + label names."""

    def __init__(self, encoder: TextEncoder, head: LinearHead, label_names: list[str], config: dict,
                 metrics: dict | None = None):
        self.encoder, self.head, self.label_names = encoder, head, list(label_names)
        self.config, self.metrics = config, metrics or {}

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.head.predict_proba(self.encoder.encode(list(texts), description="predicting"))

    def save(self, output: str | os.PathLike, overwrite: bool = False) -> Path:
        output = check_output_dir(output, overwrite)
        with atomic_dir(output, overwrite=True) as tmp:
            atomic_write_json(tmp / "config.json", self.config)
            atomic_write_json(tmp / "labels.json", {"names": self.label_names})
            self.head.save(tmp / "head.safetensors")
            if self.metrics:
                write_metrics(tmp, self.metrics)
        self.run_dir = output
        return output


@register_run_kind("probe")
def load(run_dir: Path) -> ProbeRun:
    config = read_json(run_dir / "config.json")
    if config.get("task") == "image-classification":
        from .vision.runs import load_probe

        return load_probe(run_dir, config)
    enc = TextEncoder.from_ref(config["model"], pooling=config["pooling"], max_length=config["max_length"],
                               batch_size=config["batch_size"])
    return ProbeRun(enc, LinearHead.load(run_dir / "head.safetensors"), read_json(run_dir / "labels.json")["names"],
                    config)


def probe(model: str, train: str, validation: str | None = None, test: str | None = None, *,
          output: str | os.PathLike | None = None, overwrite: bool = False, text_column: str | None = None,
          label_column: str | None = None, pooling: str = "mean", max_length: int = 256, batch_size: int = 64,
          Cs: Sequence[float] = DEFAULT_CS, seed: int = 42, drop_invalid: bool = False,
          precision: str = "fp32", image_size: int | None = None) -> ProbeRun:
    """Fit a probe; save it to `output` when given. Returns the run (predict/evaluate/save).

    An image backbone (mobilenet-v2, timm:NAME, ...) probes images instead: see vision.runs.probe_images.
    """
    from .data import load_text_splits
    from .vision.registry import is_backbone

    if is_backbone(model):
        from .vision.runs import probe_images

        return probe_images(model, train, validation, test, output=output, overwrite=overwrite,
                            image_size=image_size, batch_size=batch_size, Cs=Cs, seed=seed,
                            path_column=text_column, label_column=label_column)

    if output is not None:
        check_output_dir(output, overwrite)  # fail before any work
    splits = load_text_splits(train, validation, test, text_column=text_column, label_column=label_column,
                              seed=seed, drop_invalid=drop_invalid)
    encoder = TextEncoder.from_ref(model, pooling=pooling, max_length=max_length, batch_size=batch_size,
                                   precision=precision)
    t0 = time.perf_counter()
    feats = {name: encoder.encode(ex.texts, description=f"embedding {name}")
             for name, ex in (("train", splits.train), ("validation", splits.validation), ("test", splits.test))
             if ex is not None}
    embed_s = time.perf_counter() - t0
    y_tr = splits.train.labels
    X_val = feats.get("validation")
    best_c, scores = choose_c(feats["train"], y_tr, X_val, splits.validation.labels if X_val is not None else None,
                              Cs, seed)
    head = LinearHead.fit(feats["train"], y_tr, best_c, seed)
    config = {"kind": "probe", "task": "text-classification", "model": model, "pooling": pooling,
              "max_length": max_length, "batch_size": batch_size, "precision": precision, "seed": seed,
              "C": best_c, "C_scores": scores, "Cs": list(Cs), "train": str(train), "validation": validation,
              "test": test, "text_column": splits.text_column, "label_column": splits.label_column,
              "split": splits.split_info, "embed_seconds": round(embed_s, 2)}
    run = ProbeRun(encoder, head, splits.labels.names, config)
    from .metrics import classification_metrics

    for name in ("validation", "test"):
        ex = getattr(splits, name)
        if ex is not None:
            run.metrics[name] = classification_metrics(ex.labels, head.predict_proba(feats[name]).argmax(1),
                                                       run.label_names)
    if output is not None:
        run.save(output, overwrite=overwrite)
    return run
