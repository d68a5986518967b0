"""`transferkit predict` as a whole process, distilled student vs its teacher, on 8,720 sentences
(SST-2's validation set ten times): the PyTorch runs and their ONNX exports, next to the
per-example ratio of the same models measured in-process (warm, no start-up).

The speed ratio does not depend on how well the models were trained, so both are trained briefly
(the teacher one epoch on 400 SST-2 sentences, the `from-teacher:3` student one epoch of
distillation on the same); `distill_sst2.py` measures their accuracy.

    .venv/bin/python benchmarks/predict_student.py          # -> benchmarks/results/predict_student.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save, sst2_dir

TK = [sys.executable, "-m", "transferkit"]


def build(folder: Path, train_rows: int) -> tuple[dict[str, Path], Path]:
    import pandas as pd

    import transferkit as tk

    sst2 = sst2_dir()
    train = folder / "train.tsv"
    pd.read_csv(sst2 / "train.tsv", sep="\t").sample(n=train_rows, random_state=0).to_csv(train, sep="\t", index=False)
    texts = pd.read_csv(sst2 / "validation.tsv", sep="\t")[["sentence"]]
    inputs = folder / "inputs.csv"
    pd.concat([texts] * 10, ignore_index=True).to_csv(inputs, index=False)
    runs = {"teacher": folder / "teacher", "student": folder / "student"}
    tk.finetune("minilm-l6", str(train), output=runs["teacher"], epochs=1, batch_size=32, max_length=64)
    tk.distill(runs["teacher"], "from-teacher:3", str(train), output=runs["student"], epochs=1, batch_size=32)
    for name in ("teacher", "student"):
        runs[f"{name}_onnx"] = folder / f"{name}-onnx"
        subprocess.run([*TK, "export", str(runs[name]), "-o", str(runs[f"{name}_onnx"])], check=True,
                       capture_output=True)
    return runs, inputs


def whole_process_s(run_dir: Path, inputs: Path, out: Path, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run([*TK, "predict", str(run_dir), "--input", str(inputs), "-o", str(out), "--overwrite"],
                       check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    return times


def in_process_s(run_dir: Path, inputs: Path) -> float:
    """Seconds of one warm `predict` of every sentence in this process (after a warm-up call)."""
    import pandas as pd

    import transferkit as tk

    texts = pd.read_csv(inputs)["sentence"].tolist()
    predictor = tk.load(run_dir)
    predictor.predict(texts[:256])
    t0 = time.perf_counter()
    predictor.predict(texts)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--train-rows", type=int, default=400)
    ap.add_argument("--name", default="predict_student")
    args = ap.parse_args()
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs, inputs = build(Path(tmp), args.train_rows)
        n = sum(1 for _ in inputs.open()) - 1
        for name, run_dir in runs.items():
            times = whole_process_s(run_dir, inputs, Path(tmp) / f"{name}.csv", args.repeats)
            loop = in_process_s(run_dir, inputs)
            rows[name] = {"whole_process_s": round(statistics.median(times), 2), "all_s": [round(t, 2) for t in times],
                          "in_process_s": round(loop, 2), "outside_loop_s": round(statistics.median(times) - loop, 2),
                          "sentences_per_s_in_process": round(n / loop, 1)}
            print(name, rows[name], flush=True)
    ratios = {}
    for suffix in ("", "_onnx"):
        teacher, student = rows[f"teacher{suffix}"], rows[f"student{suffix}"]
        ratios[f"whole_process{suffix}"] = round(teacher["whole_process_s"] / student["whole_process_s"], 2)
        ratios[f"in_process{suffix}"] = round(teacher["in_process_s"] / student["in_process_s"], 2)
    print(ratios)
    save(args.name, {"sentences": n, "repeats": args.repeats, "train_rows": args.train_rows, "results": rows,
                     "student_speedup": ratios})


if __name__ == "__main__":
    main()
