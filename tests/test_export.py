"""transferkit export, for every task in the registry (tiny models): parity with PyTorch, int8 with
its accuracy gate, the exported run predicting the source run's labels, without torch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from transferkit.errors import ConfigError, TransferkitError
from transferkit.methods.export import PARITY_TOLERANCE, ExportError, export
from transferkit.runs import load_run
from transferkit.tasks import TASKS

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")
pytestmark = pytest.mark.usefixtures("ft_env")

# Quantisation each task is exported with besides fp32: what suits its model family.
INT8 = {"image-classification": "int8-static", "segmentation": "int8-static"}


@pytest.fixture
def trained(tiny_runs):
    return tiny_runs


EXPORTABLE = sorted(name for name, task in TASKS.items() if task.exportable())


def _labels(predictions) -> list:
    return [p if isinstance(p, str) else p.tolist() if isinstance(p, np.ndarray)  # a mask
            else [(e["entity"], e["start"], e["end"]) for e in p] for p in predictions]


@pytest.mark.parametrize("name", EXPORTABLE)
def test_fp32_export_matches_pytorch_and_is_a_run(name, trained, tmp_path):
    example, run = trained[name]
    result = export(run, tmp_path / "onnx")
    report = json.loads((tmp_path / "onnx" / "export.json").read_text())
    assert report["parity"]["max_abs_diff"] <= PARITY_TOLERANCE and report["parity"]["examples"] > 0
    assert report["metric"]["pytorch"] == pytest.approx(report["metric"]["onnx"], abs=1e-6)
    assert (tmp_path / "onnx" / "model" / "model.onnx").is_file()
    assert not list((tmp_path / "onnx" / "model").glob("*.safetensors"))  # the graph holds the weights
    source, exported = load_run(run), load_run(tmp_path / "onnx")
    assert _labels(exported.predict(example.inputs)) == _labels(source.predict(example.inputs))
    np.testing.assert_allclose(np.concatenate([np.ravel(p) for p in exported.predict_proba(example.inputs)]),
                               np.concatenate([np.ravel(p) for p in source.predict_proba(example.inputs)]), atol=1e-4)
    headline = source.task.headline_metric
    assert exported.evaluate(example.validation)[headline] == pytest.approx(
        source.evaluate(example.validation)[headline], abs=1e-6)
    assert _labels(result.predict(example.inputs)) == _labels(source.predict(example.inputs))


@pytest.mark.parametrize("name", EXPORTABLE)
def test_int8_export_passes_its_accuracy_gate(name, trained, tmp_path):
    example, run = trained[name]
    mode = INT8.get(name, "int8")
    export(run, tmp_path / "q", quantize=mode, allow_degradation=100)
    report = json.loads((tmp_path / "q" / "export.json").read_text())
    assert report["quantization"]["mode"] == ("static" if mode == "int8-static" else "dynamic")
    assert report["metric"]["allowed_pt"] == 100
    assert report["parity"]["max_abs_diff"] <= PARITY_TOLERANCE  # the fp32 graph was checked first
    graph = (tmp_path / "q" / "model" / "model.onnx").read_bytes()
    assert b"QuantizeLinear" in graph or b"DynamicQuantizeLinear" in graph or b"MatMulInteger" in graph
    predictions = load_run(tmp_path / "q").predict(example.inputs)
    assert len(predictions) == len(example.inputs)


def test_the_accuracy_gate_refuses_a_degraded_model_and_writes_nothing(trained, tmp_path, monkeypatch):
    import transferkit.methods.export as module

    _, run = trained["text-classification"]
    real, calls = module._metrics, []

    def worse_after_quantisation(task, dataset, outputs):
        calls.append(1)
        metrics = real(task, dataset, outputs)
        return {**metrics, "accuracy": metrics["accuracy"] - 0.02} if len(calls) == 2 else metrics

    monkeypatch.setattr(module, "_metrics", worse_after_quantisation)
    with pytest.raises(ExportError, match=r"accuracy gate: accuracy .* after int8 vs .* in PyTorch \(2\.00 pt lost"):
        export(run, tmp_path / "q", quantize="int8", allow_degradation=0.5)
    assert not (tmp_path / "q").exists() and not list(tmp_path.iterdir())


SENTENCE, IMAGE = "['Peter Blackburn visited Paris .']", "[__import__('numpy').zeros((40, 30, 3), 'uint8')]"


@pytest.mark.parametrize("task, call, inputs", [("token-classification", "predict", SENTENCE),
                                                ("text-classification", "predict_proba", SENTENCE),
                                                ("segmentation", "predict", IMAGE)])
def test_exported_run_predicts_without_torch(trained, tmp_path, task, call, inputs):
    example, run = trained[task]
    export(run, tmp_path / "onnx")
    code = ("import sys, json; import transferkit as tk; r = tk.load(sys.argv[1]); "
            f"out = r.{call}({inputs}); "
            "print(json.dumps({'torch': 'torch' in sys.modules, 'transformers': 'transformers' in sys.modules, "
            "'scipy': 'scipy.special' in sys.modules, 'n': len(out), "
            "'shape': list(getattr(out[0], 'shape', [])) or None}))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "onnx")], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["torch"] is False and seen["transformers"] is False
    assert seen["scipy"] is False  # 0.2 s of start-up for a softmax; numpy does it
    assert seen["n"] == 1
    if inputs == IMAGE:
        assert seen["shape"] == [40, 30]  # the mask comes back at the image's own size


def test_fast_tokenizer_gives_the_ids_transformers_gives(trained):
    from transformers import AutoTokenizer

    from transferkit.text.fast_tokenizer import FastTokenizer

    _, run = trained["text-classification"]
    ours, theirs = FastTokenizer(run / "model"), AutoTokenizer.from_pretrained(run / "model")
    texts = ["A great and lovely film!", "awful plot " * 40, "naïve café"]
    assert ours(texts, truncation=True, max_length=16)["input_ids"] == theirs(texts, truncation=True,
                                                                                max_length=16)["input_ids"]
    words = [["Peter", "Blackburn"], ["EU", "rejects", "German", "call"]]
    a = ours(words, is_split_into_words=True, add_special_tokens=False)
    b = theirs(words, is_split_into_words=True, add_special_tokens=False)
    assert a["input_ids"] == b["input_ids"] and a.word_ids(1) == b.word_ids(1)
    assert (ours.pad_token_id, ours.cls_token_id, ours.sep_token_id, ours.unk_token_id) == \
        (theirs.pad_token_id, theirs.cls_token_id, theirs.sep_token_id, theirs.unk_token_id)
    assert sorted(ours.all_special_ids) == sorted(theirs.all_special_ids)


def test_export_refuses_what_it_cannot_do(trained, tmp_path):
    _, run = trained["text-classification"]
    with pytest.raises(ConfigError, match="invalid quantize: 'int4'"):
        export(run, tmp_path / "a", quantize="int4")
    with pytest.raises(ConfigError, match="cannot replace the run it is made from"):
        export(run, run, overwrite=True)
    export(run, tmp_path / "onnx")
    with pytest.raises(ConfigError, match="already an exported run"):
        export(tmp_path / "onnx", tmp_path / "again")
    with pytest.raises(TransferkitError, match="already exists"):
        export(run, tmp_path / "onnx")
    not_exportable = [name for name, task in TASKS.items() if not task.exportable()]
    for name in not_exportable:  # pretraining runs: one line, nothing written
        with pytest.raises(ConfigError, match="cannot be exported to ONNX yet"):
            export(trained[name][1], tmp_path / name)
        assert not (tmp_path / name).exists()


def test_export_command_line(trained, tmp_path):
    example, run = trained["text-classification"]
    cli = [sys.executable, "-m", "transferkit"]
    done = subprocess.run([*cli, "export", str(run), "-o", str(tmp_path / "q"), "--quantize", "int8",
                           "--allow-degradation", "100"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "parity" in done.stdout and "max abs diff" in done.stdout
    done = subprocess.run([*cli, "predict", str(tmp_path / "q"), "--text", "a great and lovely film"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    bad = subprocess.run([*cli, "export", str(tmp_path / "missing"), "-o", str(tmp_path / "x")], capture_output=True,
                         text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
