"""Does continued (task-adaptive) pretraining pay? transferkit `pretrain` then `finetune` against
fine-tuning the same model directly, with few labels, in one run (issue 15).

    .venv/bin/python benchmarks/pretrain_tapt.py                       # everything (~40 min on 2 cores)
    .venv/bin/python benchmarks/pretrain_tapt.py --only sst2 --seeds 1 # one task, one seed

For each task, minilm-l6 is pretrained with masked-LM on the task's own training text, labels
dropped (SST-2: the 67k training sentences; CoNLL-2003: the 14k training sentences' words), then
fine-tuned on `--labels` (1,000) labelled training examples; the direct arm fine-tunes minilm-l6 on
the same examples with the same settings (transferkit's defaults: the same number of steps).
Each fine-tuning runs with `--seeds` seeds (fine-tuning seed: head initialisation, batch order,
dropout); the labelled subset is the same for every seed and arm. Scores: SST-2 validation
accuracy (872), CoNLL-2003 test entity F1 (3,453). SST-2 also runs whole-word masking.
Next-sentence prediction is not run: SST-2 and CoNLL-2003 sentences are one-sentence documents.

Also: perplexity on held-out text of the domain (the pretraining run's seeded 5 % of the
documents) per epoch; pretraining tokens/s against the HF `run_mlm.py` setup (Trainer +
DataCollatorForLanguageModeling, texts tokenised and grouped into blocks of the same length)
on the same text, the same number of steps, in the same run.
Goal: a mean gain >= +1.0 pt on both tasks at 1,000 labels; throughput >= 2x HF Trainer.
Results: benchmarks/results/pretrain_tapt.json (per-run log: results/pretrain_tapt_runs.jsonl).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import RESULTS, SHARED, in_child, save, sst2_dir

LOG = RESULTS / "pretrain_tapt_runs.jsonl"
WORK = Path(os.environ.get("TAPT_WORKDIR", Path(tempfile.gettempdir()) / "transferkit-tapt"))
MODEL = "minilm-l6"


def conll_dir() -> Path:
    return Path(os.environ.get("TRANSFERKIT_CONLL2003_DIR", SHARED / "conll2003"))


def corpus(task: str) -> Path:
    """The task's training text, labels dropped, one text per line."""
    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"{task}-corpus.txt"
    if not path.is_file():
        if task == "sst2":
            import pandas as pd

            texts = pd.read_csv(sst2_dir() / "train.tsv", sep="\t", quoting=3)["sentence"].astype(str).tolist()
        else:
            from transferkit.tasks.token_classification.data import load_ner

            texts = [" ".join(words) for words in load_ner(str(conll_dir() / "train.txt")).tokens]
        path.write_text("\n".join(t.strip() for t in texts if t.strip()) + "\n", encoding="utf-8")
    return path


def labelled(task: str, n: int):
    """(train, evaluation) in memory: a seeded subset of n training examples, the scored split."""
    rng = np.random.default_rng(0)
    if task == "sst2":
        import pandas as pd

        train = pd.read_csv(sst2_dir() / "train.tsv", sep="\t", quoting=3)
        train = train.iloc[np.sort(rng.permutation(len(train))[:n])]
        val = pd.read_csv(sst2_dir() / "validation.tsv", sep="\t", quoting=3)
        pair = lambda f: (f["sentence"].astype(str).tolist(), f["label"].astype(str).tolist())
        return pair(train), pair(val)
    from transferkit.tasks.token_classification.data import load_ner

    train = load_ner(str(conll_dir() / "train.txt"))
    train = train.subset(np.sort(rng.permutation(len(train))[:n]))
    test = load_ner(str(conll_dir() / "test.txt"))
    return (train.tokens, train.tags), (test.tokens, test.tags)


# ------------------------------------------------------------------ one run each, in its own process

def pretrain_one(task: str, name: str, settings: dict) -> dict:
    import torch

    import transferkit as tk

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    out = WORK / name
    t0 = time.perf_counter()
    run = tk.pretrain(MODEL, str(corpus(task)), output=str(out), overwrite=True, progress=False, **settings)
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    curve = [{"epoch": r["epoch"], "step": r["step"], "perplexity": round(r["perplexity"], 3)} for r in log
             if r.get("event") == "evaluate"]
    speeds = [r["samples_per_s"] for r in log if "samples_per_s" in r][1:]  # the first interval includes warm-up
    return {"kind": "pretrain", "task": task, "name": name, "settings": settings, "run": str(out),
            "validation": run.metrics.get("validation"), "perplexity_curve": curve,
            "train_seconds": run.info["train_seconds"], "steps": run.info["steps"],
            "examples": run.info["sizes"]["train"], "max_length": run.config.max_length,
            "samples_per_s_median": round(statistics.median(speeds), 2) if speeds else None,
            "total_seconds": round(time.perf_counter() - t0, 1)}


def finetune_one(task: str, arm: str, model: str, n: int, seed: int) -> dict:
    import torch

    import transferkit as tk

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    train, scored = labelled(task, n)
    extra = {"task": "token-classification"} if task == "conll2003" else {}
    t0 = time.perf_counter()
    run = tk.finetune(model, train, progress=False, seed=seed, cache_tokens=True, **extra)
    metric = "f1" if task == "conll2003" else "accuracy"
    score = run.evaluate(scored)[metric]
    return {"kind": "finetune", "task": task, "arm": arm, "model": model, "labels": n, "seed": seed,
            "metric": metric, "score": score, "steps": run.info["steps"], "lr": run.config.lr,
            "epochs": run.config.epochs, "total_seconds": round(time.perf_counter() - t0, 1)}


def hf_mlm_one(task: str, steps: int, batch_size: int, max_length: int) -> dict:
    """HF's run_mlm.py recipe on the same text: tokenise, group_texts into blocks, Trainer + collator."""
    import torch
    from transformers import AutoModelForMaskedLM, AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

    from transferkit.sources import resolve_model

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    folder = resolve_model(MODEL).path
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForMaskedLM.from_pretrained(folder)
    texts = corpus(task).read_text(encoding="utf-8").splitlines()
    ids = tokenizer(texts, return_special_tokens_mask=True)
    concatenated = {k: [t for row in ids[k] for t in row] for k in ("input_ids", "attention_mask",
                                                                    "special_tokens_mask", "token_type_ids")}
    total = (len(concatenated["input_ids"]) // max_length) * max_length
    blocks = [{k: v[i:i + max_length] for k, v in concatenated.items()} for i in range(0, total, max_length)]
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15)
    args = TrainingArguments(output_dir=str(WORK / "hf-mlm"), per_device_train_batch_size=batch_size, max_steps=steps,
                             learning_rate=1e-4, logging_steps=10, save_strategy="no", report_to=[],
                             dataloader_num_workers=0, disable_tqdm=True, use_cpu=True, seed=42)
    trainer = Trainer(model=model, args=args, train_dataset=blocks, data_collator=collator)
    t0 = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - t0
    return {"kind": "hf-mlm", "task": task, "steps": steps, "batch_size": batch_size, "max_length": max_length,
            "seconds": round(seconds, 2), "samples_per_s": round(steps * batch_size / seconds, 2),
            "tokens_per_s": round(steps * batch_size * max_length / seconds, 1)}


def tk_mlm_speed(task: str, steps: int, batch_size: int, max_length: int) -> dict:
    """transferkit pretrain on the same text and budget, timed the same way (training only)."""
    import torch

    import transferkit as tk

    torch.set_num_threads(int(os.environ.get("BENCH_THREADS", "2")))
    tk.pretrain(MODEL, str(corpus(task)), output=str(WORK / "tk-speed-warm"), overwrite=True, progress=False,
                max_steps=2, batch_size=batch_size, max_length=max_length)  # fills the token cache (timed apart)
    run = tk.pretrain(MODEL, str(corpus(task)), output=str(WORK / "tk-speed"), overwrite=True, progress=False,
                      max_steps=steps, batch_size=batch_size, max_length=max_length, validation_share=0.0)
    seconds = run.info["train_seconds"]
    return {"kind": "tk-mlm", "task": task, "steps": steps, "batch_size": batch_size, "max_length": max_length,
            "seconds": seconds, "precision": run.info["precision"],
            "samples_per_s": round(steps * batch_size / seconds, 2),
            "tokens_per_s": round(steps * batch_size * max_length / seconds, 1)}


# ------------------------------------------------------------------ the plan

def parse_variant(spec: str) -> tuple[str, dict]:
    """`NAME:key=value,...` -> (NAME, settings), values read as JSON where they parse (5, 1e-4, true)."""
    name, _, rest = spec.partition(":")
    settings = {}
    for item in filter(None, rest.split(",")):
        k, _, v = item.partition("=")
        try:
            settings[k] = json.loads(v)
        except ValueError:
            settings[k] = v
    return name, settings


def plan(tasks, seeds: int, labels: int, epochs: int, speed_steps: int, extra_variants=()):
    for task in tasks:
        variants = [("mlm", {})] + ([("mlm-wwm", {"whole_word_mask": True})] if task == "sst2" else [])
        variants += list(extra_variants)
        # Held-out perplexity before pretraining: one step at lr 1e-12 changes no weight that matters.
        yield ("pretrain", task, f"{task}-before", {"max_steps": 1, "lr": 1e-12, "max_length": 128})
        for name, extra in variants:
            yield ("pretrain", task, f"{task}-{name}", {"epochs": epochs, "max_length": 128, **extra})
        for seed in range(1, seeds + 1):
            yield ("finetune", task, "direct", MODEL, labels, seed)
            for name, _ in variants:
                yield ("finetune", task, name, str(WORK / f"{task}-{name}"), labels, seed)
    if speed_steps:
        yield ("speed", "sst2", speed_steps)


def key(step) -> str:
    return json.dumps(step)


def summarise(rows: list[dict]) -> dict:
    out = {}
    for task in sorted({r["task"] for r in rows if r["kind"] == "finetune"}):
        arms: dict[str, list] = {}
        for r in rows:
            if r["kind"] == "finetune" and r["task"] == task:
                arms.setdefault(r["arm"], []).append((r["seed"], round(100 * r["score"], 2)))
        direct = dict(arms.get("direct", []))
        part = {"metric": next(r["metric"] for r in rows if r.get("task") == task and r["kind"] == "finetune"),
                "arms": {}}
        for arm, scores in arms.items():
            scores = sorted(scores)
            entry = {"per_seed": dict(scores), "mean": round(statistics.mean(s for _, s in scores), 2)}
            if arm != "direct" and direct:
                gains = [s - direct[seed] for seed, s in scores if seed in direct]
                entry["gain_pt_mean"] = round(statistics.mean(gains), 2) if gains else None
                entry["gain_pt_per_seed"] = [round(g, 2) for g in gains]
            part["arms"][arm] = entry
        out[task] = part
    speed = {r["kind"]: r for r in rows if r["kind"] in ("hf-mlm", "tk-mlm")}
    if len(speed) == 2:
        out["throughput"] = {**speed, "ratio": round(speed["tk-mlm"]["tokens_per_s"] / speed["hf-mlm"]["tokens_per_s"],
                                                      2)}
    out["pretraining"] = [{k: r[k] for k in ("name", "validation", "perplexity_curve", "train_seconds", "steps",
                                             "examples", "samples_per_s_median")} for r in rows if r["kind"] == "pretrain"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", nargs="*", default=["sst2", "conll2003"])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--labels", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=2, help="pretraining epochs")
    ap.add_argument("--speed-steps", type=int, default=60, help="0: skip the throughput comparison")
    ap.add_argument("--variant", action="append", default=[], type=parse_variant,
                    help="another pretraining arm, NAME:key=value,... (e.g. mlm-e5:epochs=5 or "
                         "mlm-gu:strategy=gradual-unfreeze,epochs=5); repeatable")
    ap.add_argument("--summary", action="store_true")
    args = ap.parse_args()
    done = {}
    if LOG.is_file():
        for line in LOG.read_text().splitlines():
            row = json.loads(line)
            done[row["key"]] = row
    steps = [] if args.summary else plan(args.only, args.seeds, args.labels, args.epochs, args.speed_steps, args.variant)
    for step in steps:
        if key(step) in done:
            continue
        kind = step[0]
        if kind == "pretrain":
            results = [in_child(pretrain_one, *step[1:])]
        elif kind == "finetune":
            results = [in_child(finetune_one, *step[1:])]
        else:
            results = [in_child(hf_mlm_one, step[1], step[2], 32, 128), in_child(tk_mlm_speed, step[1], step[2], 32, 128)]
        for result in results:
            result["key"] = key(step) + ("" if result is results[0] else f"|{result['kind']}")
            print(json.dumps(result), flush=True)
            with open(LOG, "a") as f:
                f.write(json.dumps(result) + "\n")
            done[result["key"]] = result
    rows = list(done.values())
    save("pretrain_tapt", {"summary": summarise(rows), "runs": rows,
                           "goal": "mean gain >= +1.0 pt on both tasks at 1,000 labels; throughput >= 2x HF Trainer"})


if __name__ == "__main__":
    main()
