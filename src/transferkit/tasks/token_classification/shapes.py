"""Word shapes: the capitalisation an uncased tokenizer throws away, given back to the model.

`Paris`, `PARIS` and `paris` are one token to an uncased WordPiece vocabulary, yet casing is the
strongest single cue for named entities. Each word gets one of NUM_SHAPES shape ids, and every
sub-word of the word is fed that id as its *token type*: the encoder's token-type embedding table
is widened to NUM_SHAPES rows (the new rows start as copies of row 0, so training starts from the
pretrained model's exact behaviour) and learns one vector per shape, added to the sub-word's
input embedding. The trained model stays a plain transformers BERT (type_vocab_size = NUM_SHAPES,
`transferkit_word_shapes: true` in its config.json); a caller outside transferkit must pass the
shape ids as token_type_ids to get its full accuracy.
"""

from __future__ import annotations

import numpy as np

# 0 must be "nothing special": it is the pretrained token type every other input gets.
SHAPES = ("lower or other", "Capitalised", "ALLCAPS", "miXed", "digits", "letters+digits", "punctuation")
NUM_SHAPES = len(SHAPES)
CONFIG_KEY = "transferkit_word_shapes"


def word_shape(word: str) -> int:
    letters = [c for c in word if c.isalpha()]
    digits = any(c.isdigit() for c in word)
    if not letters:
        if digits:
            return 4
        return 6 if word and not any(c.isalnum() for c in word) else 0
    if digits:
        return 5
    upper = [c.isupper() for c in letters]
    if all(upper):
        return 2 if len(letters) > 1 else 1
    if upper[0] and not any(upper[1:]):
        return 1
    return 3 if any(upper) else 0


def sentence_shapes(words) -> np.ndarray:
    return np.fromiter((word_shape(w) for w in words), dtype=np.int64, count=len(words))


def is_uncased(tokenizer) -> bool:
    """True when the tokenizer maps `Paris` and `paris` to the same ids (capitalisation is lost)."""
    probe = ["Paris", "PARIS", "paris"]
    ids = [tuple(tokenizer(w, add_special_tokens=False)["input_ids"]) for w in probe]
    return len(set(ids)) == 1


def supports_shapes(model) -> bool:
    """The encoder has a token-type embedding table to widen (BERT, MiniLM, ELECTRA; not DistilBERT/MPNet)."""
    return _type_embeddings(model) is not None


def _type_embeddings(model):
    base = getattr(model, "base_model", model)
    embeddings = getattr(base, "embeddings", None)
    return getattr(embeddings, "token_type_embeddings", None)


def add_shape_embeddings(model) -> None:
    """Widen the token-type table to NUM_SHAPES rows, each a copy of row 0 (the pretrained single-sentence type)."""
    import torch

    table = _type_embeddings(model)
    old = table.weight.data
    if old.shape[0] >= NUM_SHAPES:
        return
    new = torch.nn.Embedding(NUM_SHAPES, old.shape[1], dtype=old.dtype, device=old.device)
    new.weight.data[:] = old[0]  # type 1 ("second sentence") is not a shape: every row starts as type 0
    base = getattr(model, "base_model", model)
    base.embeddings.token_type_embeddings = new
    model.config.type_vocab_size = NUM_SHAPES
    setattr(model.config, CONFIG_KEY, True)
    # Some encoders keep a buffer of zeros used when no token_type_ids are passed: still valid (row 0).


def uses_shapes(model) -> bool:
    return bool(getattr(model.config, CONFIG_KEY, False))
