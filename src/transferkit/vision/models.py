"""How a trained image model is stored: `model.safetensors` + a JSON document (`backbone.json`
for classifiers: backbone name, classes, InputSpec, dropout; segmentation.json / detection.json
add their decoder or head). No pickle and no code: the backbone registry rebuilds the module."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .._io import atomic_write_json, read_json
from ..errors import ModelSourceError

BACKBONE_FILE = "backbone.json"
SEGMENTATION_FILE = "segmentation.json"
DETECTION_FILE = "detection.json"


def save_weights(model, directory: Path, doc_file: str, doc: dict) -> None:
    """`model.safetensors` and the document saying how to rebuild the module."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_json(directory / doc_file, doc)


def read_doc(folder: Path, doc_file: str) -> dict:
    try:
        return read_json(Path(folder) / doc_file)
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{Path(folder) / doc_file}: unreadable ({e})") from None


def dense_backbone(doc: dict):
    """The (untrained) backbone a segmentation or detection document names, at its input size."""
    from .backbones import create_backbone
    from .spec import InputSpec

    backbone = create_backbone(doc["backbone"], pretrained=False, drop_rate=doc.get("drop_rate"))
    backbone.input_spec = InputSpec.from_dict(doc["input_spec"])
    return backbone


def load_weights_into(model, folder: Path, what: str):
    """The folder's model.safetensors loaded strictly into `model` (eval mode), or a one-line error."""
    from safetensors.torch import load_file

    try:
        model.load_state_dict(load_file(str(Path(folder) / "model.safetensors")))
    except (OSError, RuntimeError) as e:
        raise ModelSourceError(f"{folder}: the {what} weights do not load ({str(e).splitlines()[0][:160]})") from None
    return model.eval()


def save_image_model(model, directory: Path, label_names: Sequence[str]) -> None:
    save_weights(model, directory, BACKBONE_FILE, {"backbone": model.name, "num_classes": len(label_names),
                                                   "label_names": list(label_names),
                                                   "input_spec": model.input_spec.to_dict(),
                                                   "drop_rate": model.drop_rate})


def is_image_model(folder: Path) -> bool:
    return (Path(folder) / BACKBONE_FILE).is_file()


def load_image_model(folder: Path):
    """(backbone with the trained head, label names) from a folder written by `save_image_model`."""
    from .backbones import create_backbone, load_weights
    from .spec import InputSpec

    doc = read_doc(folder, BACKBONE_FILE)
    model = create_backbone(doc["backbone"], pretrained=False, num_classes=int(doc["num_classes"]),
                            drop_rate=doc.get("drop_rate"))
    load_weights(model, folder / "model.safetensors")
    model.input_spec = InputSpec.from_dict(doc["input_spec"])
    return model.eval(), list(doc["label_names"])
