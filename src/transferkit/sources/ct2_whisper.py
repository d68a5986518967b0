"""Convert a Whisper model stored by CTranslate2 (faster-whisper's format) into a Hugging Face
`WhisperForConditionalGeneration` folder.

Real Whisper weights ship on the package index only as CTranslate2 conversions (`model.bin`,
fp16). The file is a flat list of named arrays (`encoder/layer_0/self_attention/linear_0/weight`,
...) written by `ctranslate2.specs.ModelSpec.save`: a version, the spec's name and revision, then
for each variable its name, shape, dtype code and raw bytes, then aliases (the output projection
is an alias of the token embeddings: they are tied). CTranslate2 fuses the attention projections
(self-attention Q, K and V into one matrix; cross-attention K and V into another), and stores
the zero bias Whisper's K projection does not have; both are undone here. The state dict is
loaded into a real `WhisperForConditionalGeneration` with strict=True, so a wrong mapping fails
loudly, and saved in fp32 with the tokenizer, the log-mel feature-extractor settings and a
generation config carrying the special-token ids faster-whisper reads from its config.json.
"""

from __future__ import annotations

import json
import mmap
import re
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ModelSourceError

# CTranslate2's DataType codes (include/ctranslate2/types.h). Integers hold scalars (head counts,
# flags); an integer *weight* is a quantised model (int8 plus per-row scales), not converted.
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: "bfloat16"}
_LAYER = re.compile(r"^(encoder|decoder)/layer_(\d+)/")


def read_ct2(path: str | Path) -> tuple[str, dict[str, np.ndarray]]:
    """(spec name, {variable name: array}) of a CTranslate2 model.bin; aliases resolve to their target."""
    path = Path(path)
    with open(path, "rb") as f:
        data = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    pos = 0

    def take(fmt: str):
        nonlocal pos
        try:
            (value,) = struct.unpack_from(fmt, data, pos)
        except struct.error:
            raise ModelSourceError(f"{path}: truncated CTranslate2 model (ends at byte {pos})") from None
        pos += struct.calcsize(fmt)
        return value

    def string() -> str:
        nonlocal pos
        n = take("<H")
        value = bytes(data[pos:pos + n - 1]).decode("utf-8", "replace")
        pos += n
        return value

    version = take("<I")
    if not 5 <= version <= 6:
        raise ModelSourceError(f"{path}: CTranslate2 binary version {version} is not supported (5 or 6)")
    spec = string()
    take("<I")  # the spec's revision
    variables: dict[str, np.ndarray] = {}
    for _ in range(take("<I")):
        name = string()
        shape = [take("<I") for _ in range(take("<B"))]
        code, size = take("<B"), take("<I")
        if code in (1, 2) and name.endswith("weight"):
            raise ModelSourceError(f"{path}: {name} is quantised to int{8 * code}; only float16/float32/bfloat16 "
                                   "CTranslate2 models can be converted")
        if code not in _DTYPES or pos + size > len(data):
            raise ModelSourceError(f"{path}: damaged CTranslate2 model at variable {name}")
        raw = np.frombuffer(data, dtype=np.uint8, count=size, offset=pos)
        if _DTYPES[code] == "bfloat16":  # numpy has no bfloat16: widen the 16 bits into float32's upper half
            array = (raw.view(np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            array = raw.view(_DTYPES[code]).copy()
        variables[name] = array.reshape(shape)
        pos += size
    for _ in range(take("<I")):
        alias, target = string(), string()
        variables[alias] = variables[target]
    return spec, variables


def whisper_state_dict(variables: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(WhisperConfig keyword arguments, fp32 state dict in Hugging Face names)."""
    import torch

    v = variables
    sd: dict[str, torch.Tensor] = {}
    tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)))

    def norm(dst: str, src: str) -> None:
        sd[f"{dst}.weight"], sd[f"{dst}.bias"] = tensor(v[f"{src}/gamma"]), tensor(v[f"{src}/beta"])

    def linear(dst: str, weight, bias=None) -> None:
        sd[f"{dst}.weight"] = tensor(weight)
        if bias is not None:
            sd[f"{dst}.bias"] = tensor(bias)

    def pair(src: str) -> tuple[np.ndarray, np.ndarray]:
        return v[f"{src}/weight"], v[f"{src}/bias"]

    def fused(src: str, parts: int) -> list[tuple[np.ndarray, np.ndarray]]:
        weight, bias = pair(src)
        n = weight.shape[0] // parts
        return [(weight[i * n:(i + 1) * n], bias[i * n:(i + 1) * n]) for i in range(parts)]

    def key(dst: str, weight: np.ndarray, bias: np.ndarray) -> None:
        if np.any(bias):  # Whisper's K projections have no bias; CTranslate2 stores zeros
            raise ModelSourceError(f"{dst}: a non-zero key bias cannot be represented in Whisper")
        linear(dst, weight)

    def self_attention(dst: str, src: str) -> None:
        (qw, qb), (kw, kb), (vw, vb) = fused(f"{src}/linear_0", 3)
        linear(f"{dst}.q_proj", qw, qb)
        key(f"{dst}.k_proj", kw, kb)
        linear(f"{dst}.v_proj", vw, vb)
        linear(f"{dst}.out_proj", *pair(f"{src}/linear_1"))

    def feed_forward(dst: str, src: str) -> None:
        for i, name in enumerate(("fc1", "fc2")):
            linear(f"{dst}.{name}", *pair(f"{src}/linear_{i}"))
        norm(f"{dst}.final_layer_norm", f"{src}/layer_norm")

    layers = {side: 1 + max((int(m.group(2)) for k in v if (m := _LAYER.match(k)) and m.group(1) == side), default=-1)
              for side in ("encoder", "decoder")}
    if not layers["encoder"] or not layers["decoder"] or "encoder/conv1/weight" not in v:
        raise ModelSourceError("not a CTranslate2 Whisper model: encoder/decoder layers or conv1 are missing")
    for i in (1, 2):
        linear(f"model.encoder.conv{i}", *pair(f"encoder/conv{i}"))
    for side in ("encoder", "decoder"):
        sd[f"model.{side}.embed_positions.weight"] = tensor(v[f"{side}/position_encodings/encodings"])
        norm(f"model.{side}.layer_norm", f"{side}/layer_norm")
        for i in range(layers[side]):
            dst, src = f"model.{side}.layers.{i}", f"{side}/layer_{i}"
            self_attention(f"{dst}.self_attn", f"{src}/self_attention")
            norm(f"{dst}.self_attn_layer_norm", f"{src}/self_attention/layer_norm")
            feed_forward(dst, f"{src}/ffn")
            if side == "decoder":
                linear(f"{dst}.encoder_attn.q_proj", *pair(f"{src}/attention/linear_0"))
                (kw, kb), (vw, vb) = fused(f"{src}/attention/linear_1", 2)
                key(f"{dst}.encoder_attn.k_proj", kw, kb)
                linear(f"{dst}.encoder_attn.v_proj", vw, vb)
                linear(f"{dst}.encoder_attn.out_proj", *pair(f"{src}/attention/linear_2"))
                norm(f"{dst}.encoder_attn_layer_norm", f"{src}/attention/layer_norm")
    sd["model.decoder.embed_tokens.weight"] = tensor(v["decoder/embeddings/weight"])
    config = {
        "vocab_size": v["decoder/embeddings/weight"].shape[0], "num_mel_bins": v["encoder/conv1/weight"].shape[1],
        "d_model": v["encoder/conv1/weight"].shape[0], "encoder_layers": layers["encoder"],
        "decoder_layers": layers["decoder"], "encoder_attention_heads": int(v["encoder/num_heads"]),
        "decoder_attention_heads": int(v["decoder/num_heads"]),
        "encoder_ffn_dim": v["encoder/layer_0/ffn/linear_0/weight"].shape[0],
        "decoder_ffn_dim": v["decoder/layer_0/ffn/linear_0/weight"].shape[0],
        "max_source_positions": v["encoder/position_encodings/encodings"].shape[0],
        "max_target_positions": v["decoder/position_encodings/encodings"].shape[0],
    }
    return config, sd


def _special_ids(tokenizer_file: Path) -> dict[str, int]:
    tokens = json.loads(tokenizer_file.read_text(encoding="utf-8")).get("added_tokens", [])
    return {t["content"]: t["id"] for t in tokens}


def generation_settings(ct2_config: dict, special: dict[str, int], vocab_size: int) -> dict[str, Any]:
    """What `model.generate` needs: start/end tokens, suppressed tokens, languages and tasks."""
    def need(token: str) -> int:
        if token not in special:
            raise ModelSourceError(f"tokenizer.json has no {token} token; not a Whisper tokenizer")
        return special[token]

    eot, sot = need("<|endoftext|>"), need("<|startoftranscript|>")
    multilingual = vocab_size >= 51865  # the .en models have one token fewer (no language token slot)
    lang_ids = set(ct2_config.get("lang_ids", []))
    settings = {
        "decoder_start_token_id": sot, "bos_token_id": eot, "eos_token_id": eot, "pad_token_id": eot,
        "no_timestamps_token_id": need("<|notimestamps|>"), "prev_sot_token_id": need("<|startofprev|>"),
        "suppress_tokens": list(ct2_config.get("suppress_ids", [])),
        "begin_suppress_tokens": list(ct2_config.get("suppress_ids_begin", [])),
        "alignment_heads": [list(h) for h in ct2_config.get("alignment_heads", [])],
        "is_multilingual": multilingual, "max_initial_timestamp_index": 50, "max_length": 448,
    }
    if multilingual:
        settings["lang_to_id"] = {t: i for t, i in special.items() if i in lang_ids}
        settings["task_to_id"] = {"transcribe": need("<|transcribe|>"), "translate": need("<|translate|>")}
    return settings


def convert_ct2_whisper(model_bin: str | Path, ct2_config: str | Path, tokenizer_file: str | Path,
                        workdir: str | Path) -> None:
    """Write a Hugging Face Whisper folder (config, fp32 model.safetensors, tokenizer, feature
    extractor, generation config) into `workdir`."""
    from safetensors.torch import save_file
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    workdir, tokenizer_file = Path(workdir), Path(tokenizer_file)
    spec, variables = read_ct2(model_bin)
    if spec != "WhisperSpec":
        raise ModelSourceError(f"{model_bin}: a CTranslate2 {spec}, not a Whisper model")
    hyper, state = whisper_state_dict(variables)
    del variables
    settings = generation_settings(json.loads(Path(ct2_config).read_text(encoding="utf-8")),
                                   _special_ids(tokenizer_file), hyper["vocab_size"])
    # Token suppression lives in the generation config only (generate warns when both carry it).
    config_keys = ("decoder_start_token_id", "bos_token_id", "eos_token_id", "pad_token_id")
    config = WhisperConfig(**hyper, **{k: settings[k] for k in config_keys}, tie_word_embeddings=True,
                           suppress_tokens=None, begin_suppress_tokens=None)
    config.architectures = ["WhisperForConditionalGeneration"]
    model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if k != "proj_out.weight"]  # tied to embed_tokens
    if missing or unexpected:
        raise ModelSourceError(f"{model_bin}: the Whisper mapping is incomplete (missing {missing[:3]}, "
                               f"unexpected {unexpected[:3]})")
    # Saved by hand, not with save_pretrained (whose progress bar would interrupt `models pull`);
    # the output projection is tied to the token embeddings and stored once, as transformers does.
    config.save_pretrained(workdir)
    GenerationConfig(**settings).save_pretrained(workdir)
    save_file({k: t.contiguous() for k, t in model.state_dict().items() if k != "proj_out.weight"},
              str(workdir / "model.safetensors"), metadata={"format": "pt"})
    WhisperFeatureExtractor(feature_size=hyper["num_mel_bins"]).save_pretrained(workdir)
    (workdir / "tokenizer.json").write_bytes(tokenizer_file.read_bytes())
    special = {"bos_token": "<|endoftext|>", "eos_token": "<|endoftext|>", "unk_token": "<|endoftext|>",
               "pad_token": "<|endoftext|>"}
    (workdir / "tokenizer_config.json").write_text(json.dumps(
        {"tokenizer_class": "WhisperTokenizer", "model_max_length": 1024, "errors": "replace",
         "add_prefix_space": False, **special}, indent=2) + "\n", encoding="utf-8")
