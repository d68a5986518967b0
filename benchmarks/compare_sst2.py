"""Which model and method for SST-2? `transferkit compare` over 8 candidates on one machine (issue 16).

    .venv/bin/python benchmarks/compare_sst2.py              # ~35 min on 2 cores; resumable
    .venv/bin/python benchmarks/compare_sst2.py --epochs 3   # transferkit's default epochs (~1.5 h)

8,000 shuffled SST-2 training sentences (seed 42), scored on the validation set (872):
minilm-l3, minilm-l6 and mpnet-base each as a linear probe and as a fine-tune, LoRA on
minilm-l6, and a 3-layer student distilled from the mpnet-base fine-tune. Every setting is
transferkit's default except `--epochs` (1 here, to fit a session; the same for every
fine-tune). compare trains each candidate in its own process and measures them all the same
way (2 threads, fp32, batch-1 latency of end-to-end predictions, batch-32 throughput). Then the
recommendation for 5 ms and 20 ms budgets, from the same rows. Also: the cost of compare itself,
its wall time against the sum of the candidates' training wall times.

Results: benchmarks/results/compare_sst2.json, compare_sst2_pareto.png; the comparison folder
(resumable: a finished candidate is not trained again) under $COMPARE_SST2_DIR
(default /tmp/transferkit-compare-sst2).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from _common import RESULTS, save, sst2_dir

WORK = Path(os.environ.get("COMPARE_SST2_DIR", "/tmp/transferkit-compare-sst2"))


def candidates(epochs: int) -> list[str]:
    ft = f"finetune:epochs={epochs}"
    return ["minilm-l3:probe", f"minilm-l3:{ft}", "minilm-l6:probe", f"minilm-l6:{ft}",
            f"minilm-l6:{ft},strategy=lora", "mpnet-base:probe", f"mpnet-base:{ft}",
            f"distill:teacher=mpnet-base:{ft},student=from-teacher:3,epochs={epochs}"]


def train_subset(n: int) -> Path:
    import pandas as pd

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"train_{n}.tsv"
    if not path.is_file():
        frame = pd.read_csv(sst2_dir() / "train.tsv", sep="\t", quoting=3).sample(frac=1.0, random_state=42)
        frame.iloc[:n].to_csv(path, sep="\t", index=False, quoting=3)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--train-limit", type=int, default=8000)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    from transferkit.methods.compare import compare
    from transferkit.methods.compare.ranking import recommend

    train = train_subset(args.train_limit)
    validation = sst2_dir() / "validation.tsv"
    folder = WORK / f"cmp-e{args.epochs}"
    doc = compare(candidates(args.epochs), folder, train=str(train), validation=str(validation),
                  threads=args.threads, echo=lambda line: print(line, flush=True))
    rows = doc["candidates"]
    budgets = {f"{ms} ms": recommend(rows, max_latency_ms=ms) for ms in (5, 20)}
    training = doc["training_seconds"]
    measured = [r for r in rows if not r.get("error")]
    result = {
        "settings": {"train": args.train_limit, "validation": 872, "epochs": args.epochs, "threads": args.threads,
                     "candidates": candidates(args.epochs)},
        "leaderboard": [{k: r.get(k) for k in ("candidate", "score", "ci_low", "ci_high", "macro_f1", "parameters",
                                              "size_mb", "latency_p50_ms", "latency_p95_ms", "throughput_per_s",
                                              "train_seconds", "train_peak_rss_mb", "pareto", "error")} for r in rows],
        "recommendation": {"no limit": doc["recommendation"], **budgets},
        "hardware": doc["hardware"],
        "cost": {"compare_wall_s": doc["wall_seconds"], "training_wall_s": training,
                 "overhead_s": doc["overhead_seconds"], "overhead_pct": doc["overhead_pct"],
                 "note": "overhead = compare's own time: measuring every candidate (the scored pass, which is also "
                         "the batch-32 throughput, and 100 single predictions, each in a fresh process) plus "
                         "orchestration, against the sum of the candidates' training wall times (kept across "
                         "resumed calls)"},
        "failed": [r["candidate"] for r in rows if r.get("error")],
        "measured": len(measured),
    }
    previous = RESULTS / "compare_sst2.json"
    if not training and previous.is_file():  # every candidate was trained by an earlier call: only measured now
        import json

        earlier = json.loads(previous.read_text())
        first = earlier["cost"].get("first_call", earlier["cost"])
        result["cost"] = {"first_call": first, "remeasure_wall_s": doc["wall_seconds"],
                          "overhead_pct": round(100 * doc["wall_seconds"] / first["training_wall_s"], 1),
                          "note": "this call trained nothing (resumed) and measured every candidate again: its wall "
                                  "time is compare's own cost, against the first call's training time"}
    save("compare_sst2", result)
    if (folder / "report.html").is_file():
        shutil.copy(folder / "report.html", RESULTS / "compare_sst2_report.html")
    from transferkit.outputs.plots import pareto_png

    png = pareto_png(rows, "accuracy")
    if png:
        (RESULTS / "compare_sst2_pareto.png").write_bytes(png)
    for name, choice in result["recommendation"].items():
        print(f"{name}: {choice['reason'] if choice else '-'}")
    print(f"compare {doc['wall_seconds']:.0f} s; cost {result['cost']}")


if __name__ == "__main__":
    main()
