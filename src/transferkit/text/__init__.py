"""Text: labelled texts from tables, tokenisation once, batches, the frozen encoder, HF models.

| module | what |
| --- | --- |
| `examples.py` | `TextExamples`, `load_texts` / `load_text_splits`, the table reader |
| `tokens.py` | tokenise once (cached on disk), flat token storage, per-batch padding |
| `augment.py` | token deletion/swap augmentation, augmented copies for transfer sets |
| `encoder.py` | `TextEncoder`: pooled sentence embeddings through the engine's inference loop |
| `hf.py` | Hugging Face encoders with a new head: build, save, reload, forward |

Importing this package does not load torch or transformers.
"""

from .encoder import POOLINGS, TextEncoder
from .examples import (
           TEXT_COLUMNS,
           TextExamples,
           TextSplits,
           TextTableReader,
           examples_from_frame,
           load_text_splits,
           load_texts,
)

__all__ = ["TextExamples", "TextSplits", "TextTableReader", "TEXT_COLUMNS", "load_texts", "load_text_splits",
           "examples_from_frame", "TextEncoder", "POOLINGS"]
