"""Settings every image task shares: how images are read and sized, where the backbone starts
from, the geometric augmentation (classification adds colour and mixing; segmentation moves the
masks with the pixels)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..settings import Settings


class ImageInput(Settings):
    image_size: int | None = Field(None, ge=16, le=1024, description="Images: crop size in pixels (default: the "
                                                                      "backbone's).")
    image_column: str | None = Field(None, description="Images: column of a table holding the image paths "
                                                       "(detected when unset).")
    bad_images: Literal["skip", "error"] = Field("skip", description="Images: skip unreadable images with a warning, "
                                                                     "or stop.")


class AnnotationInput(Settings):
    fix_annotations: bool = Field(False, description="Segmentation and detection: repair bad annotations instead of "
                                                     "stopping (masks resized to their image, boxes clipped, unknown "
                                                     "classes ignored or dropped), with a count.")


class BackboneStart(Settings):
    pretrained: bool = Field(True, description="Images: start from the pretrained weights (--no-pretrained: random "
                                               "init).")
    weights: str | None = Field(None, description="Images: a state-dict file (safetensors, or .pth read with "
                                                  "weights_only) with the backbone's torchvision names, to start from.")


class GeometricAugment(Settings):
    image_augment: bool = Field(True, description="Images: augment training batches (crop, flip, colour, ...).")
    crop_scale: float = Field(0.35, gt=0, le=1, description="Images: smallest random-resized-crop area (1: no crop).")
    hflip: bool = Field(True, description="Images: random horizontal flips (turn off for digits or text).")
