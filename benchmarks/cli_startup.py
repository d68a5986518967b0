"""How long the command line takes to answer: `transferkit --help`, `import transferkit`, a settings
error of `finetune` (which must fail before torch is imported), and `predict` / `evaluate` of one
sentence on a fine-tuned minilm-l6 run and on its ONNX export. Medians of repeated runs.

"Before the first batch" is the whole process less one forward pass (measured in-process on the
same sentence), so it is start-up: interpreter, imports, reading the run, loading the weights.
The import rows say where the PyTorch run's start-up goes.

    .venv/bin/python benchmarks/cli_startup.py              # -> benchmarks/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import save

TK = [sys.executable, "-m", "transferkit"]
SENTENCE = "a gorgeous, witty, seductive movie."


def fixed_commands() -> dict[str, list[str]]:
    return {
        "help": [*TK, "--help"],
        "import": [sys.executable, "-c", "import transferkit"],
        "finetune_settings_error": [*TK, "finetune", "--model", "minilm-l6", "--train", "x.csv", "--epochs", "0"],
        "import_torch": [sys.executable, "-c", "import torch"],
        "import_transformers_bert": [sys.executable, "-c", "import transformers.models.bert.modeling_bert"],
        "import_onnxruntime_tokenizers": [sys.executable, "-c", "import onnxruntime, tokenizers"],
    }


def build_runs(folder: Path) -> tuple[Path, Path, Path]:
    """A minilm-l6 run fine-tuned a few steps on 200 packaged reviews, its ONNX export, and a
    labelled 8-row file for `evaluate` (accuracy does not matter here, start-up does)."""
    import pandas as pd

    import transferkit as tk
    from transferkit.data import pull_dataset

    rows = pd.read_csv(pull_dataset("rotten_tomatoes")).sample(n=208, random_state=0)
    train, labelled = folder / "train.csv", folder / "labelled.csv"
    rows.iloc[:200].to_csv(train, index=False)
    rows.iloc[200:].to_csv(labelled, index=False)
    run, exported = folder / "run", folder / "run-onnx"
    tk.finetune("minilm-l6", str(train), output=run, epochs=1, batch_size=32, max_length=64)
    subprocess.run([*TK, "export", str(run), "-o", str(exported)], check=True, capture_output=True)
    return run, exported, labelled


def one_forward_s(run_dir: Path, repeats: int = 20) -> float:
    """Median seconds of one warm `predict` of the sentence in this process: the work after start-up."""
    import transferkit as tk

    predictor = tk.load(run_dir)
    predictor.predict([SENTENCE])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        predictor.predict([SENTENCE])
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def median_wall(command: list[str], repeats: int) -> dict:
    done = subprocess.run(command, capture_output=True, text=True)  # also warms the OS file cache
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        subprocess.run(command, capture_output=True)
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
            "max_s": round(max(times), 3), "rc": done.returncode}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--name", default="cli_startup")
    args = ap.parse_args()
    rows, commands = {}, fixed_commands()
    with tempfile.TemporaryDirectory() as tmp:
        run, exported, labelled = build_runs(Path(tmp))
        for kind, run_dir in (("pytorch", run), ("onnx", exported)):
            commands[f"predict_{kind}"] = [*TK, "predict", str(run_dir), "--text", SENTENCE]
            commands[f"evaluate_{kind}"] = [*TK, "evaluate", str(run_dir), "--data", str(labelled),
                                            "--output", str(Path(tmp) / f"metrics-{kind}.json")]
        for name, command in commands.items():
            rows[name] = median_wall(command, args.repeats)
            print(name, rows[name], flush=True)
        for kind, run_dir in (("pytorch", run), ("onnx", exported)):
            forward = one_forward_s(run_dir)
            rows[f"predict_{kind}"]["one_forward_s"] = round(forward, 4)
            rows[f"predict_{kind}"]["before_first_batch_s"] = round(rows[f"predict_{kind}"]["median_s"] - forward, 3)
    save(args.name, {"repeats": args.repeats, "sentence": SENTENCE,
                     "commands": {k: " ".join(Path(c).name if i == 0 else c for i, c in enumerate(v))
                                  for k, v in commands.items()},
                     "results": rows})


if __name__ == "__main__":
    main()
