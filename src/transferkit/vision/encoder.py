"""A frozen image backbone as a feature extractor: decoded images -> pooled features, through the
engine's one inference loop (the evaluation crop, on the backbone's device)."""

from __future__ import annotations

import numpy as np

from .decode import DecodedImages


class ImageEncoder:
    def __init__(self, backbone, batch_size: int = 64):
        import torch

        self.backbone, self.batch_size, self.input_spec = backbone.eval(), batch_size, backbone.input_spec
        self.backbone.to(memory_format=torch.channels_last)

    @classmethod
    def from_ref(cls, model: str, image_size: int | None = None, batch_size: int = 64) -> ImageEncoder:
        from .backbones import backbone_from_ref

        backbone = backbone_from_ref(model)
        backbone.input_spec = backbone.input_spec.resized(image_size)
        return cls(backbone, batch_size)

    def features(self, dataset: DecodedImages, description: str | None = None) -> np.ndarray:
        """float32 [len(dataset), num_features], in dataset order."""
        import torch

        from ..engine.inference import predict
        from .augment import eval_batch

        spec = self.input_spec

        def collate(data: DecodedImages, indices) -> dict:
            return {"pixel_values": eval_batch(torch.from_numpy(data.pixels[np.asarray(indices)]), spec)}

        return predict(self.backbone, dataset, collate, lambda model, batch: model.forward_features(batch["pixel_values"]),
                       batch_size=self.batch_size, description=description)
