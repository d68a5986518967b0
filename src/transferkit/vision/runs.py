"""Image predictors (fine-tuned and probe runs), the image linear probe, and predict/evaluate helpers.

Inputs to `predict_proba`/`predict` may be image paths, a folder, PIL images, one array
[H, W(, C)] or a stack [N, H, W(, C)]; they are preprocessed exactly as evaluation batches were
in training (decode to the resize square, centre crop, normalise).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from ..data.labels import LabelMap
from ..errors import TransferkitError
from ..metrics import classification_metrics
from ..probing import DEFAULT_CS, LinearHead, ProbeRun, choose_c
from ..runs import Predictor, check_output_dir
from .images import DecodedImages, ImageExamples, decode, load_image_splits, read_folder


def as_examples(inputs) -> ImageExamples:
    if isinstance(inputs, ImageExamples):
        return inputs
    if isinstance(inputs, (str, os.PathLike)):
        path = Path(inputs)
        return read_folder(path, require_labels=False) if path.is_dir() else as_examples([str(path)])
    if isinstance(inputs, np.ndarray) and (inputs.ndim == 2 or (inputs.ndim == 3 and inputs.shape[-1] in (3, 4))):
        inputs = inputs[None]  # one image, not a stack
    items = inputs if isinstance(inputs, np.ndarray) else [str(x) if isinstance(x, Path) else x for x in inputs]
    return ImageExamples(items, None, np.arange(1, len(items) + 1), "images")


def batched_outputs(fn, decoded: DecodedImages, spec, batch_size: int) -> np.ndarray:
    """fn(normalised float batch) -> array, over the centre crops of `decoded`, in order."""
    import torch

    from .augment import center_crop, normalise

    parts = []
    with torch.inference_mode():
        for start in range(0, len(decoded), batch_size):
            pixels = torch.from_numpy(decoded.pixels[start:start + batch_size])
            x = normalise(center_crop(pixels, spec.image_size), spec.mean, spec.std)
            x = x.contiguous(memory_format=torch.channels_last)  # NHWC: faster CPU convs (see the task)
            parts.append(fn(x).float().cpu().numpy())
    return np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)


class ImagePredictor(Predictor):
    """Shared by fine-tuned and probe image runs; subclasses implement `_probs(decoded)`."""

    task = "image-classification"
    bad_images = "skip"

    def _decode(self, inputs, bad_images: str) -> DecodedImages:
        spec = self.input_spec
        return decode(as_examples(inputs), spec.resize_size, spec.interpolation, bad_images)

    def predict_proba(self, inputs) -> np.ndarray:
        # One row per input: an unreadable image is an error here (the CLI skips and reports instead).
        return self._probs(self._decode(inputs, "error"))

    def predict_decoded(self, inputs) -> tuple[np.ndarray, list[str]]:
        decoded = self._decode(inputs, self.bad_images)
        return self._probs(decoded), decoded.names

    def evaluate(self, examples) -> dict:
        decoded = self._decode(examples, self.bad_images)
        if decoded.labels is None:
            raise TransferkitError(f"{examples.source} has no labels; evaluation needs labelled images")
        return classification_metrics(decoded.labels, self._probs(decoded).argmax(1), self.label_names)

    # `transferkit predict/evaluate` (see runs.Predictor): images in, labels out.

    def show_predictions(self, texts):
        raise TransferkitError("an image run classifies images: pass --input IMAGE_OR_FOLDER_OR_TABLE, not --text")

    def write_predictions(self, data: str, output: Path, *, text_column=None, drop_invalid=False) -> int:
        """An image, a folder of images or a table of paths (`text_column` names the path column)."""
        from .._io import write_table
        from ..predictions import predictions_frame
        from .images import IMAGE_SUFFIXES, load_images

        path = Path(data)
        inputs = (data if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES
                  else load_images(data, require_labels=False, path_column=text_column))
        probs, names = self.predict_decoded(inputs)
        write_table(predictions_frame(self.label_names, np.arange(1, len(names) + 1), {"path": names}, probs), output)
        return len(names)

    def evaluate_data(self, data: str, *, text_column=None, label_column=None, drop_invalid=False) -> dict:
        from .images import load_images

        examples = load_images(data, labels=LabelMap(list(self.label_names)), require_labels=True,
                               path_column=text_column, label_column=label_column)
        return self.evaluate(examples)


class ImageClassifierRun(ImagePredictor):
    def __init__(self, model, label_names: Sequence[str], batch_size: int = 64, bad_images: str = "skip",
                 run_dir: Path | None = None):
        import torch

        self.model, self.label_names = model.eval().to(memory_format=torch.channels_last), list(label_names)
        self.input_spec, self.batch_size, self.bad_images, self.run_dir = model.input_spec, batch_size, bad_images, run_dir

    def _probs(self, decoded: DecodedImages) -> np.ndarray:
        self.model.eval()
        return batched_outputs(lambda x: self.model(x).softmax(-1), decoded, self.input_spec, self.batch_size)


# ---------------------------------------------------------------- linear probe on frozen features

class ImageFeatureEncoder:
    """A frozen backbone: images -> pooled features (what the probe's logistic regression sees)."""

    def __init__(self, backbone, batch_size: int = 64):
        import torch

        self.backbone, self.batch_size, self.input_spec = backbone.eval(), batch_size, backbone.input_spec
        self.backbone.to(memory_format=torch.channels_last)

    @classmethod
    def from_ref(cls, model: str, image_size: int | None = None, batch_size: int = 64) -> "ImageFeatureEncoder":
        from .registry import backbone_from_ref

        backbone = backbone_from_ref(model)
        backbone.input_spec = backbone.input_spec.resized(image_size)
        return cls(backbone, batch_size)

    def features(self, decoded: DecodedImages) -> np.ndarray:
        return batched_outputs(self.backbone.forward_features, decoded, self.input_spec, self.batch_size)

    def encode(self, inputs, description: str | None = None, bad_images: str = "error") -> np.ndarray:
        spec = self.input_spec
        return self.features(decode(as_examples(inputs), spec.resize_size, spec.interpolation, bad_images))


class ImageProbeRun(ImagePredictor, ProbeRun):
    def __init__(self, encoder: ImageFeatureEncoder, head: LinearHead, label_names, config: dict, metrics=None):
        ProbeRun.__init__(self, encoder, head, label_names, config, metrics)
        self.input_spec = encoder.input_spec

    def _probs(self, decoded: DecodedImages) -> np.ndarray:
        return self.head.predict_proba(self.encoder.features(decoded))


def load_probe(run_dir: Path, config: dict) -> ImageProbeRun:
    from .._io import read_json

    encoder = ImageFeatureEncoder.from_ref(config["model"], config.get("image_size"), config.get("batch_size", 64))
    return ImageProbeRun(encoder, LinearHead.load(run_dir / "head.safetensors"),
                         read_json(run_dir / "labels.json")["names"], config)


def probe_images(model: str, train, validation=None, test=None, *, output=None, overwrite: bool = False,
                 image_size: int | None = None, batch_size: int = 64, Cs: Sequence[float] = DEFAULT_CS,
                 seed: int = 42, path_column: str | None = None, label_column: str | None = None) -> ImageProbeRun:
    """Frozen backbone features + logistic regression (C chosen on validation), like the text probe."""
    if output is not None:
        check_output_dir(output, overwrite)
    splits = load_image_splits(train, validation, test, seed=seed, path_column=path_column, label_column=label_column)
    encoder = ImageFeatureEncoder.from_ref(model, image_size, batch_size)
    spec = encoder.input_spec
    t0 = time.perf_counter()
    decoded = {name: decode(ex, spec.resize_size, spec.interpolation)
               for name, ex in (("train", splits.train), ("validation", splits.validation), ("test", splits.test))
               if ex is not None}
    feats = {name: encoder.features(d) for name, d in decoded.items()}
    embed_s = time.perf_counter() - t0
    y = {name: d.labels for name, d in decoded.items()}
    best_c, scores = choose_c(feats["train"], y["train"], feats.get("validation"), y.get("validation"), Cs, seed)
    head = LinearHead.fit(feats["train"], y["train"], best_c, seed)
    config = {"kind": "probe", "task": "image-classification", "model": model, "image_size": spec.image_size,
              "input_spec": spec.to_dict(), "batch_size": batch_size, "seed": seed, "C": best_c, "C_scores": scores,
              "Cs": list(Cs), "train": str(train) if isinstance(train, (str, os.PathLike)) else "arrays",
              "split": splits.split_info, "embed_seconds": round(embed_s, 2)}
    run = ImageProbeRun(encoder, head, splits.labels.names, config)
    for name in ("validation", "test"):
        if name in feats:
            run.metrics[name] = classification_metrics(y[name], head.predict_proba(feats[name]).argmax(1),
                                                       run.label_names)
    if output is not None:
        run.save(output, overwrite=overwrite)
    return run
