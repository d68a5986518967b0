"""Bad input: each case is ONE line naming the file, the line and the column, and what to do."""

from __future__ import annotations

import bz2
import gzip
import json

import pandas as pd
import pytest

from transferkit.data import DataWarning, LabelMap, read_table
from transferkit.errors import DataError
from transferkit.text import load_text_splits, load_texts


def one_line_error(call, *parts):
    """Run call, expect a DataError whose message is one line containing every part."""
    with pytest.raises(DataError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message, message
    for part in parts:
        assert str(part) in message, f"{part!r} not in {message!r}"
    return message


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_missing_file(tmp_path):
    one_line_error(lambda: load_texts(tmp_path / "nope.csv"), "nope.csv", "no such file")
    one_line_error(lambda: load_texts("no_such_dataset"), "no_such_dataset", "rotten_tomatoes", "sst2")


def test_unsupported_extension(tmp_path):
    path = write(tmp_path / "data.xlsx", "x")
    one_line_error(lambda: read_table(path), "data.xlsx", ".xlsx", ".csv", ".tsv", ".jsonl", ".parquet")


def test_empty_file_and_header_only(tmp_path):
    one_line_error(lambda: read_table(write(tmp_path / "empty.csv", "")), "empty.csv", "empty", "0 bytes")
    one_line_error(lambda: read_table(write(tmp_path / "blank.csv", "\n\n")), "blank.csv", "empty")
    one_line_error(lambda: read_table(write(tmp_path / "head.csv", "text,label\n")), "head.csv", "no data rows")
    one_line_error(lambda: read_table(write(tmp_path / "empty.jsonl", "")), "empty.jsonl", "empty")


def test_missing_column_lists_available_and_option(tmp_path):
    path = write(tmp_path / "d.csv", "body,label\nhello,a\nbye,b\n")
    one_line_error(lambda: load_texts(path), "d.csv", "body, label", "--text-column")
    one_line_error(lambda: load_texts(path, text_column="txt"), "'txt'", "body, label", "--text-column")
    nolabel = write(tmp_path / "n.csv", "text,score\nhello,1\n")
    one_line_error(lambda: load_texts(nolabel), "n.csv", "label column", "text, score", "--label-column")


def test_ambiguous_column_asks_to_choose(tmp_path):
    path = write(tmp_path / "d.csv", "text,sentence,label\na,b,x\nc,d,y\n")
    one_line_error(lambda: load_texts(path), "d.csv", "'text' and 'sentence'", "--text-column")
    assert load_texts(path, text_column="sentence").texts == ["b", "d"]
    labels = write(tmp_path / "l.csv", "text,label,class\na,x,1\nb,y,2\n")
    one_line_error(lambda: load_texts(labels), "'label' and 'class'", "--label-column")


def test_empty_and_non_text_rows(tmp_path):
    rows = "".join(f"row {i},a\n" if i % 3 else ",b\n" for i in range(1, 31))
    path = write(tmp_path / "d.csv", "text,label\n" + rows)
    # every third row (i = 3, 6, ...) is empty: lines i + 1 = 4, 7, 10, 13, 16 and 5 more
    one_line_error(lambda: load_texts(path), "d.csv", "'text'", "lines 4, 7, 10, 13, 16 and 5 more (10 rows)",
                   "--drop-invalid")
    with pytest.warns(DataWarning, match=r"dropped 10 of 30 rows"):
        examples = load_texts(path, drop_invalid=True)
    assert len(examples) == 20 and 4 not in examples.rows and examples.rows[0] == 2

    jsonl = write(tmp_path / "d.jsonl",
                  '{"text": "ok", "label": 1}\n{"text": 5, "label": 0}\n{"text": null, "label": 0}\n')
    one_line_error(lambda: load_texts(jsonl), "d.jsonl", "not text", "lines 2, 3")
    parquet = tmp_path / "d.parquet"
    pd.DataFrame({"text": ["ok", None], "label": [1, 0]}).to_parquet(parquet)
    one_line_error(lambda: load_texts(parquet), "d.parquet", "row 2", "--drop-invalid")  # Parquet: row numbers


def test_missing_labels(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\na,x\nb,\nc,y\nd,x\n")
    one_line_error(lambda: load_text_splits(path, path), "d.csv", "'label'", "line 3", "--drop-invalid")
    with pytest.warns(DataWarning, match="dropped 1 of 4"):
        assert len(load_texts(path, drop_invalid=True)) == 3
    # unlabelled prediction data: the label column is optional, incomplete labels are just not used
    assert load_texts(path, require_labels=False).labels is None


def test_single_class_in_training(tmp_path):
    path = write(tmp_path / "d.csv", "text,label\n" + "".join(f"t{i},pos\n" for i in range(20)))
    one_line_error(lambda: load_text_splits(path), "d.csv", "single class", "'pos'", "--label-column")


def test_unseen_labels_in_evaluation(tmp_path):
    train = write(tmp_path / "train.csv", "text,label\na,neg\nb,pos\nc,neg\nd,pos\n")
    val = write(tmp_path / "val.csv", "text,label\na,neg\nb,neutral\nc,pos\nd,meh\n")
    one_line_error(lambda: load_text_splits(train, val), "val.csv", "'meh', 'neutral'", "lines 3, 5",
                   "neg, pos")
    one_line_error(lambda: load_texts(val, labels=LabelMap(["neg", "pos"])), "never seen in training")


def test_not_utf8_gives_line_and_byte_offset(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes("text,label\ngood,a\ncaf\xe9 noir,b\n".encode("latin-1"))
    # offset: 'text,label\n' (11) + 'good,a\n' (7) + 'caf' (3) = 21
    one_line_error(lambda: read_table(path), "latin.csv", "line 3", "byte offset 21", "0xe9",
                   "iconv -f latin1 -t utf-8")


def test_duplicated_header(tmp_path):
    path = write(tmp_path / "d.csv", "text,label,text\na,b,c\n")
    one_line_error(lambda: read_table(path), "d.csv", "line 1", "'text' appears twice", "columns 1 and 3")


def test_invalid_jsonl_line(tmp_path):
    path = write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", label: 0}\n')
    one_line_error(lambda: read_table(path), "d.jsonl", "line 3", "not valid JSON")
    lst = write(tmp_path / "l.jsonl", '{"text": "a"}\n[1, 2]\n')
    one_line_error(lambda: read_table(lst), "line 2", "not an object")


def test_ragged_csv_rows(tmp_path):
    path = write(tmp_path / "d.csv", 'text,label\n"multi\nline",a\nfine,b\nan, extra comma,c\n')
    one_line_error(lambda: read_table(path), "d.csv", "line 5", "3 fields", "header has 2", "quote")
    short = write(tmp_path / "s.tsv", "text\tlabel\nonly text\n")
    one_line_error(lambda: read_table(short), "s.tsv", "line 2", "1 field but", "a tab")


def test_bad_quoting_and_bad_compression(tmp_path):
    path = write(tmp_path / "q.csv", 'text,label\n"unterminated,a\nb,c\n')
    one_line_error(lambda: read_table(path), "q.csv", "line")
    fake = tmp_path / "d.csv.gz"
    fake.write_bytes(b"not gzip at all")
    one_line_error(lambda: read_table(fake), "d.csv.gz", "decompress")
    broken = tmp_path / "d.parquet"
    broken.write_bytes(b"PAR1 nonsense")
    one_line_error(lambda: read_table(broken), "d.parquet", "Parquet")


def test_compressed_utf8_error_mentions_decompression(tmp_path):
    path = tmp_path / "d.csv.bz2"
    path.write_bytes(bz2.compress("text,label\n\xff,a\n".encode("latin-1")))
    one_line_error(lambda: read_table(path), "line 2", "after decompression")
    gz = tmp_path / "d.jsonl.gz"
    gz.write_bytes(gzip.compress(json.dumps({"text": "x", "text2": 1}).encode()))
    assert list(read_table(gz).columns) == ["text", "text2"]
