"""The export hooks of image tasks whose graph reads normalised pixels: an exported run rebuilds
the preprocessing from the InputSpec saved beside the weights and feeds numpy (no torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class PixelExport:
    """Mixed into an image Task; `spec_file` names the JSON document (in the model folder) that
    holds its `input_spec`."""

    spec_file: str

    def load_exported(self, folder: Path, label_names) -> None:
        from .._io import read_json
        from ..vision.spec import InputSpec

        doc = read_json(Path(folder) / self.spec_file)
        self.label_names, self.class_weights = list(label_names), None
        self.input_spec = InputSpec.from_dict(doc["input_spec"])

    def inference_arrays(self, dataset, indices) -> dict:
        from ..vision.spec import eval_arrays

        return {"pixel_values": eval_arrays(dataset.pixels[np.asarray(indices)], self.input_spec)}
