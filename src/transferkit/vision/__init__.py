"""Images: backbones with packaged ImageNet weights, image data, decoding, augmentation, and
segmentation and detection on the backbones' feature maps.

    from transferkit.vision import create_backbone, list_backbones
    model = create_backbone("mobilenet-v2", num_classes=10)

| module | what |
| --- | --- |
| `backbone.py` | the one `ImageBackbone` interface (features, head, `reset_head`, layer groups), `InputSpec` |
| `backbones.py` | the backbone registry (`@register_backbone`, `create_backbone`, packaged weights) |
| `mobilenet.py`, `efficientnet.py`, `timm.py` | the architectures (torchvision / efficientnet_pytorch names), timm:NAME |
| `images.py` | image sources: ImageFolder, tables of paths, IDX, arrays; the split reader |
| `decode.py` | every image decoded once into uint8 squares (bad images skipped or named) |
| `augment.py` | training transforms from a seeded generator (image + mask or boxes for dense tasks); the evaluation crop |
| `models.py` | how a trained image model is saved and reloaded |
| `options.py` | the settings every image task shares |
| `masks.py` | images with segmentation masks: layouts (images/+masks/, VOC, tables), checks, decoding |
| `segmentation.py` | `SegmentationModel` (backbone maps + LR-ASPP decoder) and its save format |
| `boxes.py` | images with labelled boxes: COCO JSON, Pascal VOC XML, YOLO txt, in memory; checks, decoding |
| `detection.py` | `DetectionModel` (backbone maps + FPN + FCOS head) and its save format |
| `fcos.py` | FCOS targets, loss (focal, GIoU, centre-ness), decoding and class-aware NMS |
| `coco.py` | COCO mAP through pycocotools |
| `craft.py` | the CRAFT text detector (packaged weights, CRAFT-pytorch names) and its word boxes |

Names resolve lazily: importing this package does not load torch.
"""

from importlib import import_module

_LAZY = {"ImageBackbone": "backbone", "InputSpec": "backbone", "LayerGroup": "backbone",
         "create_backbone": "backbones", "is_backbone": "backbones", "list_backbones": "backbones",
         "register_backbone": "backbones", "BACKBONES": "backbones"}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
