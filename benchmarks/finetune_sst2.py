"""Fine-tune minilm-l6 on SST-2: transferkit against HF Trainer in one run, then the strategies.

    .venv/bin/python benchmarks/finetune_sst2.py                    # full train set, 1 epoch each
    .venv/bin/python benchmarks/finetune_sst2.py --epochs 3 --train-limit 20000

1. transferkit `finetune` (its defaults: length-grouped batches, cached tokens, bf16 autocast
   where the CPU has it) and HF Trainer as its docs set it up (DataCollatorWithPadding, random
   batches, default precision) with the same model, hyper-parameters and epochs. Each runs in
   its own process so peak RSS is its own.
2. Every strategy on one fixed budget (a seeded subset, one epoch), side by side.
Results: benchmarks/results/finetune_sst2.json.
"""

from __future__ import annotations

import argparse
import time

from _common import in_child, peak_rss_mb, save, sst2_dir

# Learning rates per strategy: what trains decides the step size that works (a frozen encoder
# tolerates a much larger head LR; LoRA adapters start at zero and need a larger LR).
STRATEGY_SETTINGS = {
    "full": {"lr": 1e-4},
    "head-only": {"lr": 2e-3},
    "top-k": {"lr": 1e-4, "top_k": 2},
    "gradual-unfreeze": {"lr": 1e-4, "unfreeze_every": 1, "unfreeze_unit": "step"},
    "llrd": {"lr": 1e-4, "llrd": 0.8},
    "lora": {"lr": 5e-4, "lora_r": 8},
}


def _splits(limit: int | None, seed: int):
    import pandas as pd

    data = sst2_dir()
    train = pd.read_csv(data / "train.tsv", sep="\t", quoting=3)
    val = pd.read_csv(data / "validation.tsv", sep="\t", quoting=3)
    if limit and limit < len(train):
        train = train.sample(n=limit, random_state=seed)
    return (train["sentence"].astype(str).tolist(), train["label"].tolist(),
            val["sentence"].astype(str).tolist(), val["label"].tolist())


def run_transferkit(args, strategy="full", settings=None, limit=None, epochs=None) -> dict:
    import transferkit as tk

    tr_x, tr_y, va_x, va_y = _splits(limit or args.train_limit, args.seed)
    hp = {"epochs": epochs or args.epochs, "batch_size": args.batch_size, "lr": args.lr,
          "max_length": args.max_length, "seed": args.seed, "warmup_ratio": args.warmup_ratio,
          "precision": args.precision, "progress": False,
          **({"batch_tokens": args.batch_tokens} if args.batch_tokens else {}),
          **({"freeze_embeddings": True} if args.freeze_embeddings else {}), **(settings or {})}
    t0 = time.perf_counter()
    run = tk.finetune(args.model, (tr_x, tr_y), (va_x, va_y), strategy=strategy, **hp)
    total = time.perf_counter() - t0
    info, n = run.info, len(tr_x)
    return {"strategy": strategy, "settings": hp, "train_examples": n, "precision": info["precision"],
            "train_seconds": info["train_seconds"], "seconds_per_epoch": info["train_seconds"] / hp["epochs"],
            "samples_per_s": n * info["epochs_completed"] / info["train_seconds"], "steps": info["steps"],
            "total_seconds": round(total, 1), "validation_accuracy": run.metrics["validation"]["accuracy"],
            "parameters": info["parameters"],
            "trainable_parameters_first_step": info["trainable_parameters"], "peak_rss_mb": peak_rss_mb()}


def run_hf_trainer(args) -> dict:
    import transferkit as tk

    from hf_baseline import hf_trainer_text_classification

    tr_x, tr_y, va_x, va_y = _splits(args.train_limit, args.seed)
    out = hf_trainer_text_classification(
        tk.resolve_model(args.model).path, tr_x, tr_y, va_x, va_y, num_labels=2, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, max_length=args.max_length, seed=args.seed,
        warmup_ratio=args.warmup_ratio)
    return {"train_examples": len(tr_x), "precision": "fp32", **out, "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--batch-tokens", type=int, default=None, help="transferkit: a token budget per batch instead")
    ap.add_argument("--freeze-embeddings", action="store_true", help="transferkit: keep the token table fixed")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--train-limit", type=int, default=None, help="seeded subset of the train set (default: all)")
    ap.add_argument("--strategy-budget", type=int, default=8000, help="train examples per strategy run (0: skip)")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--name", default="finetune_sst2", help="results file name (benchmarks/results/NAME.json)")
    args = ap.parse_args()

    result: dict = {"model": args.model, "settings": vars(args)}
    result["transferkit"] = in_child(run_transferkit, args)
    print("transferkit", result["transferkit"], flush=True)
    if not args.skip_hf:
        result["hf_trainer"] = hf = in_child(run_hf_trainer, args)
        print("hf_trainer", hf, flush=True)
        tk_row = result["transferkit"]
        result["speedup_vs_hf_trainer"] = hf["seconds_per_epoch"] / tk_row["seconds_per_epoch"]
        result["accuracy_delta_pt"] = 100 * (tk_row["validation_accuracy"] - hf["validation_accuracy"])
    if args.strategy_budget:
        rows = []
        for strategy, settings in STRATEGY_SETTINGS.items():
            rows.append(in_child(run_transferkit, args, strategy, settings, args.strategy_budget, 1))
            print(strategy, rows[-1], flush=True)
        result["strategies"] = {"train_examples": args.strategy_budget, "epochs": 1, "rows": rows}
    save(args.name, result)


if __name__ == "__main__":
    main()
