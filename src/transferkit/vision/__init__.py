"""Image classification: backbones with packaged ImageNet weights, image data, augmentation.

    from transferkit.vision import create_backbone, list_backbones
    model = create_backbone("mobilenet-v2", num_classes=10)

Modules: backbone.py (the ImageBackbone interface), registry.py (`@register_backbone`,
`create_backbone`, timm:NAME), mobilenet.py, efficientnet.py, images.py (decoding and data
formats), augment.py (training-time transforms), runs.py (predictors, image probe).
Importing this package loads torch; the CLI imports it inside commands only.
"""

from .backbone import ImageBackbone, InputSpec, LayerGroup
from .registry import create_backbone, is_backbone, list_backbones, register_backbone

__all__ = ["ImageBackbone", "InputSpec", "LayerGroup", "create_backbone", "is_backbone", "list_backbones",
           "register_backbone"]
