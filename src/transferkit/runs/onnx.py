"""The scorer of an exported run: an ONNX graph run by ONNX Runtime, fed numpy batches.

Nothing here imports torch: the task encodes inputs (tokenizers, Pillow, numpy) and builds each
batch with `inference_arrays`; batches run longest first with per-batch padding, as the PyTorch
scorer's do, and come back in dataset order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..engine.batching import assemble, sorted_batches
from ..errors import TransferkitError


def session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU session with every graph optimisation the runtime applies at load."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise TransferkitError("exported runs need ONNX Runtime, which is not installed; "
                               "pip install 'transferkit[onnx]'") from None
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's concern
    if threads:
        options.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own untyped errors for a bad file
        raise TransferkitError(f"{path}: cannot load the ONNX model ({str(e).splitlines()[0][:200]}); "
                               "the export is damaged, export the run again") from None


class OnnxScorer:
    """Per-example outputs (logits) of an exported graph on a dataset its task encoded."""

    def __init__(self, task, path: str | os.PathLike, batch_size: int = 64, threads: int | None = None):
        self.task, self.path, self.batch_size = task, Path(path), batch_size
        self.session = session(path, threads)
        self.input_names = [i.name for i in self.session.get_inputs()]

    def run(self, arrays: dict[str, np.ndarray]) -> np.ndarray:
        return self.session.run(None, {name: arrays[name] for name in self.input_names})[0]

    def __call__(self, dataset) -> np.ndarray:
        parts = [(indices, self.run(self.task.inference_arrays(dataset, indices)))
                 for indices in sorted_batches(dataset.lengths, self.batch_size)]
        return assemble(parts, len(dataset))
