"""How a trained image model is stored: `model.safetensors` + `backbone.json` (backbone name,
classes, InputSpec, dropout). No pickle and no code: the backbone registry rebuilds the module."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .._io import atomic_write_json, read_json
from ..errors import ModelSourceError

BACKBONE_FILE = "backbone.json"


def save_image_model(model, directory: Path, label_names: Sequence[str]) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    save_file(state, str(directory / "model.safetensors"), metadata={"format": "pt"})
    atomic_write_json(directory / BACKBONE_FILE, {"backbone": model.name, "num_classes": len(label_names),
                                                  "label_names": list(label_names),
                                                  "input_spec": model.input_spec.to_dict(),
                                                  "drop_rate": model.drop_rate})


def is_image_model(folder: Path) -> bool:
    return (Path(folder) / BACKBONE_FILE).is_file()


def load_image_model(folder: Path):
    """(backbone with the trained head, label names) from a folder written by `save_image_model`."""
    from .backbones import create_backbone, load_weights
    from .spec import InputSpec

    try:
        doc = read_json(folder / BACKBONE_FILE)
    except (OSError, ValueError) as e:
        raise ModelSourceError(f"{folder / BACKBONE_FILE}: unreadable ({e})") from None
    model = create_backbone(doc["backbone"], pretrained=False, num_classes=int(doc["num_classes"]),
                            drop_rate=doc.get("drop_rate"))
    load_weights(model, folder / "model.safetensors")
    model.input_spec = InputSpec.from_dict(doc["input_spec"])
    return model.eval(), list(doc["label_names"])
