"""Reading files, LabelMap, column detection, load_texts and load_text_splits on local files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from transferkit.data import LabelMap, read_table
from transferkit.errors import ConfigError, DataError
from transferkit.text import load_text_splits, load_texts


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def labelled_frame(n=200, classes=("neg", "pos", "mid"), weights=(0.5, 0.3, 0.2), seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice(classes, size=n, p=weights)
    return pd.DataFrame({"text": [f"example {i} about {c}" for i, c in enumerate(labels)], "label": labels})


@pytest.mark.parametrize("name", ["d.csv", "d.tsv", "d.jsonl", "d.json", "d.parquet", "d.csv.gz", "d.tsv.bz2",
                                  "d.jsonl.xz"])
def test_every_format_reads_the_same(tmp_path, name):
    frame = pd.DataFrame({"Review": ["good, really", 'a "quoted" word', "ünïcode ✓"], "target": [1, 0, 1]})
    path = tmp_path / name
    if ".parquet" in name:
        frame.to_parquet(path)
    elif ".json" in name:
        frame.to_json(path, orient="records", lines=True, force_ascii=False)
    else:
        frame.to_csv(path, index=False, sep="\t" if ".tsv" in name else ",")
    examples = load_texts(path)
    assert examples.texts == frame["Review"].tolist()
    assert examples.labels.tolist() == [1, 0, 1] and examples.label_map.names == ["0", "1"]
    expected_rows = [1, 2, 3] if "parquet" in name else [1, 2, 3] if ".json" in name else [2, 3, 4]
    assert examples.rows.tolist() == expected_rows
    assert examples.source == str(path)


def test_line_numbers_follow_the_file(tmp_path):
    path = write(tmp_path / "d.csv", '\ufefftext,label\n"two\nlines",a\n\nnext,b\r\n')
    frame = read_table(path)
    assert list(frame.columns) == ["text", "label"]  # BOM stripped
    assert frame.index.tolist() == [2, 5] and frame["text"].tolist() == ["two\nlines", "next"]
    jsonl = write(tmp_path / "d.jsonl", '\n{"text": "a", "label": 1}\n\n{"text": "b\\u2028c", "label": 2}\n')
    assert read_table(jsonl).index.tolist() == [2, 4]
    array = write(tmp_path / "a.json", '[\n  {"text": "a", "label": 1},\n\n  {"text": "b", "label": 2}\n]\n')
    assert read_table(array).index.tolist() == [2, 4]


def test_tsv_without_quoting_keeps_quote_characters(tmp_path):
    path = write(tmp_path / "d.tsv", 'sentence\tlabel\n"hi" she said\t1\nplain\t0\n')
    assert load_texts(path).texts == ['"hi" she said', "plain"]


def test_label_map_orders_and_round_trips():
    ints = LabelMap.from_values(["10", 2, "1", 2.0, None, ""])
    assert ints.names == ["1", "2", "10"]  # numeric order, not string order
    assert ints.encode([10, "2", 1.0], source="x", rows=[2, 3, 4]).tolist() == [2, 1, 0]
    words = LabelMap.from_values(["pos", " neg", "neutral"])
    assert words.names == ["neg", "neutral", "pos"] and len(words) == 3
    assert words.decode([2, 0]) == ["pos", "neg"]
    assert LabelMap.from_json(json.loads(json.dumps(words.to_json()))) == words
    assert LabelMap(["a", "b"]).encode(["b"], source="x", rows=[2]).dtype == np.int64
    assert LabelMap.from_values([pd.NA, float("nan"), True, "x"]).names == ["true", "x"]


def test_integer_ids_read_as_names_with_a_warning(tmp_path):
    path = write(tmp_path / "v.tsv", "sentence\tlabel\nnice\t1\nbad\t0\n")
    with pytest.warns(UserWarning, match="read as class ids: 0=negative, 1=positive"):
        examples = load_texts(path, labels=LabelMap(["negative", "positive"]))
    assert examples.labels.tolist() == [1, 0]


def test_unlabelled_prediction_data(tmp_path):
    path = write(tmp_path / "p.csv", "id,content\n7,first\n8,second\n")
    examples = load_texts(path, require_labels=False)
    assert examples.texts == ["first", "second"] and examples.labels is None and examples.rows.tolist() == [2, 3]
    labelled = write(tmp_path / "l.csv", "text,label\na,x\nb,y\n")
    assert load_texts(labelled, require_labels=False).labels.tolist() == [0, 1]
    # labels the model does not know are ignored for prediction, an error for evaluation
    assert load_texts(labelled, labels=LabelMap(["x", "z"]), require_labels=False).labels is None


@pytest.mark.parametrize("name", ["u.txt", "u.txt.gz"])
def test_plain_text_is_one_unlabelled_text_per_line(tmp_path, name):
    import gzip

    raw = b"a great film, really\n\n  dull and slow\r\nid,label\n"
    (tmp_path / name).write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    examples = load_texts(tmp_path / name, require_labels=False)
    assert examples.texts == ["a great film, really", "  dull and slow", "id,label"]  # no header, no CSV
    assert examples.rows.tolist() == [1, 3, 4] and examples.labels is None
    with pytest.raises(DataError, match="no label column found"):
        load_texts(tmp_path / name)


def test_single_file_split_is_seeded_stratified_and_recorded(tmp_path):
    frame = labelled_frame()
    path = tmp_path / "d.csv"
    frame.to_csv(path, index=False)
    a, b = load_text_splits(path), load_text_splits(path)
    c = load_text_splits(path, seed=7)
    for part in ("train", "validation", "test"):
        assert getattr(a, part).rows.tolist() == getattr(b, part).rows.tolist()
        assert np.all(np.diff(getattr(a, part).rows) > 0)  # file order kept
    assert a.test.rows.tolist() != c.test.rows.tolist()
    all_rows = np.concatenate([a.train.rows, a.validation.rows, a.test.rows])
    assert sorted(all_rows.tolist()) == list(range(2, 202))  # a partition of the file
    assert a.split_info["method"] == "stratified" and a.split_info["seed"] == 42
    assert a.split_info["sizes"] == {"train": 160, "validation": 20, "test": 20}
    assert a.split_info["fractions"] == {"train": 0.8, "validation": 0.1, "test": 0.1}
    overall = np.bincount(a.train.labels, minlength=3) / len(a.train)
    for part in (a.validation, a.test):  # each class share within one example of the whole
        assert np.all(np.abs(np.bincount(part.labels, minlength=3) / len(part) - overall) <= 1 / len(part) + 1e-9)
    assert a.labels.names == ["mid", "neg", "pos"] and (a.text_column, a.label_column) == ("text", "label")
    # texts and labels stay aligned through the split
    for text, label in zip(a.test.texts, a.labels.decode(a.test.labels)):
        assert text.endswith(label)


def test_split_fractions(tmp_path):
    path = tmp_path / "d.csv"
    labelled_frame(100).to_csv(path, index=False)
    two = load_text_splits(path, split=(0.9, 0.1, 0))
    assert two.test is None and len(two.validation) == 10
    with pytest.raises(ConfigError):
        load_text_splits(path, split=(0.5, 0.1, 0.1))


def test_a_class_too_small_to_split_is_named_and_can_be_dropped(tmp_path):
    from transferkit.data import DataWarning

    rows = "".join(f"t{i},{'a' if i > 15 else 'd' if i > 1 else 'b' if i else 'c'}\n" for i in range(30))  # b, c: 1
    path = write(tmp_path / "d.csv", "text,label\n" + rows)
    with pytest.raises(DataError, match=r"2 class\(es\) have fewer than 3 examples.*'b' \(1\), 'c' \(1\); "
                                         r"drop them with --min-class-count 3"):
        load_text_splits(path)
    with pytest.warns(DataWarning, match=r"dropped 2 row\(s\) of 2 class\(es\) with fewer than 3 examples \(b, c\)"):
        splits = load_text_splits(path, min_class_count=3)
    assert splits.labels.names == ["a", "d"] and sum(splits.split_info["sizes"].values()) == 28


def test_train_and_validation_files_make_no_test(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,x\nb,y\nc,x\n")
    val = write(tmp_path / "dev.jsonl", '{"sentence": "d", "label": "y"}\n')
    splits = load_text_splits(train, val)
    assert splits.test is None and splits.validation.labels.tolist() == [1]
    assert splits.split_info == {"method": "files", "files": {"train": str(train), "validation": str(val)},
                                 "sizes": {"train": 3, "validation": 1}}


def test_folder_with_split_files(tmp_path):
    write(tmp_path / "train.csv", "text,label\na,x\nb,y\nc,x\n")
    write(tmp_path / "dev.csv", "text,label\nd,y\n")
    write(tmp_path / "test.csv", "text,label\ne,x\nf,y\n")
    write(tmp_path / "notes.txt", "ignored")
    splits = load_text_splits(tmp_path)
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (3, 1, 2)
    assert splits.test.source == str(tmp_path / "test.csv")
