"""How long the command line takes to answer: `transferkit --help`, `import transferkit`, a settings
error of `finetune` (which must fail before torch is imported). Medians of repeated runs.

    .venv/bin/python benchmarks/cli_startup.py              # -> benchmarks/results/cli_startup.json
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from _common import save

COMMANDS = {
    "help": [sys.executable, "-m", "transferkit", "--help"],
    "import": [sys.executable, "-c", "import transferkit"],
    "finetune_settings_error": [sys.executable, "-m", "transferkit", "finetune", "--model", "minilm-l6", "--train",
                                "x.csv", "--epochs", "0"],
}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    rows = {}
    for name, command in COMMANDS.items():
        subprocess.run(command, capture_output=True)  # warm the OS file cache
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            subprocess.run(command, capture_output=True)
            times.append(time.perf_counter() - t0)
        rows[name] = {"median_s": round(statistics.median(times), 3), "min_s": round(min(times), 3),
                      "max_s": round(max(times), 3)}
        print(name, rows[name], flush=True)
    save("cli_startup", {"repeats": args.repeats, "commands": {k: " ".join(v[1:]) for k, v in COMMANDS.items()},
                         "results": rows})


if __name__ == "__main__":
    main()
