"""What `transferkit tune` buys over the defaults, and what it costs (issue 13).

    .venv/bin/python benchmarks/tune.py                       # 3 data sets x seeds 0 1 2, 12 trials
    .venv/bin/python benchmarks/tune.py --seeds 0 --sets rt   # one data set, one seed

Per data set and seed, three contenders on the same files (train subset and validation held out
of the training data by seed; the data set's own test split is looked at only to report):
- defaults: `finetune` with nothing but model and data (the defaults of methods/defaults.py);
- tune: `tune --n-trials 12` (default space, median pruner), its best trial's run;
- grid: the learning rate at 0.25x, 0.5x, 1x, 2x, 4x the default, the best on validation.
Each reports validation and test score and wall time. Results go to benchmarks/results/tune.json
(and tune_runs.jsonl as they come, so a stopped run resumes).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from defaults import image_data, ner_data, text_data

from _common import RESULTS, save

LOG = RESULTS / "tune_runs.jsonl"
SETS = {  # name -> (loader, dataset, train size, model, task, metric)
    "rt": (text_data, "rotten_tomatoes", 500, "minilm-l6", None, "accuracy"),
    "conll": (ner_data, "conll2003", 500, "minilm-l6", "token-classification", "f1"),
    "digits": (image_data, "digits", None, "mobilenet-v2", "image-classification", "accuracy"),
}
GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


def write_files(name: str, seed: int, folder: Path) -> dict[str, str]:
    """train/validation (held out of train by seed) and the data set's test split, as files."""
    load, dataset, limit, *_ = SETS[name]
    train, val = load(dataset, limit, seed)
    test = _test_split(name, dataset, seed)  # the same seeded split as train/validation: no overlap
    folder.mkdir(parents=True, exist_ok=True)
    if load is text_data:
        from transferkit.text.tiny import write_csv

        return {split: write_csv(folder / f"{split}.csv", *data) for split, data in
                (("train", train), ("validation", val), ("test", test))}
    if load is ner_data:
        from transferkit.tasks.token_classification.tiny import write_conll

        return {split: write_conll(folder / f"{split}.conll", *data) for split, data in
                (("train", train), ("validation", val), ("test", test))}
    from PIL import Image

    paths = {}
    for split, (images, labels) in (("train", train), ("validation", val), ("test", test)):
        for i, (image, label) in enumerate(zip(images, labels)):
            target = folder / split / str(label)
            target.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.asarray(image, dtype=np.uint8)).save(target / f"{i:05d}.png")
        paths[split] = str(folder / split)
    return paths


def _test_split(name: str, dataset: str, seed: int):
    if name == "rt":
        from transferkit.text import load_text_splits

        splits = load_text_splits(dataset, seed=seed)
        names = splits.labels.names
        return [*splits.test.texts], [names[i] for i in splits.test.labels]
    if name == "conll":
        import os

        from defaults import SHARED
        from transferkit.tasks.token_classification.data import load_ner_splits

        folder = Path(os.environ.get("TRANSFERKIT_CONLL2003_DIR", SHARED / "conll2003"))
        test = load_ner_splits(str(folder / "test.txt")).train
        return test.tokens, test.tags
    from transferkit.vision.images import load_image_splits

    test = load_image_splits(dataset, seed=seed).test
    names = np.array(test.label_map.names)
    return np.asarray(test.items), names[test.labels].tolist()


def evaluate_test(run_dir: Path, test: str, metric: str) -> float:
    import transferkit as tk

    return float(tk.load(run_dir).evaluate(test)[metric])


def contender(kind: str, name: str, seed: int, files: dict, work: Path, n_trials: int) -> dict:
    import transferkit as tk

    _, _, _, model, task, metric = SETS[name]
    extra = {"task": task} if task else {}
    started = time.perf_counter()
    if kind == "defaults":
        run = tk.finetune(model, files["train"], files["validation"], output=work / "defaults", progress=False,
                          seed=seed, **extra)
        out = {"validation": run.metrics["validation"][metric], "run": work / "defaults",
               "settings": {k: getattr(run.config, k) for k in ("lr", "epochs", "batch_size")}}
    elif kind == "tune":
        result = tk.tune(model, files["train"], files["validation"], output=work / "tuned", n_trials=n_trials,
                         metric=metric, seed=seed, **extra)
        states = [t["state"] for t in result.trials]
        out = {"validation": result.best_value, "run": work / "tuned" / "best", "settings": result.best_params,
               "trials": {s: states.count(s) for s in set(states)},
               "trial_peak_rss_mb": [t["peak_rss_mb"] for t in result.trials],
               "tuner_peak_rss_mb": [t["tuner_peak_rss_mb"] for t in result.trials]}
    else:  # the default learning rate, then 0.25x ... 4x it
        base = tk.finetune(model, files["train"], files["validation"], output=work / "grid-1.0", progress=False,
                           seed=seed, **extra)
        default_lr = base.config.lr
        rows = [(1.0, base.metrics["validation"][metric], work / "grid-1.0")]
        for scale in (s for s in GRID if s != 1.0):
            run = tk.finetune(model, files["train"], files["validation"], output=work / f"grid-{scale}",
                              progress=False, seed=seed, lr=default_lr * scale, **extra)
            rows.append((scale, run.metrics["validation"][metric], work / f"grid-{scale}"))
        scale, value, best_dir = max(rows, key=lambda r: r[1])
        out = {"validation": value, "run": best_dir, "settings": {"lr": default_lr * scale, "scale": scale},
               "grid": {str(s): v for s, v, _ in rows}}
    out["seconds"] = round(time.perf_counter() - started, 1)
    out["test"] = evaluate_test(out.pop("run"), files["test"], metric)
    return {"set": name, "seed": seed, "contender": kind, "metric": metric, **out}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sets", nargs="*", default=list(SETS))
    ap.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    ap.add_argument("--n-trials", type=int, default=12)
    args = ap.parse_args()
    done = {}
    if LOG.is_file():
        for line in LOG.read_text().splitlines():
            row = json.loads(line)
            done[(row["set"], row["seed"], row["contender"])] = row
    for name in args.sets:
        for seed in args.seeds:
            work = Path(tempfile.mkdtemp(prefix=f"tk-tune-{name}-{seed}-"))
            try:
                files = write_files(name, seed, work / "data")
                for kind in ("defaults", "tune", "grid"):
                    if (name, seed, kind) in done:
                        continue
                    row = contender(kind, name, seed, files, work, args.n_trials)
                    print(json.dumps(row), flush=True)
                    with open(LOG, "a") as f:
                        f.write(json.dumps(row, default=str) + "\n")
                    done[(name, seed, kind)] = row
            finally:
                shutil.rmtree(work, ignore_errors=True)
    rows = list(done.values())
    summary = {}
    for name in sorted({r["set"] for r in rows}):
        per = {}
        for kind in ("defaults", "tune", "grid"):
            mine = [r for r in rows if r["set"] == name and r["contender"] == kind]
            if mine:
                per[kind] = {"test_median": statistics.median(r["test"] for r in mine),
                             "validation_median": statistics.median(r["validation"] for r in mine),
                             "seconds_median": statistics.median(r["seconds"] for r in mine), "seeds": len(mine)}
        if "defaults" in per:
            for kind in ("tune", "grid"):
                if kind in per:
                    gain = per[kind]["test_median"] - per["defaults"]["test_median"]
                    per[kind]["test_gain_pt"] = round(100 * gain, 2)
                    per[kind]["cost_x_defaults"] = round(per[kind]["seconds_median"]
                                                         / per["defaults"]["seconds_median"], 1)
        summary[name] = per
    save("tune", {"summary": summary, "runs": rows, "n_trials": args.n_trials,
                  "note": "selection on validation held out of train; test only reported"})


if __name__ == "__main__":
    main()
