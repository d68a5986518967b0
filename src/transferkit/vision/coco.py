"""COCO box mAP through pycocotools (the reference implementation), from arrays in memory."""

from __future__ import annotations

import contextlib
import io
from typing import Sequence

import numpy as np

from ..errors import ConfigError


def coco_map(truth: Sequence[tuple[np.ndarray, np.ndarray]], detections: Sequence[np.ndarray],
             sizes: Sequence[tuple[int, int]], class_names: Sequence[str]) -> dict:
    """mAP@[.5:.95], mAP@.5, mAP@.75 and AP@.5 per class.

    truth: per image (boxes [n, 4] x1 y1 x2 y2, class ids [n]); detections: per image [m, 6]
    (x1, y1, x2, y2, score, class id); both in the image's own pixels."""
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise ConfigError("detection metrics need pycocotools: pip install 'transferkit[detection]'") from None

    images = [{"id": i + 1, "width": int(w), "height": int(h)} for i, (w, h) in enumerate(sizes)]
    annotations = []
    for i, (boxes, labels) in enumerate(truth):
        for (x1, y1, x2, y2), c in zip(np.asarray(boxes, dtype=float), labels):
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": int(c) + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "area": (x2 - x1) * (y2 - y1), "iscrowd": 0})
    rows = [[i + 1, d[0], d[1], d[2] - d[0], d[3] - d[1], d[4], d[5] + 1]
            for i, found in enumerate(detections) for d in np.asarray(found, dtype=float)]
    empty = {"map": 0.0, "map_50": 0.0, "map_75": 0.0, "per_class_ap50": {}}
    if not annotations or not rows:
        return empty
    gt = COCO()
    gt.dataset = {"images": images, "annotations": annotations,
                  "categories": [{"id": k + 1, "name": n} for k, n in enumerate(class_names)]}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress and tables
        gt.createIndex()
        found = gt.loadRes(np.asarray(rows, dtype=np.float64))
        evaluation = COCOeval(gt, found, "bbox")
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    stats = evaluation.stats
    precision = evaluation.eval["precision"]  # [iou thresholds, recall, class, area, max detections]
    per_class = {}
    for k, name in enumerate(class_names):
        p = precision[0, :, k, 0, -1]
        if (p > -1).any():
            per_class[name] = round(float(p[p > -1].mean()), 6)
    return {"map": max(float(stats[0]), 0.0), "map_50": max(float(stats[1]), 0.0), "map_75": max(float(stats[2]), 0.0),
            "per_class_ap50": per_class}
