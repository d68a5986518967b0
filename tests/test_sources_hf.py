"""hf:org/name[@revision] ids, tested up to the network edge (snapshot_download)."""

from __future__ import annotations

import json

import huggingface_hub
import pytest

from transferkit.errors import ModelSourceError, OfflineError
from transferkit.sources import hf, pull, resolve_model


def _hf_folder(path, config=None, weights="model.safetensors"):
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps(config or {"model_type": "bert"}))
    if weights:
        (path / weights).write_bytes(b"\0" * 8)
    return path


@pytest.fixture
def fake_hub(monkeypatch, tmp_path, hf_offline_restore):
    """Replace snapshot_download (the network edge) and record how it was called."""
    calls = []
    folder = _hf_folder(tmp_path / "snapshot")

    def snapshot_download(repo_id, **kwargs):
        calls.append({"repo_id": repo_id, **kwargs})
        return str(folder)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    return calls, folder


@pytest.mark.parametrize("ref, expected", [
    ("hf:sentence-transformers/all-MiniLM-L6-v2", ("sentence-transformers/all-MiniLM-L6-v2", None)),
    ("hf:org/name@v1.0", ("org/name", "v1.0")),
    ("hf:org/name@0123abcd", ("org/name", "0123abcd")),
    ("hf:bert-base-uncased", ("bert-base-uncased", None)),
])
def test_parse_hf_ref(ref, expected):
    assert hf.parse_hf_ref(ref) == expected


@pytest.mark.parametrize("ref", ["hf:", "hf:org/", "hf:/name", "hf:a/b/c", "hf:org/name@", "hf:org/../x"])
def test_malformed_hf_ref_is_one_line(ref):
    with pytest.raises(ModelSourceError) as e:
        hf.parse_hf_ref(ref)
    assert "\n" not in str(e.value) and "hf:org/name" in str(e.value)


def test_resolve_hf_calls_snapshot_download_safely(fake_hub):
    calls, folder = fake_hub
    resolved = resolve_model("hf:org/name@main")
    assert resolved.path == folder and resolved.spec is None and resolved.family == "text-encoder"
    (call,) = calls
    assert call["repo_id"] == "org/name" and call["revision"] == "main"
    assert call["local_files_only"] is False
    patterns = call["allow_patterns"]
    assert "*.safetensors" in patterns and "*.json" in patterns
    # No pickles: .bin/.pt/.pkl/.ckpt never match the allow list.
    from fnmatch import fnmatch

    for pickled in ("pytorch_model.bin", "model.pt", "x.pkl", "y.ckpt", "tf_model.h5"):
        assert not any(fnmatch(pickled, p) for p in patterns)
    assert "trust_remote_code" not in call


def test_hf_offline_sets_local_files_only_and_hub_offline(fake_hub, monkeypatch, no_network):
    calls, folder = fake_hub
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    assert resolve_model("hf:org/name").path == folder
    assert calls[0]["local_files_only"] is True
    assert huggingface_hub.constants.HF_HUB_OFFLINE is True
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1" and no_network == []


def test_pull_false_only_looks_locally(fake_hub):
    calls, _ = fake_hub
    resolve_model("hf:org/name", pull=False)
    assert calls[0]["local_files_only"] is True


def test_pull_hf_force_redownloads(fake_hub):
    calls, folder = fake_hub
    assert pull("hf:org/name", force=True) == folder
    assert calls[0]["force_download"] is True


def test_vision_repo_is_an_image_backbone(fake_hub):
    _, folder = fake_hub
    (folder / "config.json").write_text('{"model_type": "vit"}')
    assert resolve_model("hf:google/vit-base-patch16-224").family == "image-backbone"


@pytest.mark.parametrize("config, weights, match", [
    ({"model_type": "x", "auto_map": {"AutoModel": "modeling.X"}}, "model.safetensors", "custom model code"),
    ({"model_type": "bert"}, None, "no safetensors"),
])
def test_unsafe_repos_are_refused(fake_hub, config, weights, match):
    _, folder = fake_hub
    (folder / "model.safetensors").unlink()
    _hf_folder(folder, config, weights)
    with pytest.raises(ModelSourceError, match=match):
        resolve_model("hf:org/name")


def test_hub_errors_become_one_line(monkeypatch, hf_offline_restore):
    from huggingface_hub.errors import RepositoryNotFoundError

    class FakeResponse:
        status_code, headers, url = 404, {}, "https://huggingface.co/api/models/org/nope"
        request = None

        def json(self):
            return {}

    def snapshot_download(repo_id, **kwargs):
        raise RepositoryNotFoundError("404 Client Error\nRepository Not Found for url ...", response=FakeResponse())

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    with pytest.raises(ModelSourceError) as e:
        resolve_model("hf:org/nope")
    assert str(e.value) == "hf:org/nope: no such Hugging Face repository (or it is private)"


# --------------------------------------------- real snapshot_download, sockets blocked, offline

@pytest.fixture
def hf_cache(tmp_path, monkeypatch, hf_offline_restore):
    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    return cache


def test_offline_hf_id_in_local_cache_resolves_without_network(hf_cache, no_network):
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = hf_cache / "models--org--name"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = _hf_folder(repo / "snapshots" / commit)
    resolved = resolve_model("hf:org/name")
    assert resolved.path == snapshot and no_network == []


def test_offline_hf_id_not_cached_is_one_line_error(hf_cache, no_network):
    with pytest.raises(OfflineError) as e:
        resolve_model("hf:org/missing")
    assert str(e.value) == ("hf:org/missing is not in the Hugging Face cache and offline mode is on; "
                            "run `transferkit models pull hf:org/missing` while online")
    assert no_network == []
