"""Distillation losses. All are means over the positions that carry a target, in fp32.

* soft labels (Hinton et al. 2015): KL(teacher || student) of the softmaxes at temperature T,
  times T^2 so its gradients keep their size as T changes;
* hard labels: cross-entropy on the gold labels, ignoring -100 (unlabelled examples);
* hidden states (TinyBERT / FitNets): MSE between the projected student hidden states and the
  teacher's on mapped layers;
* attention maps (MiniLM): KL between the head-averaged attention distributions per query.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def _masked_mean(values: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    if mask is None:
        return values.mean()
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp(min=1)


def soft_label_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float,
                    mask: torch.Tensor | None = None) -> torch.Tensor:
    log_p = F.log_softmax(student_logits.float() / temperature, dim=-1)
    log_q = F.log_softmax(teacher_logits.float() / temperature, dim=-1)
    kl = (log_q.exp() * (log_q - log_p)).sum(-1)
    return _masked_mean(kl, mask) * temperature ** 2


def hard_label_loss(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy over labelled positions; 0 (not NaN) for a batch of unlabelled examples,
    computed without a host sync."""
    labels = labels.to(logits.device).flatten()
    total = F.cross_entropy(logits.float().flatten(0, -2), labels, ignore_index=IGNORE, reduction="sum",
                            label_smoothing=label_smoothing)
    return total / (labels != IGNORE).sum().clamp(min=1)


def hidden_state_loss(student: list[torch.Tensor], teacher: list[torch.Tensor],
                      mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean over the mapped layer pairs of the per-position MSE ([B, L, H] with a [B, L] mask, or [B, H])."""
    losses = [_masked_mean(((s.float() - t.float()) ** 2).mean(-1), mask) for s, t in zip(student, teacher)]
    return torch.stack(losses).mean()


def attention_loss(student: list[torch.Tensor], teacher: list[torch.Tensor], mask: torch.Tensor,
                   eps: float = 1e-8) -> torch.Tensor:
    """KL(teacher || student) of [B, heads, L, L] attention maps averaged over heads (head counts
    may differ), per query position, over the real (unpadded) queries."""
    losses = []
    for s, t in zip(student, teacher):
        p, q = s.float().mean(1), t.float().mean(1)
        kl = (q * (torch.log(q + eps) - torch.log(p + eps))).sum(-1)
        losses.append(_masked_mean(kl, mask))
    return torch.stack(losses).mean()
