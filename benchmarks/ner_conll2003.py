"""NER on CoNLL-2003: transferkit token classification against HF Trainer, in one run.

Full size (the numbers to compare with published ones; target test entity F1 >= 89 for minilm-l6):

    .venv/bin/python benchmarks/ner_conll2003.py --epochs 3 --lr 3e-4 --batch-size 32 --max-length 128 --hf-epochs 1

(`--hf-epochs 1` times HF Trainer over one epoch only, ~8 min instead of ~24; its F1 is then a
one-epoch F1 and `f1_delta_pt` compares unequal budgets. Measured: transferkit 86.5 F1, 2.92x
HF Trainer's sentences/s.)

Reduced (a CPU smoke run of about ten minutes; the F1 is far below the full-size one):

    .venv/bin/python benchmarks/ner_conll2003.py --epochs 1 --train-limit 2000 --lr 2e-4 --max-length 128

Data: ../shared/datasets/conll2003 (or $TRANSFERKIT_CONLL2003_DIR): train.txt / validation.txt /
test.txt in the 4-column CoNLL format, read by transferkit's reader for both contenders.
Both train on the same (seeded subset of the) train split with the same model and
hyper-parameters, and are scored on the full test split with seqeval (entity-level micro F1):

1. transferkit `finetune --task token-classification` (its defaults: length-grouped batches,
   bf16 autocast where the CPU has it, windows for sentences over max_length);
2. HF Trainer as the token-classification docs set it up: AutoModelForTokenClassification,
   labels on first sub-words, DataCollatorForTokenClassification, random batches, default
   precision, truncation at max_length (words cut off count as predicted O).

Each contender runs in its own spawned process (own peak RSS, no shared warm caches).
Results: benchmarks/results/ner_conll2003.json.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from _common import SHARED, in_child, peak_rss_mb, save


def conll_dir() -> Path:
    path = Path(os.environ.get("TRANSFERKIT_CONLL2003_DIR", SHARED / "conll2003"))
    if not (path / "train.txt").is_file():
        raise SystemExit(f"CoNLL-2003 not found at {path}; set TRANSFERKIT_CONLL2003_DIR to a folder with "
                         "train.txt, validation.txt and test.txt")
    return path


def _splits(args):
    """(train NerExamples, test NerExamples, label names); train optionally a seeded subset."""
    import numpy as np

    from transferkit.tasks.token_classification.data import load_ner_splits

    data = load_ner_splits(str(conll_dir()))
    train = data.train
    if args.train_limit and args.train_limit < len(train):
        index = np.random.default_rng(args.seed).choice(len(train), args.train_limit, replace=False)
        train = train.subset(sorted(index))
    return train, data.test, data.label_names


def _summary(metrics: dict) -> dict:
    return {"test_f1": metrics["f1"], "test_precision": metrics["precision"], "test_recall": metrics["recall"],
            "test_macro_f1": metrics["macro_f1"], "test_token_accuracy": metrics["accuracy"],
            "test_f1_by_type": {kind: round(m["f1"], 4) for kind, m in metrics["per_class"].items()}}


def run_transferkit(args) -> dict:
    import transferkit as tk

    train, test, _ = _splits(args)
    hp = {"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr, "max_length": args.max_length,
          "seed": args.seed, "warmup_ratio": args.warmup_ratio, "precision": args.precision}
    if args.word_shapes != "auto":
        hp["word_shapes"] = args.word_shapes == "on"
    t0 = time.perf_counter()
    run = tk.finetune(args.model, train, None, test, task="token-classification", progress=False, **hp)
    total = time.perf_counter() - t0
    info = run.info
    return {"settings": hp, "word_shapes": run.config.word_shapes, "train_sentences": len(train),
            "train_windows": info["sizes"]["train"],
            "precision": info["precision"], "train_seconds": info["train_seconds"],
            "seconds_per_epoch": info["train_seconds"] / args.epochs,
            "samples_per_s": len(train) * info["epochs_completed"] / info["train_seconds"],
            "total_seconds": round(total, 1), **_summary(run.metrics["test"]), "peak_rss_mb": peak_rss_mb()}


def run_hf_trainer(args) -> dict:
    import numpy as np
    import torch
    from transformers import (
        AutoModelForTokenClassification,
        AutoTokenizer,
        DataCollatorForTokenClassification,
        Trainer,
        TrainingArguments,
    )

    import transferkit as tk
    from transferkit.tasks.token_classification.metrics import ner_metrics

    train, test, names = _splits(args)
    label2id = {n: i for i, n in enumerate(names)}
    path = tk.resolve_model(args.model).path
    t0 = time.perf_counter()
    tok = AutoTokenizer.from_pretrained(path)

    def encode(sentences, tags):
        enc = tok(sentences, is_split_into_words=True, truncation=True, max_length=args.max_length)
        rows = []
        for i in range(len(sentences)):
            word_ids, previous, labels = enc.word_ids(i), None, []
            for w in word_ids:  # the docs' recipe: the label on the first sub-word, -100 elsewhere
                labels.append(-100 if w is None or w == previous else label2id[tags[i][w]])
                previous = w
            rows.append({"input_ids": enc["input_ids"][i], "attention_mask": enc["attention_mask"][i],
                         "labels": labels})
        return rows, enc

    train_rows, _ = encode(train.tokens, train.tags)
    test_rows, test_enc = encode(test.tokens, test.tags)
    model = AutoModelForTokenClassification.from_pretrained(path, num_labels=len(names),
                                                            id2label=dict(enumerate(names)), label2id=label2id)
    targs = TrainingArguments(output_dir="/tmp/hf_trainer_ner_bench", per_device_train_batch_size=args.batch_size,
                              per_device_eval_batch_size=64, learning_rate=args.lr, num_train_epochs=args.hf_epochs,
                              # transformers 5 takes the warmup fraction as a float warmup_steps (< 1)
                              weight_decay=0.01, warmup_steps=args.warmup_ratio, lr_scheduler_type="linear",
                              eval_strategy="no", save_strategy="no", report_to="none", seed=args.seed,
                              logging_steps=200, use_cpu=not torch.cuda.is_available(), disable_tqdm=True)
    trainer = Trainer(model=model, args=targs, train_dataset=train_rows,
                      data_collator=DataCollatorForTokenClassification(tok))
    t1 = time.perf_counter()
    trainer.train()
    train_s = time.perf_counter() - t1
    logits = trainer.predict(test_rows).predictions
    predicted = []
    for i, words in enumerate(test.tokens):
        tags = ["O"] * len(words)  # words past max_length were truncated away: predicted O
        previous = None
        for pos, w in enumerate(test_enc.word_ids(i)):
            if w is not None and w != previous:
                tags[w] = names[int(np.argmax(logits[i, pos]))]
            previous = w
        predicted.append(tags)
    return {"train_sentences": len(train), "precision": "fp32", "train_seconds": train_s,
            "epochs": args.hf_epochs,
            "seconds_per_epoch": train_s / args.hf_epochs, "samples_per_s": len(train) * args.hf_epochs / train_s,
            "setup_seconds": t1 - t0, **_summary(ner_metrics(test.tags, predicted)), "peak_rss_mb": peak_rss_mb()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="minilm-l6")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--warmup-ratio", type=float, default=0.06)
    ap.add_argument("--max-length", type=int, default=128)
    ap.add_argument("--precision", default="auto")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--train-limit", type=int, default=None, help="seeded subset of the train sentences (default: all)")
    ap.add_argument("--skip-hf", action="store_true")
    ap.add_argument("--word-shapes", choices=("auto", "on", "off"), default="auto",
                    help="word-shape token types (auto: on for the uncased minilm-l6)")
    ap.add_argument("--name", default="ner_conll2003", help="results file name (benchmarks/results/NAME.json)")
    ap.add_argument("--hf-epochs", type=int, default=None,
                    help="epochs for HF Trainer (default: --epochs); fewer keeps a CPU run short, and the speed "
                         "comparison is per epoch")
    args = ap.parse_args()
    args.hf_epochs = args.hf_epochs or args.epochs

    result: dict = {"model": args.model, "data": str(conll_dir()), "settings": vars(args),
                    "reference": "published CoNLL-2003 test F1: BERT-base 92.4 (shared/datasets/README.md)"}
    result["transferkit"] = tk_row = in_child(run_transferkit, args)
    print("transferkit", tk_row, flush=True)
    if not args.skip_hf:
        result["hf_trainer"] = hf = in_child(run_hf_trainer, args)
        print("hf_trainer", hf, flush=True)
        result["speedup_vs_hf_trainer"] = hf["seconds_per_epoch"] / tk_row["seconds_per_epoch"]
        result["f1_delta_pt"] = 100 * (tk_row["test_f1"] - hf["test_f1"])
    save(args.name, result)


if __name__ == "__main__":
    main()
