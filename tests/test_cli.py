"""CLI: fast help, lazy imports, one-line errors with non-zero exits, predict/evaluate/embed files."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest

EXE = [sys.executable, "-m", "transferkit"]


def cli(*args, env=None, timeout=600):
    return subprocess.run([*EXE, *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "TRANSFERKIT_PROGRESS": "0", **(env or {})})


def test_help_is_fast_and_lists_commands():
    cli("--help")  # warm the OS file cache
    t0 = time.perf_counter()
    r = cli("--help")
    elapsed = time.perf_counter() - t0
    assert r.returncode == 0
    for cmd in ("models", "data", "embed", "probe", "predict", "evaluate", "demo"):
        assert cmd in r.stdout
    # Generous on a busy 2-core machine; benchmarks/cli_startup.py measures it (about 0.5 s quiet).
    assert elapsed < 5.0, f"--help took {elapsed:.2f}s"


def test_cli_import_does_not_load_torch():
    code = ("import sys, transferkit.cli as c; c._register(); "
            "bad = [m for m in ('torch', 'transformers', 'pandas', 'sklearn') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_bad_input_is_one_line_and_nonzero(tmp_path):
    r = cli("probe", "--model", "minilm-l6", "--train", tmp_path / "missing.csv", "--output", tmp_path / "run")
    assert r.returncode == 2
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "missing.csv" in lines[0], r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("args, message", [
    (["evaluate", "RUN"], "Missing option '--data'"),
    (["finetune", "--epoch", "2"], "No such option: --epoch"),
    (["finetune", "--epochs", "many"], "Invalid value for '--epochs'"),
])
def test_usage_errors_are_short_not_tracebacks(tmp_path, args, message):
    r = cli(*[str(tmp_path) if a == "RUN" else a for a in args])
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.splitlines()) <= 4


def test_debug_shows_traceback(tmp_path):
    r = cli("--debug", "probe", "--model", "minilm-l6", "--train", tmp_path / "missing.csv", "--output", tmp_path / "r")
    assert r.returncode != 0 and "Traceback" in r.stderr


def test_predict_needs_text_or_input(tmp_path):
    r = cli("predict", tmp_path)
    assert r.returncode != 0 and "--text" in (r.stderr + r.stdout)


@pytest.fixture(scope="module")
def probe_run(tmp_path_factory, pulled_home):
    import pandas as pd

    from transferkit.data import pull_dataset
    from transferkit.methods.probe import probe

    df = pd.read_csv(pull_dataset("rotten_tomatoes")).sample(n=300, random_state=1)
    root = tmp_path_factory.mktemp("cli")
    df.to_csv(root / "reviews.csv", index=False)
    probe("minilm-l6", str(root / "reviews.csv"), output=root / "run")
    return root


def test_predict_and_evaluate_files(probe_run, pulled_home):
    import pandas as pd

    env = {"TRANSFERKIT_HOME": str(pulled_home)}
    r = cli("predict", probe_run / "run", "--text", "a wonderful film", env=env)
    assert r.returncode == 0, r.stderr
    assert "positive" in r.stdout
    r = cli("predict", probe_run / "run", "--input", probe_run / "reviews.csv", "--output", probe_run / "p.jsonl", env=env)
    assert r.returncode == 0, r.stderr
    pred = pd.read_json(probe_run / "p.jsonl", lines=True)
    assert len(pred) == 300 and {"row", "prediction", "score", "p_negative", "p_positive"} <= set(pred.columns)
    assert np.allclose(pred["p_negative"] + pred["p_positive"], 1, atol=1e-5)
    r = cli("predict", probe_run / "run", "--input", probe_run / "reviews.csv", "--output", probe_run / "p.jsonl", env=env)
    assert r.returncode == 2 and "--overwrite" in r.stderr
    r = cli("evaluate", probe_run / "run", "--data", probe_run / "reviews.csv", env=env)
    assert r.returncode == 0, r.stderr
    assert "accuracy" in r.stdout and (probe_run / "run" / "evaluations" / "reviews.json").is_file()


@pytest.mark.parametrize("suffix", [".npz", ".parquet", ".npy"])
def test_embed_outputs(probe_run, pulled_home, suffix):
    import pandas as pd

    out = probe_run / f"emb{suffix}"
    r = cli("embed", "--model", "minilm-l6", "--data", probe_run / "reviews.csv", "--output", out,
            env={"TRANSFERKIT_HOME": str(pulled_home)})
    assert r.returncode == 0, r.stderr
    if suffix == ".npz":
        z = np.load(out)
        assert z["embeddings"].shape == (300, 384) and len(z["rows"]) == 300
        # rows are the file's line numbers (header = line 1)
        assert z["rows"].min() == 2
    elif suffix == ".parquet":
        df = pd.read_parquet(out)
        assert len(df) == 300 and len(df["embedding"].iloc[0]) == 384
    else:
        assert np.load(out).shape == (300, 384)
