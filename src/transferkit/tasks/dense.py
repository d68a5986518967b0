"""What the dense image tasks (segmentation, detection) share: a square input whose side is a
multiple of 32 (the backbone's maps at strides 8/16/32) following the images' own size, a
backbone from `vision.backbones.backbone_for`, the strategies that apply to CNNs, and how their
predictions are drawn and named on disk.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from .base import Task

SMALLEST, LARGEST = 64, 512  # the default image size follows the images within these bounds


class DenseImageTask(Task):
    families = ("image-backbone",)
    student_inherits = ("image_size",)
    reads_text = False
    input_kind = "image"
    input_spec = None

    def check_config(self) -> None:
        super().check_config()
        if getattr(self.config, "strategy", None) == "lora":
            raise ConfigError("invalid strategy: lora adapts transformer attention layers; for image backbones "
                              "use full, head-only, top-k, gradual-unfreeze or llrd")

    def search_space(self) -> dict[str, dict]:
        space = super().search_space()
        space.pop("lora_r")
        space["strategy"] = {"type": "categorical", "choices": ["full", "llrd"]}
        return space

    def data_settings(self, data, given: set[str]) -> dict:
        from ..vision.images import native_size

        side = None if "image_size" in given else native_size(data.train)
        if side is None:
            return {}
        size = min(LARGEST, max(SMALLEST, 32 * math.ceil(side / 32)))
        return {"image_size": (size, f"the training images are {side} px: their size rounded up to a multiple of 32 "
                                     f"(within {SMALLEST}-{LARGEST} px), so the {self.name} keeps its detail")}

    def reader(self, image_column=None, label_column=None):
        """The split reader of this task's data."""
        raise NotImplementedError

    def read_inputs(self, source, *, column=None, labelled=False, label_column=None, drop_invalid=False):
        """Images (paths, a folder, arrays) or, `labelled`, images with their annotations."""
        from ..data import load_split

        if not labelled and not isinstance(source, (str, Path)):
            return self.reader().read(source, source="images", require_labels=False)
        return load_split(self.reader(column, label_column), source, require_labels=labelled,
                          seed=self.config.seed, source="images")

    def backbone(self, model: str):
        """The backbone to build on, its input spec resized to the run's square (a multiple of 32)."""
        from ..vision.backbones import backbone_for

        cfg = self.config
        backbone = backbone_for(str(model), cfg.pretrained, None, cfg.dropout, cfg.weights)
        size = cfg.image_size or backbone.input_spec.image_size
        size = max(32 * -(-backbone.min_input_size // 32), 32 * math.ceil(size / 32))  # strides up to 32
        if cfg.image_size is not None and size != cfg.image_size and "image_size" in cfg.model_fields_set:
            raise ConfigError(f"invalid image_size: {self.name} reads squares whose side is a multiple of 32 (and at "
                              f"least {backbone.min_input_size} px for {model}); pass --image-size {size}")
        cfg.image_size = size
        backbone.input_spec = backbone.input_spec.resized(size)
        return backbone

    def network(self, backbone):
        """The model this task trains around `backbone`."""
        raise NotImplementedError

    def load_network(self, folder: Path):
        """(model, label names) from a folder `save` wrote."""
        raise NotImplementedError

    def build_model(self, model: str, data):
        import torch

        network = self.network(self.backbone(model))
        self.input_spec = network.input_spec
        return network.to(memory_format=torch.channels_last).train()

    def load_model(self, folder: Path, label_names):
        import torch

        model, self.label_names = self.load_network(Path(folder))
        self.input_spec = model.input_spec
        return model.to(memory_format=torch.channels_last)

    def pixel_batch(self, x):
        """Float images [B, 3, S, S] in [0, 1] -> the model's normalised channels-last input."""
        import torch

        from ..vision.augment import normalise

        return normalise(x, self.input_spec.mean, self.input_spec.std).contiguous(memory_format=torch.channels_last)

    def raw_inputs(self, examples) -> list:
        return list(examples.items)

    def check_distillation(self, config) -> None:
        raise ConfigError(f"invalid task: {self.name} runs cannot be distilled yet; fine-tune the smaller backbone")


def png(array: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def palette(classes: int) -> np.ndarray:
    """Pascal VOC's colour map: distinct, fixed colours per class index (0 black)."""
    colours = np.zeros((max(classes, 1), 3), dtype=np.uint8)
    for i in range(len(colours)):
        c, r, g, b = i, 0, 0, 0
        for j in range(8):
            r |= ((c >> 0) & 1) << (7 - j)
            g |= ((c >> 1) & 1) << (7 - j)
            b |= ((c >> 2) & 1) << (7 - j)
            c >>= 3
        colours[i] = (r, g, b)
    return colours


def unique_stems(names: list[str]) -> list[str]:
    """A distinct file stem per input (images in memory are named SOURCE[ROW])."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        stem = Path(name).stem if "[" not in name else name.replace("[", "_").replace("]", "")
        seen[stem] = seen.get(stem, 0) + 1
        out.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return out
