"""A trained token classifier in memory: words or raw texts -> tags, entities with character spans.

Raw text is cut into words the way CoNLL-style data is tokenised (runs of letters/digits with
inner apostrophes, dots or hyphens; every other non-space character alone), each word keeping
its character offsets, so entities map back onto the original string exactly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..batching import sorted_batches
from ..errors import TransferkitError
from ..runs import Predictor
from .encode import collate_windows, encode_sentences, word_scores
from .metrics import ner_metrics
from .schemes import entity_chunks

_WORD = re.compile(r"\w+(?:['’.\-]\w+)*|\S", re.UNICODE)


def split_words(text: str) -> list[tuple[str, int, int]]:
    """(word, start, end) of every word of `text`."""
    return [(m.group(), m.start(), m.end()) for m in _WORD.finditer(text)]


class TokenClassifierRun(Predictor):
    """Predictions of a token-classification model (fp32, longest windows first)."""

    task = "token-classification"
    # Entities are nested lists a flat table cannot hold: predictions are JSON lines.
    prediction_suffix = ".predictions.jsonl"

    def __init__(self, model, tokenizer, max_length: int, batch_size: int, run_dir: Path | None = None,
                 stride: int | None = None):
        import torch

        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_length, self.batch_size, self.run_dir, self.stride = max_length, batch_size, run_dir, stride
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        id2label = model.config.id2label
        self.label_names = [id2label[i] for i in range(len(id2label))]

    def word_probs(self, sentences: Sequence[Sequence[str]]) -> list[np.ndarray]:
        """Per sentence, a (words, tags) array of probabilities."""
        import torch

        if not sentences:
            return []
        windows = encode_sentences(self.tokenizer, sentences, None, None, self.max_length, self.stride)
        outputs = np.zeros((len(windows), int(windows.lengths.max()), len(self.label_names)), dtype=np.float32)
        self.model.to(self.device)
        with torch.inference_mode():
            for batch in sorted_batches(windows.lengths, self.batch_size):
                inputs = collate_windows(windows, batch, self.tokenizer.pad_token_id or 0)
                logits = self.model(input_ids=inputs["input_ids"].to(self.device),
                                    attention_mask=inputs["attention_mask"].to(self.device)).logits
                outputs[batch, :logits.shape[1]] = logits.float().cpu().numpy()
        from scipy.special import softmax

        return [softmax(s, axis=-1) for s in word_scores(windows, outputs)]

    def predict_tags(self, sentences: Sequence[Sequence[str]]) -> list[list[str]]:
        return [[self.label_names[i] for i in p.argmax(-1)] for p in self.word_probs(sentences)]

    def tag_words(self, sentences: Sequence[Sequence[str]]) -> list[dict]:
        """Per sentence: tags, their probabilities and entities as word ranges."""
        out = []
        for words, probs in zip(sentences, self.word_probs(sentences)):
            best = probs.argmax(-1)
            tags = [self.label_names[i] for i in best]
            scores = probs[np.arange(len(best)), best]
            entities = [{"entity": kind, "start_token": s, "end_token": e, "text": " ".join(words[s:e]),
                         "score": round(float(scores[s:e].mean()), 4)} for kind, s, e in entity_chunks(tags)]
            out.append({"tokens": list(words), "tags": tags, "scores": [round(float(x), 4) for x in scores],
                        "entities": entities})
        return out

    def predict_entities(self, texts: Sequence[str]) -> list[list[dict]]:
        """Per text: entities {entity, start, end, text, score}; start/end are character offsets."""
        spans = [split_words(t) for t in texts]
        nonempty = [i for i, s in enumerate(spans) if s]
        tagged = self.tag_words([[w for w, _, _ in spans[i]] for i in nonempty])
        result: list[list[dict]] = [[] for _ in texts]
        for i, doc in zip(nonempty, tagged):
            for ent in doc["entities"]:
                start, end = spans[i][ent["start_token"]][1], spans[i][ent["end_token"] - 1][2]
                result[i].append({"entity": ent["entity"], "start": start, "end": end, "text": texts[i][start:end],
                                  "score": ent["score"]})
        return result

    def predict(self, texts: Sequence[str]) -> list[list[dict]]:
        return self.predict_entities(texts)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        raise TransferkitError("a token-classification run predicts a tag per word, not one class per text; "
                               "use predict_entities(texts) or predict_tags(word lists)")

    def evaluate(self, examples) -> dict:
        if not examples.tags:
            raise TransferkitError(f"{examples.source} has no tags; evaluation needs a tag column")
        # Types this run never saw simply count as missed entities.
        return ner_metrics(examples.tags, self.predict_tags(examples.tokens))

    # `transferkit predict/evaluate` (see runs.Predictor): entities out, entity-level metrics.

    def show_predictions(self, texts: Sequence[str]) -> list[list[dict]]:
        from .outputs import print_entities

        entities = self.predict_entities(list(texts))
        print_entities(texts, entities)
        return entities

    def write_predictions(self, data: str, output: Path, *, text_column=None, drop_invalid=False) -> int:
        from .outputs import write_ner_predictions

        return write_ner_predictions(self, data, output, text_column=text_column, drop_invalid=drop_invalid)

    def evaluate_data(self, data: str, *, text_column=None, label_column=None, drop_invalid=False) -> dict:
        from .outputs import evaluate_ner_data

        return evaluate_ner_data(self, data)
