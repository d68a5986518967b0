"""NER data: CoNLL/JSONL readers, tagging schemes, one-line errors with file and line, window
splitting, sub-word label alignment, seqeval metrics. No training here."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from transferkit.errors import DataError
from transferkit.tasks.token_classification.conll import read_ner
from transferkit.tasks.token_classification.data import label_names, load_ner_splits
from transferkit.tasks.token_classification.metrics import ner_metrics
from transferkit.tasks.token_classification.schemes import convert
from transferkit.tasks.token_classification.windows import IGNORE, encode_sentences, plan_windows

pytestmark = pytest.mark.usefixtures("ft_env")

WORDS = ["alice", "smithson", "went", "to", "newyork", "today"]
IOB2 = ["B-PER", "I-PER", "O", "O", "B-LOC", "O"]


def conll(tmp_path, body: str, name: str = "data.conll"):
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


def lines_of(words, tags, pos: bool = False) -> str:
    return "".join(f"{w} NN {t}\n" if pos else f"{w}\t{t}\n" for w, t in zip(words, tags))


# ---------------------------------------------------------------- readers and schemes

def test_conll_iob2_with_docstart_and_selectable_tag_column(tmp_path):
    body = "-DOCSTART- -X- O\n\n" + lines_of(WORDS, IOB2, pos=True) + "\n\n" + lines_of(["bob"], ["B-PER"], pos=True)
    path = conll(tmp_path, body)
    data = read_ner(path)
    assert data.tokens == [WORDS, ["bob"]] and data.tags == [IOB2, ["B-PER"]] and data.scheme == "iob2"
    assert data.lines == [3, 11]  # 1-based line of each sentence's first token
    assert read_ner(path, tag_column=2).tags == data.tags
    with pytest.raises(DataError, match=r"line 3 \(token 'alice'\).*malformed tag 'NN'"):
        read_ner(path, tag_column=1)  # the POS column is not a tag column


@pytest.mark.parametrize("scheme,tags", [
    ("iob1", ["I-PER", "I-PER", "O", "O", "I-LOC", "O"]),
    ("bioes", ["B-PER", "E-PER", "O", "O", "S-LOC", "O"]),
    ("iob2", IOB2),
])
def test_each_scheme_is_detected_and_read_as_iob2(tmp_path, scheme, tags):
    data = read_ner(conll(tmp_path, lines_of(WORDS, tags)))
    assert data.scheme == scheme and data.tags == [IOB2]
    assert read_ner(conll(tmp_path, lines_of(WORDS, tags)), scheme=scheme).tags == [IOB2]
    assert convert([IOB2], "iob2", scheme) == [tags]  # and back


def test_iob1_b_separates_adjacent_entities_of_one_type(tmp_path):
    data = read_ner(conll(tmp_path, lines_of(["alice", "bob", "erin"], ["I-PER", "B-PER", "I-PER"])))
    assert data.scheme == "iob1" and data.tags == [["B-PER", "B-PER", "I-PER"]]


def test_jsonl_tokens_and_tags(tmp_path):
    path = tmp_path / "data.jsonl"
    rows = [{"tokens": WORDS, "tags": ["B-PER", "E-PER", "O", "O", "S-LOC", "O"]},
            {"tokens": ["rome"], "tags": ["S-LOC"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    data = read_ner(path)
    assert data.scheme == "bioes" and data.tags == [IOB2, ["B-LOC"]] and data.lines == [1, 2]


@pytest.mark.parametrize("body,message", [
    ("alice B-PER\nwent O O\n", r"data.conll: line 2 has 3 columns but line 1 has 2"),  # ragged
    ("alice B-PER\nwent O\n\nrome X-LOC\n", r"data.conll: line 4 \(token 'rome'\): malformed tag 'X-LOC'"),
    ("alice PERSON\n", r"data.conll: line 1 \(token 'alice'\): malformed tag 'PERSON'"),  # no scheme at all
    ("alice B-PER\nwent O\n\nto O\nrome I-LOC\n", r"data.conll: line 5 \(token 'rome'\): 'I-LOC' follows O"),
    ("alice B-PER\nwent O\n\nrome I-LOC\n", r"line 4 \(token 'rome'\): 'I-LOC' follows the sentence start"),
    ("rome S-LOC\nwent O\noslo E-LOC\n", r"line 3 \(token 'oslo'\).*invalid BIOES"),
    ("\n-DOCSTART- O\n\n\n", r"data.conll: no sentences"),
    ("alice\nwent\n", r"data.conll: line 1 has one column"),
])
def test_bad_conll_is_one_line_naming_file_and_line(tmp_path, body, message):
    with pytest.raises(DataError, match=message) as info:
        read_ner(conll(tmp_path, body))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("row,message", [
    ({"tokens": [], "tags": []}, r"data.jsonl: line 2: 'tokens' must be a non-empty list"),  # empty sentence
    ({"tokens": ["rome", "went"], "tags": ["B-LOC"]}, r"line 2: 'tags' must be a list with one tag per token"),
    ({"tokens": ["rome", " "], "tags": ["B-LOC", "O"]}, r"line 2: token 1 of 'tokens' not a non-blank string"),
    ({"tokens": ["to", "rome"], "tags": ["O", "I-LOC"]}, r"line 2, token 1 \('rome'\): 'I-LOC' follows O"),
])
def test_bad_jsonl_is_one_line_naming_file_and_line(tmp_path, row, message):
    path = tmp_path / "data.jsonl"
    path.write_text(json.dumps({"tokens": ["alice"], "tags": ["B-PER"]}) + "\n" + json.dumps(row) + "\n")
    with pytest.raises(DataError, match=message) as info:
        read_ner(path)
    assert "\n" not in str(info.value)


def test_orphan_i_tags_are_repaired_when_asked(tmp_path):
    path = conll(tmp_path, "alice B-PER\nwent O\n\nto O\nrome I-LOC\nberlin I-LOC\n")
    data = read_ner(path, repair=True)
    assert data.tags == [["B-PER", "O"], ["O", "B-LOC", "I-LOC"]] and data.repaired == 1
    with pytest.raises(DataError, match="unknown tagging scheme 'bilou'"):
        read_ner(path, scheme="bilou")


def test_in_memory_splits_are_checked_and_labelled(tiny_ner):
    data = load_ner_splits(tiny_ner["train"], tiny_ner["validation"])
    assert data.label_names == ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"] == label_names(data.train)
    assert data.test is None and len(data.train) == 96
    with pytest.raises(DataError, match="train: sentence 2 has 0 tokens"):
        load_ner_splits(([["rome"], []], [["B-LOC"], []]))
    with pytest.raises(DataError, match="train: sentence 1, token 1: 'I-LOC' follows O"):
        load_ner_splits(([["to", "rome"]], [["O", "I-LOC"]]), scheme="iob2")


def test_one_file_is_split_by_seed(tmp_path, tiny_ner):
    from conftest import write_conll

    path = write_conll(tmp_path / "all.conll", *tiny_ner["train"])
    first, again = load_ner_splits(str(path), seed=3), load_ner_splits(str(path), seed=3)
    assert (len(first.train), len(first.validation), len(first.test)) == (76, 10, 10)
    assert first.test.tokens == again.test.tokens and first.split_info["seed"] == 3
    assert load_ner_splits(str(path), seed=4).test.tokens != first.test.tokens


# ---------------------------------------------------------------- windows and alignment

@pytest.mark.parametrize("seed", range(20))
def test_window_plan_covers_every_word_once(seed):
    rng = random.Random(seed)
    counts = [rng.randint(1, 4) for _ in range(rng.randint(1, 60))]
    budget, stride = rng.randint(4, 12), rng.randint(0, 6)
    windows = plan_windows(counts, budget, stride)
    owned = [w for _, _, a, b in windows for w in range(a, b)]
    assert owned == list(range(len(counts)))  # every word owned exactly once, in order
    for start, end, own_start, own_end in windows:
        assert start <= own_start <= own_end <= end
        assert sum(counts[start:end]) <= budget or end - start == 1
    assert all(b[0] > a[0] for a, b in zip(windows, windows[1:]))  # always moving forward


def _tokenizer(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def test_labels_go_on_the_first_subword(tiny_ner_bert):
    tok = _tokenizer(tiny_ner_bert)
    ids = {"O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}
    windows = encode_sentences(tok, [WORDS], [IOB2], ids, max_length=32)
    pieces = tok.convert_ids_to_tokens(windows.input_ids[0].tolist())
    assert pieces == ["[CLS]", "alice", "smith", "##son", "went", "to", "new", "##york", "today", "[SEP]"]
    assert windows.labels[0].tolist() == [IGNORE, 3, 4, IGNORE, 0, 0, 1, IGNORE, 0, IGNORE]
    assert windows.first[0].tolist() == [1, 2, 4, 5, 6, 8]
    every = encode_sentences(tok, [WORDS], [IOB2], ids, max_length=32, label_all_subwords=True)
    # The second sub-word of a B- word continues the entity as I-.
    assert every.labels[0].tolist() == [IGNORE, 3, 4, 4, 0, 0, 1, 2, 0, IGNORE]
    assert every.first[0].tolist() == windows.first[0].tolist()


def test_long_sentences_become_windows_that_keep_every_token(tiny_ner_bert):
    tok = _tokenizer(tiny_ner_bert)
    ids = {"O": 0, "B-LOC": 1, "I-LOC": 2, "B-PER": 3, "I-PER": 4}
    words, tags = WORDS * 7, IOB2 * 7  # 42 words, 56 sub-words
    windows = encode_sentences(tok, [words, ["rome"]], [tags, ["B-LOC"]], ids, max_length=12, stride=3)
    assert len(windows) > 6 and max(windows.lengths) <= 12
    assert windows.sentence.tolist() == [0] * (len(windows) - 1) + [1]
    seen = np.concatenate([w for w, s in zip(windows.words, windows.sentence) if s == 0])
    assert sorted(seen.tolist()) == list(range(42))  # each word predicted from exactly one window
    labelled = [(labels[pos], words[w]) for labels, first, ws in zip(windows.labels, windows.first, windows.words)
                for pos, w in zip(first, ws)][:42]
    assert [ids[t] for t in tags] == [int(label) for label, _ in labelled]
    # Overlap: consecutive windows share tokens (context), but only owned words carry labels.
    assert sum((labels != IGNORE).sum() for labels in windows.labels) == 43


# ---------------------------------------------------------------- metrics

def test_seqeval_entity_metrics_and_token_accuracy():
    gold = [["B-PER", "I-PER", "O", "B-LOC"], ["B-LOC", "O"]]
    pred = [["B-PER", "I-PER", "O", "O"], ["B-LOC", "B-PER"]]
    m = ner_metrics(gold, pred)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["LOC"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["per_class"]["PER"]["precision"] == 0.5 and m["entities"] == 3
    assert m["macro_f1"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert m["confusion_matrix"]["labels"] == ["LOC", "PER", "O"]


def test_prediction_input_needs_only_tokens(tmp_path):
    data = read_ner(conll(tmp_path, "alice NNP\nwent VBD\n\nrome NNP\n"), require_tags=False)
    assert data.tokens == [["alice", "went"], ["rome"]] and data.tags is None
    assert read_ner(conll(tmp_path, "alice\nwent\n"), require_tags=False).tokens == [["alice", "went"]]
