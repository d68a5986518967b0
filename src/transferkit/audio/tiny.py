"""Tiny learnable audio: what the contract tests of audio tasks run on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000


def tone_clips(n: int, seed: int, seconds: float = 0.5) -> tuple[list[np.ndarray], np.ndarray]:
    """Low (300 Hz) vs high (3 kHz) noisy tones of random length: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    waves, labels = [], []
    for i in range(n):
        high = i % 2
        t = np.arange(int(RATE * seconds * rng.uniform(0.6, 1.0))) / RATE
        wave = 0.5 * np.sin(2 * np.pi * (3000 if high else 300) * t) + 0.05 * rng.standard_normal(len(t))
        waves.append(wave.astype(np.float32))
        labels.append("high" if high else "low")
    return waves, np.array(labels)


def write_audio_folder(folder: Path, waves, labels, rate: int = RATE) -> str:
    """One sub-folder of WAV files per class."""
    import soundfile

    for i, (wave, label) in enumerate(zip(waves, labels)):
        (Path(folder) / str(label)).mkdir(parents=True, exist_ok=True)
        soundfile.write(str(Path(folder) / str(label) / f"{i}.wav"), wave, rate)
    return str(folder)


def write_transcribed_folder(folder: Path, waves, labels, rate: int = RATE) -> str:
    """One WAV file per clip with its transcript beside it ("high tone" / "low tone")."""
    import soundfile

    Path(folder).mkdir(parents=True, exist_ok=True)
    for i, (wave, label) in enumerate(zip(waves, labels)):
        soundfile.write(str(Path(folder) / f"{i}.wav"), wave, rate)
        (Path(folder) / f"{i}.txt").write_text(f"{label} tone\n", encoding="utf-8")
    return str(folder)


SPECIAL_TOKENS = ("<|endoftext|>", "<|startoftranscript|>", "<|notimestamps|>")


def tiny_byte_tokenizer(folder: Path) -> int:
    """A byte-level tokenizer without merges (one token per UTF-8 byte) plus Whisper's special
    tokens, saved to `folder`; returns its vocabulary size."""
    import json

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    tokenizer = Tokenizer(models.BPE(vocab={c: i for i, c in enumerate(alphabet)}, merges=[]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))
    Path(folder).mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(Path(folder) / "tokenizer.json"))
    (Path(folder) / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": SPECIAL_TOKENS[0], "pad_token": SPECIAL_TOKENS[0],
         "bos_token": SPECIAL_TOKENS[0], "unk_token": SPECIAL_TOKENS[0]}), encoding="utf-8")
    return tokenizer.get_vocab_size()


def tiny_whisper(folder: Path) -> str:
    """A randomly initialised Whisper of a few thousand parameters (80 mel bins, 2 s window) with
    a byte-level tokenizer."""
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    vocab = tiny_byte_tokenizer(folder)
    eos, sot = vocab - len(SPECIAL_TOKENS), vocab - len(SPECIAL_TOKENS) + 1
    config = WhisperConfig(vocab_size=vocab, num_mel_bins=80, d_model=16, encoder_layers=2, decoder_layers=1,
                           encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
                           decoder_ffn_dim=32, max_source_positions=100, max_target_positions=32,
                           classifier_proj_size=16, pad_token_id=eos, bos_token_id=eos, eos_token_id=eos,
                           decoder_start_token_id=sot)
    WhisperForConditionalGeneration(config).save_pretrained(folder)
    WhisperFeatureExtractor(feature_size=80, chunk_length=2).save_pretrained(folder)
    return str(folder)
