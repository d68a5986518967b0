"""`transferkit models bench NAME`: a model's own speed on this machine, as timm's tables show it.

The network alone is timed on synthetic inputs of a fixed shape (text: `seq_len` token ids;
images: the model's crop size), in fp32 with a fixed thread count, after warm-up: batch-1
latency p50/p95 and batch-32 throughput. Weights do not change the speed, so an image backbone
is built with its random initialisation and nothing is pulled for it; a text model reads its
config (pulled if needed). Results are cached per hardware in $TRANSFERKIT_HOME/bench.json,
keyed by CPU, thread count and torch version, so `models list` can show them.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .._io import atomic_write_json, read_json
from ..paths import home

BENCH_FILE = "bench.json"


def hardware_key(threads: int) -> str:
    """What a speed is valid for: the CPU model, the threads and the torch version."""
    from .compare.measure import hardware

    info = hardware(threads)
    return f"{info.get('cpu')} | {threads} threads | torch {info.get('torch')}"


def _cache_path() -> Path:
    return home() / BENCH_FILE


def cached(threads: int | None = None) -> dict[str, dict]:
    """model name -> its measurement on this hardware (empty when never benched here)."""
    threads = threads or default_threads()
    try:
        return dict(read_json(_cache_path()).get(hardware_key(threads), {}))
    except (OSError, ValueError, AttributeError):
        return {}


def default_threads() -> int:
    return min(4, os.cpu_count() or 1)


def _network(name: str, seq_len: int):
    """(forward(inputs), the model in eval mode, make(n): n synthetic inputs, the input's shape in words)."""
    import torch

    from ..sources import family_of, resolve_model

    family = family_of(name)
    if family == "image-backbone":
        from ..vision.backbones import backbone_from_ref

        model = backbone_from_ref(name, pretrained=False)
        size = model.input_spec.image_size if getattr(model, "input_spec", None) is not None else 224

        def make(n: int) -> dict:
            return {"x": torch.randn(n, 3, size, size)}

        return (lambda inputs: model.forward_features(inputs["x"])), model, make, f"{size}x{size} px"
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(resolve_model(name).path)
    model = AutoModel.from_config(config).eval()
    if family == "speech-seq2seq":  # one encoder window (30 s of log-mel frames) and a short prefix of text
        frames = 2 * int(getattr(config, "max_source_positions", 1500))
        bins, prefix = int(getattr(config, "num_mel_bins", 80)), min(seq_len, 32)

        def make_audio(n: int) -> dict:
            return {"input_features": torch.randn(n, bins, frames),
                    "decoder_input_ids": torch.randint(5, int(config.vocab_size), (n, prefix))}

        return (lambda inputs: model(**inputs)), model, make_audio, f"{frames // 100} s audio + {prefix} tokens"
    if family == "audio-encoder":  # ten seconds of 16 kHz audio

        def make_wave(n: int) -> dict:
            return {"input_values": torch.randn(n, 160_000)}

        return (lambda inputs: model(**inputs)), model, make_wave, "10 s audio"
    vocab = int(getattr(config, "vocab_size", 30000))
    length = min(seq_len, int(getattr(config, "max_position_embeddings", seq_len) or seq_len) - 2)

    def make(n: int) -> dict:
        ids = torch.randint(5, vocab, (n, length))
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    return (lambda inputs: model(**inputs)), model, make, f"{length} tokens"


def bench(name: str, *, threads: int | None = None, seq_len: int = 128, batch: int = 32, calls: int = 50,
          seconds: float = 20.0, save: bool = True) -> dict:
    """Time `name` on this machine; returns (and caches) latency p50/p95 ms and throughput/s."""
    import torch

    threads = threads or default_threads()
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        forward, model, make, shape = _network(name, seq_len)
        one, many = make(1), make(batch)
        with torch.inference_mode():
            for _ in range(3):
                forward(one)
            forward(many)
            times, deadline = [], time.perf_counter() + seconds / 2
            while len(times) < calls and (time.perf_counter() < deadline or len(times) < 5):
                start = time.perf_counter()
                forward(one)
                times.append(time.perf_counter() - start)
            rounds, started = 0, time.perf_counter()
            while rounds < 3 or (rounds < 20 and time.perf_counter() - started < seconds / 2):
                forward(many)
                rounds += 1
            elapsed = time.perf_counter() - started
    finally:
        torch.set_num_threads(previous)
    from .compare.measure import latency_summary

    result = {"model": name, "input": shape, "threads": threads, "precision": "fp32",
              "parameters": sum(p.numel() for p in model.parameters()), **latency_summary(times),
              "throughput_per_s": round(rounds * batch / elapsed, 1), "batch_size": batch, "calls": len(times),
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%S")}
    if save:
        _store(result, threads)
    return result


def _store(result: dict, threads: int) -> None:
    path = _cache_path()
    try:
        document = read_json(path)
        document = document if isinstance(document, dict) else {}
    except (OSError, ValueError):
        document = {}
    document.setdefault(hardware_key(threads), {})[result["model"]] = result
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, document)
