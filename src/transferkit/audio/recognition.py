"""Speech recognition models: Whisper (an encoder-decoder that writes text token by token) and
CTC encoders (Wav2Vec2, HuBERT, WavLM, ...: one character per frame), behind one small interface.

    recognizer = recognizer_for(folder, texts)    # Whisper, or CTC with a vocabulary for `texts`
    batch = recognizer.targets(batch, token_ids)  # teacher forcing (Whisper) / CTC labels
    loss = recognizer.loss(model, batch, label_smoothing)
    out = recognizer.transcribe(model, batch)     # [B, T, 2]: token id + 1 (0: none), its log-prob
    texts = recognizer.decode(out)

Whisper is decoded greedily here, with its key/value cache, rather than through
`model.generate`: that keeps the prompt (start, language, task, no-timestamps) and the token
suppression in one visible place and works the same for a tiny random test model. A CTC model
without a tokenizer of its own (a pretrained-only Wav2Vec2) gets a character vocabulary built
from the training transcripts, as Hugging Face's fine-tuning recipe does.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import ConfigError, DataError
from .models import is_whisper

TOKENS_PER_SECOND = 15  # a generous bound on speech (fast English is ~5 tokens/s; byte-level CJK ~10)
MIN_NEW_TOKENS = 10
# SpecAugment as the wav2vec 2.0 / Whisper fine-tuning recipes set it (transformers applies it in training mode).
SPEC_AUGMENT = {"apply_spec_augment": True, "mask_time_prob": 0.05, "mask_time_length": 10, "mask_feature_prob": 0.05,
                "mask_feature_length": 10}
_LANGUAGE_TOKEN = re.compile(r"^<\|([a-z]{2,3}|haw|yue)\|>$")
_NOT_LANGUAGES = {"nocaptions", "nospeech", "translate", "transcribe", "endoftext", "notimestamps"}


def load_tokenizer(folder: Path):
    from transformers import AutoTokenizer

    from ..sources.hf_models import loading

    with loading(Path(folder), "tokenizer"):
        return AutoTokenizer.from_pretrained(folder)


def has_tokenizer(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in ("tokenizer.json", "vocab.json", "tokenizer_config.json"))


def recognizer_for(folder: Path, texts: Sequence[str] | None = None, language: str | None = None):
    """The recognizer of a model folder: Whisper (speech-seq2seq) or CTC (speech encoders); a CTC
    encoder without a tokenizer gets a character vocabulary of `texts` (the training transcripts)."""
    folder = Path(folder)
    if is_whisper(folder):
        if not has_tokenizer(folder):
            raise ConfigError(f"invalid model: {folder} has no tokenizer; a Whisper folder for speech recognition "
                              "needs its tokenizer.json")
        return WhisperRecognizer(load_tokenizer(folder), language, _declared_multilingual(folder))
    if has_tokenizer(folder):
        return CTCRecognizer(load_tokenizer(folder))
    if texts is None:
        raise ConfigError(f"invalid model: {folder} has no tokenizer (vocab.json); fine-tune it on transcripts first")
    return CTCRecognizer(character_tokenizer(texts))


def _declared_multilingual(folder: Path) -> bool | None:
    """The generation config's `is_multilingual` (an English-only Whisper's tokenizer still holds
    every language token, so the vocabulary alone cannot tell); None when it does not say."""
    try:
        value = json.loads((Path(folder) / "generation_config.json").read_text(encoding="utf-8")).get("is_multilingual")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, bool) else None


def character_tokenizer(texts: Sequence[str]):
    """A Wav2Vec2 CTC tokenizer over the characters of `texts` (space as the word delimiter `|`)."""
    import tempfile

    from transformers import Wav2Vec2CTCTokenizer

    chars = sorted(set("".join(texts).lower()) - {" "})  # one case: fewer, better-trained characters
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, **{c: i + 3 for i, c in enumerate(c for c in chars if c != "|")}}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.json"
        path.write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        return Wav2Vec2CTCTokenizer(str(path), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|",
                                    bos_token=None, eos_token=None)  # CTC writes no sentence markers


def normalize(text: str) -> str:
    """What WER and CER compare: lower case, punctuation and symbols dropped, spaces collapsed
    (Whisper's basic normalizer, without its English spelling rules)."""
    import unicodedata

    text = unicodedata.normalize("NFKC", text).lower().replace("'", "").replace("\u2019", "")
    text = "".join(" " if unicodedata.category(c)[0] in "PSZC" else c for c in text)
    return " ".join(text.split())


def error_counts(references: Sequence[str], hypotheses: Sequence[str]) -> np.ndarray:
    """Per example [word errors, reference words, character errors, reference characters] of the
    normalised texts (jiwer's alignment); summed rows give corpus WER and CER."""
    import jiwer

    rows = []
    for ref, hyp in zip(references, hypotheses):
        ref, hyp = normalize(ref), normalize(hyp)
        if not ref:  # jiwer refuses an empty reference: every hypothesis word is an insertion
            rows.append((len(hyp.split()), 0, len(hyp), 0))
            continue
        words = jiwer.process_words(ref, hyp)
        chars = jiwer.process_characters(ref, hyp)
        rows.append((words.substitutions + words.deletions + words.insertions, len(ref.split()),
                     chars.substitutions + chars.deletions + chars.insertions, len(ref)))
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def rates(sums: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(WER, CER) of summed `error_counts` rows."""
    return sums[..., 0] / np.maximum(sums[..., 1], 1), sums[..., 2] / np.maximum(sums[..., 3], 1)


def _cache_argument(model) -> str:
    """The key/value cache's argument name: `cache` from transformers 5.2x, `past_key_values` before."""
    import inspect

    inner = model.get_base_model() if hasattr(model, "get_base_model") else model  # through a LoRA wrapper
    return "cache" if "cache" in inspect.signature(inner.forward).parameters else "past_key_values"


def _pack(ids, logps):
    """[B, T, 2] float: id + 1 (0 where there is no token) and its log-probability."""
    import torch

    return torch.stack([(ids + 1).float(), logps.float()], dim=-1)


class WhisperRecognizer:
    """Whisper: a prompt of special tokens, the transcript, end of text."""

    kind = "whisper"

    def __init__(self, tokenizer, language: str | None = None, multilingual: bool | None = None):
        self.tokenizer = tokenizer
        vocab = tokenizer.get_vocab()
        self.eos = vocab["<|endoftext|>"]
        self.sot = vocab["<|startoftranscript|>"]
        self.no_timestamps = vocab.get("<|notimestamps|>")
        self.languages = {m.group(1): i for t, i in vocab.items() if (m := _LANGUAGE_TOKEN.match(t))
                          and m.group(1) not in _NOT_LANGUAGES}
        self.multilingual = bool(self.languages) and "<|transcribe|>" in vocab and multilingual is not False
        self.transcribe_id = vocab.get("<|transcribe|>")  # kept: the prompt is built for every batch
        if language is not None and self.multilingual and language not in self.languages:
            raise ConfigError(f"invalid language: {language!r} is not one of this Whisper's languages "
                              f"({', '.join(sorted(self.languages)[:12])}, ...); pass a code such as en, de, fr")
        self.language = language if self.multilingual else None
        # Everything but text and the end token is suppressed while writing the transcript.
        self.suppressed = sorted({i for t, i in vocab.items() if i != self.eos and (
            t in tokenizer.all_special_tokens or (t.startswith("<|") and t.endswith("|>")))})

    def prompt(self, language: str | None = None) -> list[int]:
        ids = [self.sot]
        if self.multilingual:
            ids += [self.languages[language or self.language or "en"], self.transcribe_id]
        if self.no_timestamps is not None:
            ids.append(self.no_timestamps)
        return ids

    def encode_texts(self, texts: Sequence[str], names: Sequence[str], limit: int,
                     truncate: bool = False) -> list[np.ndarray]:
        """Token ids of each transcript (without the prompt), checked against the decoder's length
        (`truncate`: cut to it instead, for a teacher's transcripts)."""
        room = limit - len(self.prompt()) - 1
        out = []
        for text, name in zip(texts, names):
            ids = self.tokenizer.encode(" " + text.strip() if text.strip() else "", add_special_tokens=False)
            if truncate:
                ids = ids[:room]
            if len(ids) > room:
                raise DataError(f"{name}: its transcript is {len(ids)} tokens, more than the {room} the decoder "
                                "writes for one window; split the clip (and its text) into shorter ones")
            out.append(np.asarray(ids, dtype=np.int64))
        return out

    def targets(self, batch: dict, token_ids: Sequence[np.ndarray]) -> dict:
        """Teacher forcing: decoder input = prompt + text, labels = text + end (prompt not scored)."""
        import torch

        prompt = self.prompt()
        rows = [prompt + ids.tolist() + [self.eos] for ids in token_ids]
        width = max(len(r) for r in rows) - 1
        inputs = torch.full((len(rows), width), self.eos, dtype=torch.long)
        labels = torch.full((len(rows), width), -100, dtype=torch.long)
        for i, row in enumerate(rows):
            inputs[i, :len(row) - 1] = torch.tensor(row[:-1])
            labels[i, len(prompt) - 1:len(row) - 1] = torch.tensor(row[len(prompt):])
        batch["decoder_input_ids"], batch["labels"] = inputs, labels
        return batch

    def logits(self, model, batch: dict):
        return model(input_features=batch["input_features"], decoder_input_ids=batch["decoder_input_ids"]).logits

    def loss(self, model, batch: dict, label_smoothing: float = 0.0):
        import torch.nn.functional as F

        logits = self.logits(model, batch).float()
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch["labels"].reshape(-1), ignore_index=-100,
                               label_smoothing=label_smoothing)

    def detect_language(self, model, encoded) -> list[str]:
        """Per clip, the language token Whisper rates most likely after the start token."""
        import torch

        codes, ids = list(self.languages), torch.tensor(list(self.languages.values()))
        start = torch.full((encoded.shape[0], 1), self.sot, dtype=torch.long, device=encoded.device)
        logits = model(encoder_outputs=(encoded,), decoder_input_ids=start).logits[:, -1]
        return [codes[i] for i in logits[:, ids.to(logits.device)].argmax(-1).tolist()]

    def transcribe(self, model, batch: dict, max_new_tokens: int | None = None):
        """Greedy decoding with the key/value cache, every clip of the batch until its end token."""
        import torch

        features = batch["input_features"]
        encoded = model.get_encoder()(features).last_hidden_state
        if self.multilingual and self.language is None:
            prompts = [self.prompt(lang) for lang in self.detect_language(model, encoded)]
        else:
            prompts = [self.prompt()] * len(features)
        limit = int(getattr(model.config, "max_target_positions", 448)) - len(prompts[0])
        seconds = float(batch["seconds"].max()) if "seconds" in batch else 30.0
        budget = min(limit, max_new_tokens or int(MIN_NEW_TOKENS + TOKENS_PER_SECOND * seconds))
        step_input = torch.tensor(prompts, device=features.device)
        generation = getattr(model, "generation_config", None)
        # The model's own suppressed tokens (Whisper: non-speech symbols) join the special tokens.
        extra = [i for i in (getattr(generation, "suppress_tokens", None) or []) if 0 <= i < model.config.vocab_size]
        suppressed = torch.tensor(sorted(set(self.suppressed) | set(extra)), dtype=torch.long, device=features.device)
        done = torch.zeros(len(features), dtype=torch.bool, device=features.device)
        tokens, scores, cache = [], [], None
        cache_name = _cache_argument(model)
        for _ in range(max(1, budget)):
            out = model(encoder_outputs=(encoded,), decoder_input_ids=step_input, use_cache=True, **{cache_name: cache})
            cache = getattr(out, cache_name)
            logits = out.logits[:, -1].float()
            logits[:, suppressed] = -torch.inf
            logps = torch.log_softmax(logits, dim=-1)
            score, best = logps.max(dim=-1)
            best = torch.where(done, torch.full_like(best, -1), best)
            tokens.append(best)
            scores.append(torch.where(done, torch.zeros_like(score), score))
            done |= best == self.eos
            if bool(done.all()):
                break
            step_input = best.clamp(min=0)[:, None]
        ids, logps = torch.stack(tokens, dim=1), torch.stack(scores, dim=1)
        ids = torch.where(ids == self.eos, torch.full_like(ids, -1), ids)  # the end token is not text
        return _pack(ids, logps)

    def decode(self, ids: Sequence[np.ndarray]) -> list[str]:
        return [self.tokenizer.decode([int(i) for i in row], skip_special_tokens=True).strip() for row in ids]

    def save(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(directory)


class CTCRecognizer:
    """A CTC head over a speech encoder: characters per frame, repeats and blanks collapsed."""

    kind = "ctc"

    def __init__(self, tokenizer):
        self.tokenizer = tokenizer
        self.blank = tokenizer.pad_token_id
        vocab = tokenizer.get_vocab()
        letters = [t for t in vocab if len(t) == 1 and t.isalpha()]
        self._case = "upper" if letters and all(t.isupper() for t in letters) else \
            "lower" if letters and all(t.islower() for t in letters) else None
        self.vocab = vocab

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode_texts(self, texts: Sequence[str], names: Sequence[str], limit: int | None = None) -> list[np.ndarray]:
        """Character ids of each transcript; a character the vocabulary lacks is an error naming the clip
        (case is folded to the vocabulary's when it has one case only)."""
        delimiter = getattr(self.tokenizer, "word_delimiter_token", "|") or "|"
        out = []
        for text, name in zip(texts, names):
            text = text.upper() if self._case == "upper" else text.lower() if self._case == "lower" else text
            unknown = sorted({c for c in text if c != " " and c not in self.vocab})
            if unknown:
                raise DataError(f"{name}: its transcript has characters this model's vocabulary lacks "
                                f"({''.join(unknown[:10])!r}); remove or spell them out, or fine-tune a model "
                                "without a tokenizer (its vocabulary is built from the transcripts)")
            ids = [self.vocab[delimiter] if c == " " else self.vocab[c] for c in " ".join(text.split())]
            out.append(np.asarray(ids, dtype=np.int64))
        return out

    def targets(self, batch: dict, token_ids: Sequence[np.ndarray]) -> dict:
        import torch

        width = max(1, max(len(ids) for ids in token_ids))
        labels = torch.full((len(token_ids), width), -100, dtype=torch.long)
        for i, ids in enumerate(token_ids):
            labels[i, :len(ids)] = torch.from_numpy(ids)
        batch["labels"] = labels
        return batch

    def _inputs(self, batch: dict) -> dict:
        return {k: batch[k] for k in ("input_values", "attention_mask") if k in batch}

    def loss(self, model, batch: dict, label_smoothing: float = 0.0):
        return model(**self._inputs(batch), labels=batch["labels"]).loss

    def logits(self, model, batch: dict):
        return model(**self._inputs(batch)).logits

    def transcribe(self, model, batch: dict, max_new_tokens: int | None = None):
        import torch

        logps = torch.log_softmax(self.logits(model, batch).float(), dim=-1)
        score, ids = logps.max(dim=-1)
        if "attention_mask" in batch:
            frames = model._get_feat_extract_output_lengths(batch["attention_mask"].sum(-1)).to(ids.device)
            valid = torch.arange(ids.shape[1], device=ids.device)[None] < frames[:, None]
            ids = torch.where(valid, ids, torch.full_like(ids, -1))
            score = torch.where(valid, score, torch.zeros_like(score))
        return _pack(ids, score)

    def decode(self, ids: Sequence[np.ndarray]) -> list[str]:
        # The tokenizer's CTC decoding: repeats grouped, blanks (pad) dropped, `|` -> space.
        return [self.tokenizer.decode([int(i) for i in row]).strip() for row in ids]

    def save(self, directory: Path) -> None:
        self.tokenizer.save_pretrained(directory)


def build_recognizer_model(folder: Path, recognizer, dropout: float | None = None, spec_augment: bool = False):
    """The pretrained model of `folder` ready to fine-tune for transcription (fp32); `spec_augment`
    turns on the model's own SpecAugment masking (training mode only)."""
    import torch
    from transformers import AutoConfig, AutoModelForCTC, WhisperForConditionalGeneration

    from ..progress import quiet_transformers
    from ..sources.hf_models import loading, set_dropout

    quiet_transformers()
    with loading(Path(folder)):
        if recognizer.kind == "whisper":
            config = AutoConfig.from_pretrained(folder)
            if dropout is not None:
                set_dropout(config, dropout)
            if spec_augment:
                config.update(SPEC_AUGMENT)
            return WhisperForConditionalGeneration.from_pretrained(folder, config=config, dtype=torch.float32)
        config = AutoConfig.from_pretrained(folder, vocab_size=recognizer.vocab_size, pad_token_id=recognizer.blank,
                                            ctc_loss_reduction="mean", ctc_zero_infinity=True)
        if dropout is not None:
            set_dropout(config, dropout)
        config.update(SPEC_AUGMENT if spec_augment else {"apply_spec_augment": False})
        return AutoModelForCTC.from_pretrained(folder, config=config, dtype=torch.float32,
                                               ignore_mismatched_sizes=True)


def load_recognizer_model(folder: Path):
    from transformers import AutoModelForCTC, WhisperForConditionalGeneration

    from ..sources.hf_models import load_trained

    return load_trained(WhisperForConditionalGeneration if is_whisper(folder) else AutoModelForCTC, Path(folder))
