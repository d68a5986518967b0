"""Entity-level metrics (seqeval, conlleval rules) plus token accuracy.

The keys mirror `transferkit.metrics.classification_metrics` where they mean the same thing, so
reports and early stopping work unchanged: `per_class` holds one row per entity type,
`macro_*` average over entity types, `accuracy` is token accuracy, and `confusion_matrix` is
token-level over entity types (B-/I- folded) plus O. `f1`/`precision`/`recall` are the
entity-level micro averages -- the number papers report for CoNLL-2003.
"""

from __future__ import annotations

from typing import Sequence


def _kind(tag: str) -> str:
    return "O" if tag == "O" else tag[2:]


def ner_metrics(gold: Sequence[Sequence[str]], pred: Sequence[Sequence[str]]) -> dict:
    from seqeval.metrics import classification_report
    from sklearn.metrics import confusion_matrix

    gold, pred = [list(g) for g in gold], [list(p) for p in pred]
    report = classification_report(gold, pred, output_dict=True, zero_division=0)
    tokens_true = [t for s in gold for t in s]
    tokens_pred = [t for s in pred for t in s]
    correct = sum(a == b for a, b in zip(tokens_true, tokens_pred))
    micro, macro, weighted = (report.get(k, {}) for k in ("micro avg", "macro avg", "weighted avg"))
    out = {
        "f1": float(micro.get("f1-score", 0.0)),
        "precision": float(micro.get("precision", 0.0)),
        "recall": float(micro.get("recall", 0.0)),
        "accuracy": correct / max(1, len(tokens_true)),
        "n": len(gold),
        "tokens": len(tokens_true),
        "entities": int(micro.get("support", 0)),
    }
    for name, avg in (("macro", macro), ("weighted", weighted)):
        for key in ("precision", "recall", "f1"):
            out[f"{name}_{key}"] = float(avg.get("f1-score" if key == "f1" else key, 0.0))
    types = sorted(k for k in report if not k.endswith(" avg"))
    out["per_class"] = {k: {"precision": float(report[k]["precision"]), "recall": float(report[k]["recall"]),
                            "f1": float(report[k]["f1-score"]), "support": int(report[k]["support"])}
                        for k in types}
    kinds = sorted({_kind(t) for t in tokens_true + tokens_pred} - {"O"}) + ["O"]
    out["confusion_matrix"] = {
        "labels": kinds,
        "matrix": confusion_matrix([_kind(t) for t in tokens_true], [_kind(t) for t in tokens_pred],
                                   labels=kinds).tolist() if tokens_true else [],
    }
    return out
