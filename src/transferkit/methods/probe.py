"""Linear probe: frozen encoder features + a logistic-regression head, for any task with a probe.

The quickest honest baseline for a pretrained model on a labelled set: the task supplies a
frozen feature encoder (pooled text embeddings, pooled CNN features), every example is
embedded once, standardised, and scikit-learn's LogisticRegression is fitted with C chosen on
the validation split (or by 5-fold cross-validation when there is none); metrics on
validation and test are the task's.

The head is saved as safetensors (scaler mean/scale, coef, intercept) and applied in NumPy, so
loading a run never unpickles anything.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from .._io import atomic_dir, atomic_write_json
from ..runs import (
    RUN_KINDS,
    Predictor,
    check_output_dir,
    headline_split,
    public_metrics,
    read_labels,
    write_evaluation,
    write_metrics,
)
from ..settings import refuse_foreign
from .config import ProbeConfig, check_family, record_detected, resolve_task, saved_settings
from .finetune import inference_task
from .report import write_report

DEFAULT_CS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


class LinearHead:
    """Standardise then a (multinomial or binary) logistic-regression layer, in NumPy."""

    def __init__(self, mean: np.ndarray, scale: np.ndarray, coef: np.ndarray, intercept: np.ndarray):
        self.mean, self.scale, self.coef, self.intercept = mean, scale, coef, intercept

    @classmethod
    def fit(cls, X: np.ndarray, y: np.ndarray, C: float, seed: int) -> LinearHead:
        from sklearn.linear_model import LogisticRegression

        mean, scale = X.mean(0), X.std(0) + 1e-6
        clf = LogisticRegression(C=C, max_iter=2000, random_state=seed).fit((X - mean) / scale, y)
        return cls(mean, scale, clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        z = ((X - self.mean) / self.scale) @ self.coef.T + self.intercept
        if z.shape[1] == 1:  # binary: sklearn keeps one row of weights for the positive class
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], axis=1)
        from ..outputs.metrics import softmax

        return softmax(z, axis=1)

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        # safetensors writes raw buffers: sklearn's coef_ is Fortran-ordered, so force C order.
        tensors = {"mean": self.mean, "scale": self.scale, "coef": self.coef, "intercept": self.intercept}
        save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}, str(path))

    @classmethod
    def load(cls, path: Path) -> LinearHead:
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


def log_probabilities(head: LinearHead, features: np.ndarray) -> np.ndarray:
    """The head's outputs as logits (log-probabilities), what every task's outputs are."""
    return np.log(np.clip(head.predict_proba(features), 1e-12, None))


class ProbeScorer:
    """Log-probabilities of the linear head on the frozen encoder's features."""

    def __init__(self, encoder, head: LinearHead):
        self.encoder, self.head = encoder, head

    def __call__(self, dataset) -> np.ndarray:
        return log_probabilities(self.head, self.encoder.features(dataset))


class ProbePredictor(Predictor):
    """A trained probe: the task, its frozen encoder and the linear head (save() writes the run)."""

    def __init__(self, task, encoder, head: LinearHead, config: dict, metrics: dict | None = None,
                 run_dir: Path | None = None):
        super().__init__(task, ProbeScorer(encoder, head), run_dir, config)
        self.encoder, self.head, self.metrics = encoder, head, metrics or {}
        self.review: list[dict] | None = None  # the headline split's examples with predictions (evaluation.jsonl)

    def save(self, output: str | os.PathLike, overwrite: bool = False) -> Path:
        output = check_output_dir(output, overwrite)
        with atomic_dir(output, overwrite=True) as tmp:
            atomic_write_json(tmp / "config.json", self.config)
            atomic_write_json(tmp / "labels.json", {"names": self.label_names})
            self.head.save(tmp / "head.safetensors")
            if self.metrics:
                write_metrics(tmp, self.metrics)
            write_evaluation(tmp, self.review)
        self.run_dir = output
        return output


ProbeRun = ProbePredictor  # the name of earlier releases


@RUN_KINDS.register("probe")
def load_probe(run_dir: Path, config: dict) -> ProbePredictor:
    from ..tasks import TASKS

    cfg = saved_settings(config, ProbeConfig, cache_tokens=False)
    task = TASKS.get(cfg.task)(cfg)
    task.label_names = read_labels(run_dir)
    encoder = task.feature_encoder(cfg.model)
    return ProbePredictor(task, encoder, LinearHead.load(Path(run_dir) / "head.safetensors"), config, run_dir=Path(run_dir))


def probe(model: str, train, validation=None, test=None, *, output: str | os.PathLike | None = None,
          overwrite: bool = False, task: str | None = None, text_column: str | None = None,
          label_column: str | None = None, image_column: str | None = None, pooling: str = "mean",
          max_length: int = 256, batch_size: int = 64, Cs: Sequence[float] = DEFAULT_CS, seed: int = 42,
          drop_invalid: bool = False, precision: str = "fp32", image_size: int | None = None,
          min_class_count: int | None = None, report: bool = True) -> ProbePredictor:
    """Fit a probe; save it to `output` when given. Returns the run (predict/evaluate/save).

    The task defaults to the model family's (text classification for text encoders, image
    classification for image backbones); settings a task does not read are refused.
    """
    from ..tasks import TASKS

    given = {"model": model, "task": task, "output": str(output) if output is not None else None,
             "overwrite": overwrite, "text_column": text_column, "label_column": label_column,
             "image_column": image_column, "pooling": pooling, "batch_size": batch_size, "Cs": list(Cs), "seed": seed,
             "drop_invalid": drop_invalid, "precision": precision, "image_size": image_size,
             "min_class_count": min_class_count, "report": report,
             "train": str(train) if isinstance(train, (str, os.PathLike)) else None,
             "validation": str(validation) if isinstance(validation, (str, os.PathLike)) else None,
             "test": str(test) if isinstance(test, (str, os.PathLike)) else None}
    cfg = ProbeConfig.build(given)
    if output is not None:
        check_output_dir(output, overwrite)  # fail before any work
    runner = TASKS.get(resolve_task(cfg, probe=True))(cfg)
    check_family(model, runner)
    if "max_length" in runner.DataOptions.model_fields:
        cfg.max_length = max_length  # the probe's own default (256) differs from fine-tuning's
    refuse_foreign(cfg, f"task {cfg.task}")
    data = runner.load_data(train, validation, test)
    record_detected(cfg, data)
    encoder = runner.feature_encoder(model)
    t0 = time.perf_counter()
    encoded = {name: runner.encode(ex) for name in ("train", "validation", "test")
               if (ex := getattr(data, name)) is not None}
    feats = {name: encoder.features(ds, description=f"embedding {name}") for name, ds in encoded.items()}
    embed_s = time.perf_counter() - t0
    labels = {name: ds.labels for name, ds in encoded.items()}
    best_c, scores = choose_c(feats["train"], labels["train"], feats.get("validation"), labels.get("validation"),
                              cfg.Cs, seed)
    head = LinearHead.fit(feats["train"], labels["train"], best_c, seed)
    doc = {"kind": "probe", **cfg.to_json(), "C": best_c, "C_scores": scores, "split": data.split_info,
           "embed_seconds": round(embed_s, 2)}
    if getattr(encoder, "input_spec", None) is not None:
        doc["input_spec"] = encoder.input_spec.to_dict()
    run = ProbePredictor(runner, encoder, head, doc)
    outputs = {name: log_probabilities(head, feats[name]) for name in ("validation", "test") if name in encoded}
    for name, out in outputs.items():
        run.metrics[name] = public_metrics(runner.evaluate(encoded[name], out))
    if (split := headline_split(outputs)) is not None:
        run.review = runner.review_rows(getattr(data, split), encoded[split], outputs[split])
    if output is not None:
        run.save(output, overwrite=overwrite)
        if report:
            write_report(output)
    run.task = inference_task(runner, cfg)
    return run
