"""`predict` and `evaluate` for token-classification runs (TokenClassifierRun's file-level methods).

Prediction output is JSON, one object per text or sentence, because entities are nested lists
that a flat CSV cannot hold: raw texts give entities with character offsets, pre-split
sentences (CoNLL / JSONL `tokens`) give a tag per token plus entities over token ranges.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from .._io import atomic_write_bytes, read_json

TABLE_SUFFIXES = (".csv", ".tsv", ".parquet", ".pq")


def print_entities(texts: Sequence[str], entities: Sequence[list[dict]]) -> None:
    """One JSON line per text on stdout: {"text", "entities": [{entity, start, end, text, score}]}."""
    for text, found in zip(texts, entities):
        print(json.dumps({"text": text, "entities": found}, ensure_ascii=False))


def run_config(predictor) -> dict:
    path = Path(predictor.run_dir or ".") / "config.json"
    return read_json(path) if path.is_file() else {}


def _word_file(path: Path) -> bool:
    """True when the file holds pre-split sentences (CoNLL, or JSONL with a token list)."""
    from .conll import TOKEN_KEYS, is_jsonl

    if is_jsonl(path):
        with open(path, encoding="utf-8", errors="replace") as f:
            first = next((line for line in f if line.strip()), "{}")
        try:
            return any(key in json.loads(first) for key in TOKEN_KEYS)
        except (json.JSONDecodeError, TypeError):
            return False  # read_table reports the bad line
    return Path(path).suffix.lower() not in TABLE_SUFFIXES


def write_ner_predictions(predictor, data: str, output: Path, *, text_column=None, drop_invalid=False) -> int:
    from ..data import load_texts
    from ..tasks.token_classification import read_options
    from .data import load_ner

    data_path = Path(data)
    config = run_config(predictor)
    if data_path.exists() and not _word_file(data_path):
        examples = load_texts(data, text_column=text_column, require_labels=False, drop_invalid=drop_invalid)
        found = predictor.predict_entities(examples.texts)
        rows = [{"row": int(r), "text": t, "entities": e} for r, t, e in zip(examples.rows, examples.texts, found)]
    else:
        sentences = load_ner(data, seed=config.get("seed", 42), require_tags=False, **read_options(config))
        rows = [{"line": line, **doc} for line, doc in zip(sentences.lines, predictor.tag_words(sentences.tokens))]
    atomic_write_bytes(output, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode("utf-8"))
    return len(rows)


def evaluate_ner_data(predictor, data: str) -> dict:
    from ..tasks.token_classification import read_options
    from .data import load_ner

    config = run_config(predictor)
    return predictor.evaluate(load_ner(data, seed=config.get("seed", 42), **read_options(config)))
