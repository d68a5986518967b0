"""A model folder's tokenizer.json read by `tokenizers` alone, without transformers (and so without torch).

An exported run predicts with ONNX Runtime, tokenizers and numpy only: importing transformers
would import torch (~1-2 s and hundreds of MB). This class offers the part of the transformers
tokenizer interface transferkit's text code calls (`tokenize`, `subword_ids`, `encode_sentences`,
the word-shape probe): calling it on texts or pre-split words, `word_ids`, the special token ids.
The ids are the same: transformers' fast tokenizers are this same Rust tokenizer
(tests/test_export.py checks it on every text task's tiny model).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

from ..errors import ModelSourceError

SPECIAL = ("cls_token", "sep_token", "pad_token", "unk_token", "mask_token", "bos_token", "eos_token")


class Encoded(dict):
    """What calling the tokenizer returns: {"input_ids": ...} plus the words of each sub-word."""

    def __init__(self, encodings, single: bool):
        ids = [e.ids for e in encodings]
        super().__init__(input_ids=ids[0] if single else ids)
        self._encodings = encodings

    def word_ids(self, i: int = 0) -> list[int | None]:
        return self._encodings[i].word_ids


class FastTokenizer:
    is_fast = True

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        folder = Path(folder)
        path = folder / "tokenizer.json"
        try:
            self.backend_tokenizer = Tokenizer.from_file(str(path))
        except Exception as e:  # noqa: BLE001 - the Rust side raises a bare Exception for a bad file
            raise ModelSourceError(f"{path}: cannot read the tokenizer ({str(e)[:200]}); export the run again") from None
        settings = {}
        for name in ("special_tokens_map.json", "tokenizer_config.json"):
            if (folder / name).is_file():
                settings.update(json.loads((folder / name).read_text(encoding="utf-8")))
        self.model_max_length = int(settings.get("model_max_length") or 512)
        for name in SPECIAL:
            token = settings.get(name)
            token = token.get("content") if isinstance(token, dict) else token
            setattr(self, name, token)
            setattr(self, f"{name}_id", self.backend_tokenizer.token_to_id(token) if token else None)
        added = [t.content for t in self.backend_tokenizer.get_added_tokens_decoder().values() if t.special]
        self.all_special_ids = sorted({i for i in (self.backend_tokenizer.token_to_id(t) for t in added)
                                       if i is not None} |
                                      {getattr(self, f"{n}_id") for n in SPECIAL if getattr(self, f"{n}_id") is not None})

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        return self.backend_tokenizer.num_special_tokens_to_add(pair)

    def __call__(self, texts, text_pairs: Sequence[str] | None = None, *, is_split_into_words: bool = False,
                 add_special_tokens: bool = True, truncation: bool = False, max_length: int | None = None,
                 **_ignored) -> Encoded:
        """Token ids without padding (the only mode transferkit uses); `_ignored`: transformers'
        return_* switches, whose defaults here are what transferkit asks for."""
        single = isinstance(texts, str) or (is_split_into_words and len(texts) > 0 and isinstance(texts[0], str))
        batch = [texts] if single else list(texts)
        tok = self.backend_tokenizer
        tok.no_padding()
        if truncation and max_length:
            tok.enable_truncation(max_length)
        else:
            tok.no_truncation()
        inputs = list(zip(batch, text_pairs)) if text_pairs is not None else batch
        return Encoded(tok.encode_batch(inputs, is_pretokenized=is_split_into_words,
                                        add_special_tokens=add_special_tokens), single)
