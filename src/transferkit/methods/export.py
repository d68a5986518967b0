"""`transferkit export`: a trained run as an ONNX graph that ONNX Runtime runs without torch.

    result = tk.export("runs/sst2", "runs/sst2-int8", quantize="int8")
    tk.load("runs/sst2-int8").predict(["a fine film"])      # onnxruntime + tokenizers + numpy only

Every export passes two gates or writes nothing:
(a) parity: the fp32 graph's outputs against the PyTorch model's on the run's validation split
    (or `data`), max absolute difference <= PARITY_TOLERANCE;
(b) for int8, the task's headline metric on the same data within `allow_degradation` points of
    the PyTorch model's.
Both numbers go to OUT/export.json. int8 is dynamic quantisation of the linear layers (weights
int8 ahead of time, activations quantised per batch: what helps transformers), or static with
calibration batches from the run's training split (activation ranges measured once: what helps
CNNs, whose convolutions dynamic quantisation leaves in fp32). Transformer encoders get ONNX
Runtime's fusions (attention, skip-layer-norm, GELU) when they keep parity.

OUT is an ordinary run (kind "export"): model/ holds model.onnx and the preprocessor files of the
source model (tokenizer, config.json with the label names, or backbone.json), so `predict`,
`evaluate` and `tk.load` work on it and give the source run's labels.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_dir, atomic_write_json, read_json
from ..errors import ConfigError, TransferkitError
from ..runs import RUN_KINDS, Predictor, check_output_dir, read_labels, read_run_config, write_metrics

QUANTIZE = ("none", "int8", "int8-static")
PARITY_TOLERANCE = 1e-4
DEFAULT_OPSET = 18
WEIGHT_FILES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack")
MODEL_FILE = "model.onnx"


class ExportError(TransferkitError):
    """An export that failed a gate: nothing was written."""


@dataclass
class ExportResult:
    predictor: Predictor
    report: dict
    output: Path

    def predict(self, inputs):
        return self.predictor.predict(inputs)


def export(run: str | Path, output: str | Path, *, quantize: str = "none", opset: int = DEFAULT_OPSET,
           data: str | None = None, per_channel: bool = False, allow_degradation: float = 0.5,
           calibration_examples: int = 256, optimize: bool = True, overwrite: bool = False) -> ExportResult:
    """Export the run at `run` to `output` (a new run directory); see the module docstring."""
    from ..runs import load_run

    run_dir, out = Path(run), Path(output)
    if quantize not in QUANTIZE:
        raise ConfigError(f"invalid quantize: {quantize!r}; choose from {', '.join(QUANTIZE)}")
    if allow_degradation < 0:
        raise ConfigError(f"invalid allow_degradation: {allow_degradation} (points of the headline metric, >= 0)")
    config = read_run_config(run_dir)
    if config["kind"] == "export":
        raise ConfigError(f"invalid run: {run_dir} is already an exported run; export the run it came from")
    if out.resolve() == run_dir.resolve():
        raise ConfigError("invalid output: the export cannot replace the run it is made from; choose another -o")
    check_output_dir(out, overwrite)
    source = load_run(run_dir)
    if source.model is None:
        raise ConfigError(f"invalid run: {run_dir} is a {config['kind']} run, whose head is not a network; "
                          "fine-tune or distil a model to export it")
    if not source.task.exportable():
        raise ConfigError(f"invalid run: {source.task.name} runs cannot be exported to ONNX yet; load {run_dir}/model "
                          "with transformers instead")
    started = time.perf_counter()
    task, model = source.task, source.model.float().eval().cpu()
    gate, calibration, gate_source = _gate_data(task, config, run_dir, data, quantize == "int8-static",
                                                calibration_examples)

    report: dict[str, Any] = {"source": str(run_dir), "task": task.name, "quantize": quantize, "opset": opset,
                              "data": gate_source, "examples": len(gate), "cpu_flags": cpu_flags()}
    with atomic_dir(out, overwrite=True) as tmp:
        folder = tmp / "model"
        _copy_preprocessor(run_dir / "model", folder)
        fp32 = folder / "model.fp32.onnx"
        _to_onnx(task, model, gate, fp32, opset)
        reference = source.scorer(gate)  # PyTorch, fp32, the batches the ONNX scorer also uses
        diff = _max_diff(reference, _scorer(task, fp32)(gate))
        report["parity"] = {"max_abs_diff": diff, "tolerance": PARITY_TOLERANCE, "examples": len(gate)}
        if not diff <= PARITY_TOLERANCE:  # NaN fails too
            raise ExportError(f"export failed the parity check: the ONNX graph differs from the PyTorch model by "
                              f"{diff:.3g} (max abs, > {PARITY_TOLERANCE:g}) on {len(gate)} examples; nothing written")
        if optimize:
            report["optimisation"] = _optimise(fp32, model, lambda path: _max_diff(reference, _scorer(task, path)(gate)))
        shipped = fp32
        if quantize != "none":
            shipped = folder / "model.int8.onnx"
            report["quantization"] = _quantize(fp32, shipped, quantize, per_channel, task, calibration)
        outputs = reference if shipped is fp32 else _scorer(task, shipped)(gate)
        metrics = {"pytorch": _metrics(task, gate, reference), "onnx": _metrics(task, gate, outputs)}
        headline = task.headline_metric
        drop = 100 * (metrics["pytorch"][headline] - metrics["onnx"][headline])
        report["metric"] = {"name": headline, "pytorch": metrics["pytorch"][headline],
                            "onnx": metrics["onnx"][headline], "degradation_pt": round(drop, 4),
                            "allowed_pt": allow_degradation}
        if quantize != "none" and drop > allow_degradation:
            raise ExportError(f"export failed the accuracy gate: {headline} {100 * metrics['onnx'][headline]:.2f} "
                              f"after {quantize} vs {100 * metrics['pytorch'][headline]:.2f} in PyTorch "
                              f"({drop:.2f} pt lost > {allow_degradation:g} allowed; --allow-degradation PTS "
                              "accepts more); nothing written")
        shipped.rename(folder / MODEL_FILE)
        fp32.unlink(missing_ok=True)
        report["size_mb"] = {"pytorch": round(_size(run_dir / "model") / 1e6, 2),
                             "onnx": round((folder / MODEL_FILE).stat().st_size / 1e6, 2)}
        report["seconds"] = round(time.perf_counter() - started, 1)
        atomic_write_json(tmp / "labels.json", {"names": list(task.label_names)})
        write_metrics(tmp, {"validation": metrics["onnx"]})
        saved = {k: v for k, v in config.items() if k not in ("kind", "run_info")}
        atomic_write_json(tmp / "config.json", {"kind": "export", **saved, "run_info": {
            "exported_from": str(run_dir), "source_kind": config["kind"], "quantize": quantize}})
        atomic_write_json(tmp / "export.json", report)
    return ExportResult(load_run(out), report, out)


@RUN_KINDS.register("export")
def load_exported(run_dir: Path, config: dict) -> Predictor:
    """The predictor of an exported run: the task's preprocessing and the ONNX graph (no torch)."""
    from ..tasks import TASKS
    from .config import FinetuneConfig, saved_settings

    cfg = saved_settings(config, FinetuneConfig, cache_tokens=False)
    task = TASKS.get(cfg.task)(cfg)
    folder = Path(run_dir) / "model"
    if not (folder / MODEL_FILE).is_file():
        raise TransferkitError(f"{run_dir}: no {MODEL_FILE} in model/; the export is incomplete, export the run again")
    task.load_exported(folder, read_labels(run_dir))
    return Predictor(task, _scorer(task, folder / MODEL_FILE, cfg.eval_batch_size or 64), Path(run_dir), config)


# ---------------------------------------------------------------- steps

def _scorer(task, path: Path, batch_size: int = 64):
    from ..runs.onnx import OnnxScorer

    return OnnxScorer(task, path, batch_size)


def _gate_data(task, config: dict, run_dir: Path, data: str | None, need_train: bool, calibration_examples: int):
    """(encoded gate data, calibration batches' dataset or None, where the gate data came from)."""
    from ..tasks import TASKS
    from .config import FinetuneConfig, saved_settings

    train = None
    if data is not None:
        gate = task.read_inputs(data, labelled=True)
        where = str(data)
    else:
        if not config.get("train"):
            raise ConfigError(f"invalid data: {run_dir} was trained on data passed in memory; pass --data with "
                              "labelled examples to check the export against")
        reader = TASKS.get(config["task"])(saved_settings(config, FinetuneConfig))
        try:
            splits = reader.load_data(config["train"], config.get("validation"), config.get("test"))
        except (OSError, TransferkitError) as e:
            raise ConfigError(f"invalid data: the run's data cannot be read again ({str(e).splitlines()[0]}); "
                              "pass --data with labelled examples") from None
        if list(reader.label_names) != list(task.label_names):
            raise ConfigError("invalid data: the run's data now has other labels than the run; pass --data with "
                              "labelled examples")
        gate = splits.validation if splits.validation is not None else splits.test
        if gate is None:
            raise ConfigError("invalid data: the run has no validation data to check the export on; pass --data")
        where = "validation" if splits.validation is not None else "test"
        train = splits.train
    calibration = None
    if need_train:
        if train is None and config.get("train"):
            try:
                train = task.read_inputs(config["train"], labelled=False)
            except (OSError, TransferkitError):
                train = None
        examples = train if train is not None else gate
        order = np.random.default_rng(0).permutation(len(examples))[:calibration_examples]
        calibration = task.encode(examples.subset(np.sort(order)))
    return task.encode(gate), calibration, where


def _copy_preprocessor(source: Path, folder: Path) -> None:
    """The model folder without its weights: tokenizer files, config.json (labels), backbone.json."""
    folder.mkdir(parents=True)
    for item in source.iterdir():
        if item.is_file() and not item.name.endswith(WEIGHT_FILES):
            shutil.copy2(item, folder / item.name)


def _to_onnx(task, model, dataset, path: Path, opset: int) -> None:
    """Trace `task.predict` on a small batch of `dataset` and write the graph: the batch dimension
    (and the sequence dimension of integer 2-D inputs: token ids and masks) stay dynamic."""
    import contextlib
    import io
    import warnings

    import torch

    lengths = np.asarray(dataset.lengths)
    order = np.argsort(-lengths, kind="stable")
    take = 3 if len(order) >= 3 else len(order)
    indices = order[:take]
    arrays = task.inference_arrays(dataset, indices)
    # torch.export fixes a dimension of size 1 (or one equal to another) as a constant: avoid both.
    if any(a.ndim >= 2 and a.shape[1] in (1, a.shape[0]) and a.dtype.kind in "iu" for a in arrays.values()):
        arrays = {k: np.concatenate([v, v[:1]]) if v.shape[0] > 0 else v for k, v in arrays.items()}
    if next(iter(arrays.values())).shape[0] < 2:
        arrays = {k: np.concatenate([v, v]) for k, v in arrays.items()}
    names = list(arrays)

    class Graph(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *inputs):
            return task.predict(self.model, dict(zip(names, inputs))).float()

    batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence")
    shapes = tuple({0: batch, 1: sequence} if a.ndim == 2 and a.dtype.kind in "iu" else {0: batch}
                   for a in arrays.values())
    example = tuple(torch.from_numpy(np.ascontiguousarray(arrays[n])) for n in names)
    from ..progress import quiet_logger

    chatter = io.StringIO()  # the exporter narrates its steps on stdout and warns about torchvision ops
    with warnings.catch_warnings(), contextlib.redirect_stdout(chatter), quiet_logger("torch.onnx"):
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(Graph().eval(), example, str(path), input_names=names, output_names=["logits"],
                              dynamic_shapes=(shapes,), opset_version=opset, dynamo=True, external_data=False,
                              verbose=False)
        except ImportError as e:
            raise TransferkitError(f"export needs onnx and onnxscript ({e}); pip install 'transferkit[onnx]'") from None


def _optimise(path: Path, model, parity) -> dict:
    """ONNX Runtime's transformer fusions for encoders it knows; kept only if parity still holds."""
    config = getattr(model, "config", None)
    kind = getattr(config, "model_type", None)
    if kind is None:
        return {"applied": False, "why": "not a transformer encoder: ONNX Runtime optimises the graph when it loads it"}
    from onnxruntime.transformers.optimizer import optimize_model

    from ..progress import quiet_logger

    with quiet_logger("onnxruntime.transformers"):
        optimized = optimize_model(str(path), model_type="bert", num_heads=int(config.num_attention_heads),
                                   hidden_size=int(config.hidden_size))
    fused = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    candidate = path.with_name("model.optimized.onnx")
    optimized.save_model_to_file(str(candidate))
    diff = parity(candidate)
    if not diff <= PARITY_TOLERANCE:
        candidate.unlink()
        return {"applied": False, "fused": fused, "why": f"the fused graph differs by {diff:.3g}: kept unfused"}
    candidate.replace(path)
    return {"applied": True, "fused": fused, "max_abs_diff": diff}


def _quantize(fp32: Path, out: Path, mode: str, per_channel: bool, task, calibration) -> dict:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from ..progress import quiet_logger

    with quiet_logger("root"):
        if mode == "int8":
            quantize_dynamic(str(fp32), str(out), per_channel=per_channel, weight_type=QuantType.QInt8,
                             extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
            return {"mode": "dynamic", "weights": "int8", "activations": "uint8 per batch", "per_channel": per_channel}
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        class Batches(CalibrationDataReader):
            def __init__(self):
                from ..engine.batching import sorted_batches

                self.batches = iter(sorted_batches(calibration.lengths, 32))

            def get_next(self):
                indices = next(self.batches, None)
                return None if indices is None else task.inference_arrays(calibration, indices)

        prepared = fp32.with_name("model.prepared.onnx")
        quant_pre_process(str(fp32), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out), Batches(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        prepared.unlink(missing_ok=True)
    return {"mode": "static", "weights": "int8 per channel", "activations": "uint8, ranges from calibration",
            "calibration_examples": len(calibration)}


def _metrics(task, dataset, outputs: np.ndarray) -> dict:
    from ..runs import public_metrics

    return public_metrics(task.evaluate(dataset, outputs))


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def cpu_flags() -> list[str]:
    """The CPU features int8 speed depends on (VNNI: int8 dot products; AMX; AVX-512)."""
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8", "amx_bf16")
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [f for f in wanted if f in flags]


def read_export_report(run_dir: str | Path) -> dict:
    return read_json(Path(run_dir) / "export.json")
