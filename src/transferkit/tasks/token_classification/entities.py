"""Per-word outputs -> tags, entities and prediction records (JSON-able), for texts or word lists.

Raw texts were cut into words keeping each word's character span (NerExamples.from_texts), so
an entity maps back onto the original string exactly; pre-split sentences (CoNLL / JSONL
`tokens`) get a tag per token and entities over token ranges.
"""

from __future__ import annotations

import json
from typing import Sequence

import numpy as np

from .conll import NerExamples
from .schemes import entity_chunks


def sentence_record(words: Sequence[str], probs: np.ndarray, label_names: Sequence[str]) -> dict:
    """{tokens, tags, scores, entities over token ranges} of one sentence's (words, tags) probabilities."""
    best = probs.argmax(-1) if len(probs) else np.zeros(0, dtype=np.int64)
    tags = [label_names[i] for i in best]
    scores = probs[np.arange(len(best)), best] if len(best) else np.zeros(0)
    entities = [{"entity": kind, "start_token": s, "end_token": e, "text": " ".join(words[s:e]),
                 "score": round(float(scores[s:e].mean()), 4)} for kind, s, e in entity_chunks(tags)]
    return {"tokens": list(words), "tags": tags, "scores": [round(float(x), 4) for x in scores],
            "entities": entities}


def text_entities(text: str, spans: Sequence[tuple[int, int]], sentence: dict) -> list[dict]:
    """A sentence record's entities as character ranges of the text it was cut from."""
    out = []
    for ent in sentence["entities"]:
        start, end = spans[ent["start_token"]][0], spans[ent["end_token"] - 1][1]
        out.append({"entity": ent["entity"], "start": start, "end": end, "text": text[start:end],
                    "score": ent["score"]})
    return out


def records(examples: NerExamples, word_probs: Sequence[np.ndarray], label_names: Sequence[str]) -> list[dict]:
    """One record per input: {row, text, entities (character spans)} for texts, else
    {line, tokens, tags, scores, entities (token ranges)}."""
    out = []
    for i, (words, probs) in enumerate(zip(examples.tokens, word_probs)):
        sentence = sentence_record(words, probs, label_names)
        if examples.texts is not None:
            out.append({"row": examples.lines[i], "text": examples.texts[i],
                        "entities": text_entities(examples.texts[i], examples.spans[i], sentence)})
        else:
            out.append({"line": examples.lines[i], **sentence})
    return out


def print_entities(rows: Sequence[dict]) -> None:
    """One JSON line per input on stdout: {"text", "entities": [{entity, start, end, text, score}]}."""
    for row in rows:
        doc = {"text": row["text"], "entities": row["entities"]} if "text" in row else row
        print(json.dumps(doc, ensure_ascii=False))
