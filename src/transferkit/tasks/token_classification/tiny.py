"""A tiny tagging set and a tiny random BERT whose vocabulary splits some names into sub-words:
what the contract tests of token classification run on."""

from __future__ import annotations

import random
from pathlib import Path

PERSONS = ("alice", "bob", "carol", "dave", "erin")
PLACES = ("paris", "london", "berlin", "rome", "oslo")
FILLER = ("the", "met", "in", "went", "to", "and", "visited", "lives", "near", "yesterday", "with", "today")
# Words the tokenizer splits: "newyork" -> new ##york (a LOC), "smithson" -> smith ##son (a PER surname).
SUBWORDS = ("new", "##york", "smith", "##son")


def tagged_sentences(n: int, seed: int) -> tuple[list[list[str]], list[list[str]]]:
    """n sentences mixing filler words, persons (1-2 tokens) and locations, with IOB2 tags."""
    rng = random.Random(seed)
    sentences, tags = [], []
    for _ in range(n):
        words, labels = [], []
        for _ in range(rng.randint(2, 5)):
            roll = rng.random()
            if roll < 0.3:
                person = [rng.choice(PERSONS)] + (["smithson"] if rng.random() < 0.3 else [])
                words += person
                labels += ["B-PER"] + ["I-PER"] * (len(person) - 1)
            elif roll < 0.55:
                words.append(rng.choice(PLACES + ("newyork",)))
                labels.append("B-LOC")
            else:
                k = rng.randint(1, 3)
                words += rng.choices(FILLER, k=k)
                labels += ["O"] * k
        sentences.append(words)
        tags.append(labels)
    return sentences, tags


def tiny_tagger(folder: Path) -> Path:
    """A random 2-layer BERT (hidden 32) with the tagging vocabulary, as a Hugging Face folder."""
    from ...text.tiny import tiny_bert

    return tiny_bert(folder, PERSONS + PLACES + FILLER + SUBWORDS + (".", ","))


def write_conll(path: Path, sentences, tags) -> str:
    """A CoNLL file (token POS tag, -DOCSTART- header) of tagged sentences."""
    lines = ["-DOCSTART- -X- O", ""]
    for words, labels in zip(sentences, tags):
        lines += [f"{w} X {t}" for w, t in zip(words, labels)] + [""]
    Path(path).write_text("\n".join(lines), encoding="utf-8")
    return str(path)
