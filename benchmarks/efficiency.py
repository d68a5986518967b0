"""How close training runs to the machine's matmul peak (issue 17).

    .venv/bin/python benchmarks/efficiency.py                 # all four runs, ~6 min on 2 cores
    .venv/bin/python benchmarks/efficiency.py --only sst2-minilm-l6

In one run, on a quiet machine:
1. the peak: a 2048^3 matmul in bf16 and in fp32 on all intra-op threads (median of 10), and the
   same for the GEMM shapes a minilm-l6 batch really has (batch tokens x 384 x 1536, forward and
   both backward products): the roofline for short sequences;
2. training throughput of `tk.finetune` at default settings (1 epoch), in useful FLOP/s:
   - transformers: 6 x N (parameters outside the embeddings) per real token, plus attention
     (QK^T and AV: 12 x T x d per token per layer, forward + backward), tokens without padding;
   - MobileNetV2: 3 x the forward FLOPs of one image (torch's FlopCounterMode) per image;
   measured in the loop's own log records (tokens/s, samples/s; the first record, warm-up, is
   dropped), so start-up and evaluation are not in it;
3. the fraction of peak (the peak of the precision the run trained in);
4. a torch.profiler breakdown of one minilm-l6 training step at SST-2's shape: what bounds it.

Runs: minilm-l6 on 4,000 SST-2 sentences, minilm-l6 on 2,000 CoNLL-2003 sentences, mpnet-base on
1,000 SST-2 sentences, MobileNetV2 on 5,000 Fashion-MNIST images at 64 px (lr 2e-3, as
image_fashion_mnist.py). Results: benchmarks/results/efficiency.json.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from transferkit.engine.callbacks import Callback

from _common import SHARED, in_child, save, sst2_dir

RUNS = ("sst2-minilm-l6", "conll-minilm-l6", "sst2-mpnet-base", "fashion-mobilenet-v2")


def _median_seconds(fn, repeats: int = 10) -> float:
    fn()  # warm-up: thread pool, kernel choice
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def matmul_gflops(m: int, k: int, n: int, dtype: str, repeats: int = 10) -> float:
    import torch

    dt = getattr(torch, dtype)
    a, b = torch.randn(m, k, dtype=dt), torch.randn(k, n, dtype=dt)
    return 2 * m * k * n / _median_seconds(lambda: torch.mm(a, b), repeats) / 1e9


def linear_train_gflops(tokens: int, d_in: int, d_out: int, dtype: str) -> float:
    """One Linear layer's three training GEMMs (forward, grad input, grad weight) at a batch's
    real shape: the best a step of short sequences can hope for."""
    import torch

    dt = getattr(torch, dtype)
    x, w, g = torch.randn(tokens, d_in, dtype=dt), torch.randn(d_out, d_in, dtype=dt), torch.randn(tokens, d_out, dtype=dt)

    def step():
        torch.mm(x, w.t())
        torch.mm(g, w)
        torch.mm(g.t(), x)

    return 3 * 2 * tokens * d_in * d_out / _median_seconds(step) / 1e9


def peaks() -> dict:
    return {"bf16_2048": round(matmul_gflops(2048, 2048, 2048, "bfloat16"), 1),
            "fp32_2048": round(matmul_gflops(2048, 2048, 2048, "float32"), 1)}


def step_profile(batch: int = 32, tokens: int = 14, steps: int = 10) -> dict:
    """Where one minilm-l6 training step at SST-2's shape spends its time (torch.profiler, bf16
    autocast, fused AdamW, as the engine trains): ms per step of the top operators."""
    import torch
    from torch.profiler import ProfilerActivity, profile
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                        intermediate_size=1536, num_labels=2)
    model = BertForSequenceClassification(config).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    ids, labels = torch.randint(1000, 20000, (batch, tokens)), torch.randint(0, 2, (batch,))

    def step():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = model(input_ids=ids, attention_mask=torch.ones_like(ids), labels=labels).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    return {"step_ms": round(total / steps / 1000, 1), "batch": [batch, tokens],
            "top_ops": {e.key: {"ms_per_step": round(e.self_cpu_time_total / steps / 1000, 2),
                                "share": round(e.self_cpu_time_total / total, 3)} for e in events[:10]}}


class LogRecords(Callback):
    """Collects the loop's log records (tokens/s, samples/s)."""

    def __init__(self):
        self.records: list[dict] = []

    def on_log(self, state, record):
        self.records.append(record)


def _steady(records: list[dict], key: str) -> float:
    values = [r[key] for r in records[1:]] or [r[key] for r in records]
    return statistics.median(values)


def _transformer_shape(model_dir: str) -> tuple[int, int, int]:
    """(parameters outside the embeddings, hidden size, layers) of an encoder."""
    from transformers import AutoConfig, AutoModel

    config = AutoConfig.from_pretrained(model_dir)
    model = AutoModel.from_config(config)
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embeddings" in name)
    total = sum(p.numel() for p in model.parameters())
    return total - embedding, config.hidden_size, config.num_hidden_layers


def _lengths(model_dir: str, texts, max_length: int, words: bool) -> list[int]:
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    enc = tok(list(texts), truncation=True, max_length=max_length, is_split_into_words=words)
    return [len(ids) for ids in enc["input_ids"]]


def text_run(name: str, model: str, limit: int, work: Path) -> dict:
    import pandas as pd

    import transferkit as tk

    model_dir = str(tk.resolve_model(model).path)
    logs = LogRecords()
    settings = {"epochs": 1, "progress": False, "overwrite": True}
    if name.startswith("conll"):
        from transferkit.tasks.token_classification.data import load_ner_splits

        data = load_ner_splits(str(SHARED / "conll2003"))
        train = data.train.subset(list(range(limit)))
        run = tk.finetune(model, train, data.validation, task="token-classification", output=str(work / "run"),
                          callbacks=[logs], **settings)
        lengths = _lengths(model_dir, [list(s) for s in train.tokens], getattr(run.config, "max_length", 128), True)
    else:
        frame = pd.read_csv(sst2_dir() / "train.tsv", sep="\t", quoting=3).sample(frac=1.0, random_state=42)
        train = work / "train.tsv"
        frame.iloc[:limit].to_csv(train, sep="\t", index=False, quoting=3)
        run = tk.finetune(model, str(train), str(sst2_dir() / "validation.tsv"), output=str(work / "run"),
                          callbacks=[logs], **settings)
        lengths = _lengths(model_dir, frame.iloc[:limit]["sentence"].astype(str), getattr(run.config, "max_length", 128),
                           False)
    non_embedding, hidden, layers = _transformer_shape(model_dir)
    mean_t = statistics.fmean(lengths)
    attention_t = sum(t * t for t in lengths) / sum(lengths)  # token-weighted mean sequence length
    flop_per_token = 6 * non_embedding + 12 * attention_t * hidden * layers
    tokens_per_s = _steady(logs.records, "tokens_per_s")
    return {"model": model, "examples": limit, "precision": run.info["precision"],
            "batch_size": getattr(run.config, "batch_size", None), "mean_tokens": round(mean_t, 1),
            "non_embedding_parameters": non_embedding, "flop_per_token": round(flop_per_token),
            "samples_per_s": round(_steady(logs.records, "samples_per_s"), 1), "tokens_per_s": round(tokens_per_s, 1),
            "useful_gflops": round(tokens_per_s * flop_per_token / 1e9, 1), "train_seconds": run.info["train_seconds"],
            "validation": {k: v for k, v in run.metrics["validation"].items() if isinstance(v, float)}}


def image_run(limit: int, work: Path) -> dict:
    import numpy as np
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    import transferkit as tk
    from transferkit.vision.images import load_images

    train = load_images("fashion_mnist:train")
    rng = np.random.default_rng(0)
    pool = rng.permutation(len(train))
    names = np.array(train.label_map.names)
    pick = lambda idx: (train.items[idx], names[train.labels[idx]].tolist())
    logs = LogRecords()
    size = 64
    run = tk.finetune("mobilenet-v2", pick(pool[:limit]), pick(pool[limit:limit + 1000]), task="image-classification",
                      image_size=size, lr=2e-3, epochs=1, batch_size=64, progress=False, callbacks=[logs],
                      output=str(work / "run"), overwrite=True)
    from transferkit.vision.backbones import create_backbone

    net = create_backbone("mobilenet-v2", pretrained=False, num_classes=10)
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        net(torch.zeros(1, 3, size, size))
    flop_per_image = 3 * counter.get_total_flops()
    images_per_s = _steady(logs.records, "samples_per_s")
    return {"model": "mobilenet-v2", "examples": limit, "image_size": size, "precision": run.info["precision"],
            "flop_per_image": flop_per_image, "samples_per_s": round(images_per_s, 1),
            "useful_gflops": round(images_per_s * flop_per_image / 1e9, 1), "train_seconds": run.info["train_seconds"],
            "validation": {k: v for k, v in run.metrics["validation"].items() if isinstance(v, float)}}


def one(name: str, scale: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="tk-efficiency-") as work:
        if name == "fashion-mobilenet-v2":
            return image_run(int(5000 * scale), Path(work))
        model, limit = {"sst2-minilm-l6": ("minilm-l6", 4000), "conll-minilm-l6": ("minilm-l6", 2000),
                        "sst2-mpnet-base": ("mpnet-base", 1000)}[name]
        return text_run(name, model, int(limit * scale), Path(work))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", choices=RUNS, default=list(RUNS))
    ap.add_argument("--scale", type=float, default=1.0, help="data sizes times this (0.05: a smoke run)")
    ap.add_argument("--name", default="efficiency")
    args = ap.parse_args()

    peak = in_child(peaks)
    print("peak GFLOP/s", peak, flush=True)
    runs: dict = {}
    for name in args.only:
        runs[name] = in_child(one, name, args.scale)
        row = runs[name]
        # bf16 runs against the bf16 peak, fp32 runs against the fp32 one
        row["peak_gflops"] = peak["bf16_2048"] if row["precision"] == "bf16" else peak["fp32_2048"]
        row["fraction_of_peak"] = round(row["useful_gflops"] / row["peak_gflops"], 3)
        if "mean_tokens" in row:  # the roofline of this run's real GEMM shapes (FFN up-projection)
            batch_tokens = round(row["batch_size"] * row["mean_tokens"])
            dtype = "bfloat16" if row["precision"] == "bf16" else "float32"
            hidden = 768 if "mpnet" in name else 384
            row["batch_tokens"] = batch_tokens
            row["ffn_gemm_gflops_at_batch_shape"] = round(in_child(linear_train_gflops, batch_tokens, hidden, 4 * hidden,
                                                                   dtype), 1)
            row["fraction_of_shape_peak"] = round(row["useful_gflops"] / row["ffn_gemm_gflops_at_batch_shape"], 3)
        print(name, row, flush=True)
    profile = in_child(step_profile)
    print("profile", profile, flush=True)
    save(args.name, {"peak_gflops": peak, "runs": runs, "minilm_l6_step_profile": profile,
                     "goal": "fraction_of_peak >= 0.5 for the transformer runs at default settings"})


if __name__ == "__main__":
    main()
