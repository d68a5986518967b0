"""FCOS (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection"): what a detector's
outputs mean, how they are trained and how they become boxes.

Every feature-map location is a point; a point inside an object's centre region (1.5 strides
around the box centre), on the level whose size range holds the object, predicts that object:
its class (sigmoid focal loss), the distances to the box's four sides (GIoU loss, weighted by the
centre-ness target) and the centre-ness itself (BCE). Anchor-free, so nothing to tune per dataset
but the level ranges, which are FCOS's own. Decoding scores points by sqrt(class x centre-ness),
keeps the best candidates and runs class-aware NMS. All batched over images in torch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

RANGES = ((0.0, 64.0), (64.0, 128.0), (128.0, float("inf")))  # object size (max side distance) per level
CENTRE_RADIUS = 1.5  # strides around the box centre whose points may be positives
CANDIDATE_SCORE = 0.05  # lowest score decoded (what COCO mAP is computed over)
PRE_NMS = 1000  # candidates per image before NMS
NMS_IOU = 0.6


def points(sides: list[tuple[int, int]], strides: list[int], device=None) -> tuple[torch.Tensor, torch.Tensor,
                                                                                     torch.Tensor]:
    """Centres [L, 2] of every location of maps of `sides` (h, w), their strides [L] and size ranges [L, 2]."""
    centres, stride_of, ranges = [], [], []
    for (h, w), stride, (lo, hi) in zip(sides, strides, RANGES):
        ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
        centres.append(torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float().add_(0.5).mul_(stride))
        stride_of.append(torch.full((h * w,), float(stride), device=device))
        ranges.append(torch.tensor([lo, hi], device=device).expand(h * w, 2))
    return torch.cat(centres), torch.cat(stride_of), torch.cat(ranges)


def targets(centres, strides, ranges, boxes, labels, valid):
    """Per image and point: the class to predict (-1: background) [B, L] and the box [B, L, 4].

    boxes [B, M, 4] (x1, y1, x2, y2), labels [B, M], valid [B, M] (padding is False)."""
    x, y = centres[None, :, None, 0], centres[None, :, None, 1]  # [1, L, 1]
    b = boxes[:, None]  # [B, 1, M, 4]
    sides = torch.stack([x - b[..., 0], y - b[..., 1], b[..., 2] - x, b[..., 3] - y], -1)  # [B, L, M, 4]
    cx, cy = (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2
    radius = (CENTRE_RADIUS * strides)[None, :, None]
    near = ((x - cx).abs() < radius) & ((y - cy).abs() < radius)
    reach = sides.max(-1).values
    fits = (reach >= ranges[None, :, None, 0]) & (reach <= ranges[None, :, None, 1])
    candidate = (sides.min(-1).values > 0) & near & fits & valid[:, None]
    area = ((b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])).expand_as(candidate)
    area = torch.where(candidate, area, torch.full_like(area, float("inf")))
    smallest, which = area.min(-1)  # an ambiguous point predicts its smallest object
    cls = torch.where(torch.isfinite(smallest), labels.gather(1, which), torch.full_like(which, -1))
    box = boxes.gather(1, which[..., None].expand(-1, -1, 4))
    return cls, box


def corners(centres, distances):
    """Points [.., L, 2] and side distances [.., L, 4] (left, top, right, bottom) -> boxes (x1, y1, x2, y2)."""
    return torch.cat([centres - distances[..., :2], centres + distances[..., 2:]], -1)


def giou_loss(a, b):
    """1 - generalised IoU of paired boxes [N, 4]."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = (torch.min(a[:, 2:], b[:, 2:]) - torch.max(a[:, :2], b[:, :2])).clamp(min=0)
    inter = wh[:, 0] * wh[:, 1]
    union = area_a + area_b - inter
    hull = (torch.max(a[:, 2:], b[:, 2:]) - torch.min(a[:, :2], b[:, :2])).clamp(min=0)
    enclosing = hull[:, 0] * hull[:, 1]
    iou = inter / union.clamp(min=1e-6)
    return 1 - (iou - (enclosing - union) / enclosing.clamp(min=1e-6))


def fcos_loss(outputs: dict, centres, strides, ranges, boxes, labels, valid) -> torch.Tensor:
    """FCOS's loss of one batch: focal (over every point) + GIoU weighted by centre-ness + centre-ness
    BCE (over the positives), normalised by the number of positives."""
    logits, distances, centreness = outputs["logits"].float(), outputs["distances"].float(), outputs["centreness"].float()
    cls, box = targets(centres, strides, ranges, boxes, labels, valid)
    positive = cls >= 0
    count = positive.sum().clamp(min=1).float()
    onehot = F.one_hot(cls.clamp(min=0), logits.shape[-1]).float() * positive[..., None]
    cls_loss = focal_loss(logits, onehot).sum() / count
    if not positive.any():
        return cls_loss + 0 * (distances.sum() + centreness.sum())
    p = centres.expand(len(cls), -1, -1)[positive]
    truth = box[positive]
    sides = torch.cat([p - truth[:, :2], truth[:, 2:] - p], -1)
    centre_target = torch.sqrt((sides[:, [0, 2]].min(-1).values / sides[:, [0, 2]].max(-1).values) *
                               (sides[:, [1, 3]].min(-1).values / sides[:, [1, 3]].max(-1).values))
    box_loss = (giou_loss(corners(p, distances[positive]), truth) * centre_target).sum() / \
        centre_target.sum().clamp(min=1e-6)
    centre_loss = F.binary_cross_entropy_with_logits(centreness[positive], centre_target, reduction="sum") / count
    return cls_loss + box_loss + centre_loss


def focal_loss(logits, targets, alpha: float = 0.25, gamma: float = 2.0):
    """Sigmoid focal loss (Lin et al.), elementwise."""
    p = torch.sigmoid(logits)
    ce = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    p_t = p * targets + (1 - p) * (1 - targets)
    return (alpha * targets + (1 - alpha) * (1 - targets)) * ce * (1 - p_t) ** gamma


def box_iou(a, b):
    """IoU matrix of boxes [N, 4] and [M, 4]."""
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = (torch.min(a[:, None, 2:], b[None, :, 2:]) - torch.max(a[:, None, :2], b[None, :, :2])).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    return inter / (area_a[:, None] + area_b[None] - inter).clamp(min=1e-6)


def batched_nms(boxes, scores, classes, iou: float = NMS_IOU):
    """Indices kept by greedy NMS run per class (boxes of different classes never suppress each
    other: each class is shifted to its own region), best score first."""
    if len(boxes) == 0:
        return torch.zeros(0, dtype=torch.long, device=boxes.device)
    shifted = boxes + (classes.float() * (boxes.max() + 1))[:, None]
    order = scores.argsort(descending=True)
    overlaps = (box_iou(shifted[order], shifted[order]) > iou).cpu().numpy()
    suppressed = [False] * len(order)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        for j in overlaps[i, i + 1:].nonzero()[0]:
            suppressed[i + 1 + j] = True
    return order[torch.tensor(keep, dtype=torch.long, device=boxes.device)]


def decode(outputs: dict, centres, side: int, max_detections: int) -> torch.Tensor:
    """Detections per image [B, max_detections, 6] (x1, y1, x2, y2, score, class) in the input's
    pixels, best first; unused rows are zeros with class -1."""
    scores = torch.sqrt(torch.sigmoid(outputs["logits"].float()) * torch.sigmoid(outputs["centreness"].float())[..., None])
    boxes = corners(centres, outputs["distances"].float()).clamp(0, side)
    out = torch.zeros(len(scores), max_detections, 6, device=scores.device)
    out[..., 5] = -1
    k = scores.shape[-1]
    for i in range(len(scores)):
        flat = scores[i].reshape(-1)
        top = flat.topk(min(PRE_NMS, len(flat))).indices
        top = top[flat[top] > CANDIDATE_SCORE]
        point, cls = top // k, top % k
        found = boxes[i][point]
        wide = (found[:, 2] - found[:, 0] > 0) & (found[:, 3] - found[:, 1] > 0)
        top, point, cls, found = top[wide], point[wide], cls[wide], found[wide]
        kept = batched_nms(found, flat[top], cls)[:max_detections]
        n = len(kept)
        out[i, :n, :4], out[i, :n, 4], out[i, :n, 5] = found[kept], flat[top][kept], cls[kept].float()
    return out
