"""Tiny random text models and learnable data: what the contract tests of text tasks run on.

A 2-layer BERT with hidden size 32 and its own WordPiece vocabulary trains a few steps in well
under a second on a CPU, so every registered task and strategy is exercised end to end.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
GOOD = ("good", "great", "excellent", "wonderful", "fun", "lovely")
BAD = ("bad", "awful", "terrible", "boring", "poor", "dull")
FILLER = ("the", "movie", "film", "was", "is", "a", "very", "and", "plot", "acting", "really", "story",
          "this", "it", "quite", "so", "ending", "music")


def sentiment_sentences(n: int, seed: int) -> tuple[list[str], list[str]]:
    """n sentences of 3-12 filler words plus one or two sentiment words; label = their polarity."""
    rng = random.Random(seed)
    texts, labels = [], []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = rng.choices(FILLER, k=rng.randint(3, 12))
        for _ in range(rng.randint(1, 2)):
            words.insert(rng.randrange(len(words) + 1), rng.choice(GOOD if label == "pos" else BAD))
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def tiny_bert(folder: Path, words: Sequence[str] = GOOD + BAD + FILLER, *, hidden: int = 32, layers: int = 2,
              seed: int = 0) -> Path:
    """A random BERT (2 heads, max 64 positions) with a WordPiece vocabulary of `words`, saved
    as a Hugging Face folder with its tokenizer."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizer

    vocab = {token: i for i, token in enumerate(dict.fromkeys([*SPECIALS, *words]))}
    tokenizer = BertTokenizer(vocab=vocab)
    config = BertConfig(vocab_size=len(vocab), hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64, pad_token_id=0)
    torch.manual_seed(seed)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)


def write_csv(path: Path, texts: Sequence[str], labels: Sequence[str]) -> str:
    """A text,label CSV of the given rows."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows(zip(texts, labels))
    return str(path)


def tiny_gpt2(folder: Path, words: Sequence[str] = GOOD + BAD + FILLER, *, hidden: int = 32, layers: int = 2,
              seed: int = 0) -> Path:
    """A random GPT-2 (2 heads, 64 positions) with a byte-level BPE vocabulary trained on `words`,
    saved as a Hugging Face folder with its tokenizer (<|endoftext|> ends and pads texts)."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    end = "<|endoftext|>"
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=[end],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    backend.train_from_iterator([" ".join(words)] * 4 + list(words), trainer)
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=end, eos_token=end, pad_token=end,
                                        unk_token=end)
    config = GPT2Config(vocab_size=len(tokenizer), n_positions=64, n_embd=hidden, n_layer=layers, n_head=2,
                        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id,
                        pad_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return Path(folder)
