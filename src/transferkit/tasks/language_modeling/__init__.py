"""Pretraining tasks: masked-language modelling (optionally with next-sentence prediction) for
encoders, next-token prediction for decoders, on unlabelled text.

    corpus.py    text files / tables / datasets -> documents -> token ids on disk (streamed)
    examples.py  packed blocks, lines, sentence pairs (what a batch is cut from)
    masking.py   BERT's 80/10/10 masking, token or whole-word
    base.py      the shared task: data, tokenizer, model, from-scratch configs, metrics
    masked.py    masked-lm (mlm, mlm+nsp)
    causal.py    causal-lm (clm)

`transferkit pretrain` (methods/pretrain.py) runs them through the same engine as fine-tuning.
"""

from .causal import CausalLM
from .masked import MaskedLM

__all__ = ["MaskedLM", "CausalLM"]
