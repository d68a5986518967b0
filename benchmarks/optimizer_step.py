"""One AdamW step over minilm-l6's parameters (random weights of its shapes): torch's foreach default
against the fused kernel that `engine.optim.build_optimizer` picks, and how far the weights drift apart.

    .venv/bin/python benchmarks/optimizer_step.py           # -> benchmarks/results/optimizer_step.json
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from transformers import BertConfig, BertModel

from _common import save

MINILM_L6 = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                 intermediate_size=1536)


def timed_steps(steps: int, **adamw) -> tuple[float, list[torch.Tensor]]:
    torch.manual_seed(0)
    params = list(BertModel(BertConfig(**MINILM_L6)).parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    optimizer = torch.optim.AdamW(params, lr=1e-3, **adamw)
    for _ in range(3):
        optimizer.step()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        optimizer.step()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000, [p.detach() for p in params]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=20)
    args = ap.parse_args()
    foreach_ms, foreach_params = timed_steps(args.steps, foreach=True)
    fused_ms, fused_params = timed_steps(args.steps, fused=True)
    drift = max((a - b).abs().max().item() for a, b in zip(foreach_params, fused_params))
    save("optimizer_step", {
        "parameters": sum(p.numel() for p in fused_params), "steps": args.steps,
        "foreach_ms_per_step_median": round(foreach_ms, 2), "fused_ms_per_step_median": round(fused_ms, 2),
        "speedup": round(foreach_ms / fused_ms, 2), "max_abs_weight_difference": drift,
    })


if __name__ == "__main__":
    main()
