"""Pretraining (tasks/language_modeling, methods/pretrain.py): masked-LM with whole-word masking
and next-sentence prediction, causal-LM, packing, from scratch with a trained tokenizer,
fine-tuning from a pretrain run, and the bad-input cases. Tiny random models throughout."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

import transferkit as tk
from transferkit.engine.callbacks import EarlyStopping
from transferkit.errors import ConfigError, DataError
from transferkit.tasks.language_modeling.corpus import read_corpus, tokenize_corpus
from transferkit.tasks.language_modeling.examples import PackedBlocks, Specials
from transferkit.tasks.language_modeling.masking import Masking
from transferkit.text import hf
from transferkit.text.tiny import sentiment_sentences, tiny_bert, tiny_gpt2

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = {"batch_size": 8, "lr": 3e-3, "max_length": 24, "progress": False}


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm-models")
    return {"bert": tiny_bert(root / "bert"), "gpt2": tiny_gpt2(root / "gpt2")}


@pytest.fixture()
def corpus(tmp_path):
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(sentiment_sentences(160, 1)[0]) + "\n", encoding="utf-8")
    return path


def _documents(tmp_path, n: int = 40):
    """Blank-line-separated documents of 2-4 sentences each."""
    texts = sentiment_sentences(n * 3, 5)[0]
    docs, i = [], 0
    for d in range(n):
        k = 2 + d % 3
        docs.append("\n".join(t + "." for t in texts[i:i + k]))
        i += k
    path = tmp_path / "docs.txt"
    path.write_text("\n\n".join(docs) + "\n", encoding="utf-8")
    return path


# ------------------------------------------------------------------------------ examples and masks


def test_packed_blocks_are_full_and_never_put_separators_at_the_edges(models, corpus):
    tokenizer = hf.load_tokenizer(models["bert"])
    specials = Specials.of(tokenizer)
    tokens = tokenize_corpus(read_corpus(str(corpus)), tokenizer, None)
    blocks = PackedBlocks(tokens, np.arange(tokens.documents), 16, specials)
    assert len(blocks) == (int(tokens.doc_lengths().sum()) + tokens.documents) // 14  # + one separator per document
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    inner_separators = 0
    for i in range(len(blocks)):
        ids, starts, _ = blocks.example(i)
        assert ids[0] == cls and ids[-1] == sep and len(ids) <= 16
        assert ids[1] != sep and ids[-2] != sep  # no [CLS] [SEP] and no empty segment
        assert np.count_nonzero(ids == cls) == 1
        inner_separators += int(np.count_nonzero(ids[1:-1] == sep))
        assert len(starts) == len(ids)
    assert inner_separators > 0  # documents are packed across block boundaries
    # The packed text is the corpus in order: the first block starts with the first document.
    first = tokenizer(corpus.read_text().splitlines()[0], add_special_tokens=False)["input_ids"]
    assert list(blocks.example(0)[0][1:1 + len(first)]) == first[:14]


def test_masking_is_bert_style_and_never_touches_special_tokens():
    specials = frozenset({0, 1, 2})
    masking = Masking(mask_id=3, special_ids=specials, vocab_size=1000, probability=0.15)
    ids = np.r_[1, np.arange(10, 20000) % 990 + 10, 2]
    inputs, labels = masking.apply(ids, np.ones(len(ids), np.uint8), np.random.default_rng(0))
    picked = labels != -100
    assert not picked[0] and not picked[-1] and (labels[picked] == ids[picked]).all()
    assert 0.14 < picked.mean() < 0.16
    shown = inputs[picked]
    assert 0.77 < (shown == 3).mean() < 0.83  # 80 % mask token
    kept = (shown == ids[picked]).mean()
    assert 0.08 < kept < 0.13  # 10 % kept (plus random draws that hit the same id)
    assert not np.isin(inputs[picked & (inputs != 3)], list(specials)).any()  # random replacements are not specials
    assert (inputs[~picked] == ids[~picked]).all()


def test_whole_word_masking_masks_every_piece_of_a_word():
    masking = Masking(mask_id=3, special_ids=frozenset({0, 1, 2}), vocab_size=100, probability=0.3, whole_word=True)
    ids = np.r_[1, np.arange(10, 70), 2]
    starts = np.r_[1, np.tile([1, 0, 0], 20), 1].astype(np.uint8)  # words of three pieces
    for seed in range(20):
        _, labels = masking.apply(ids, starts, np.random.default_rng(seed))
        picked = (labels[1:-1] != -100).reshape(20, 3)
        assert (picked.all(1) | ~picked.any(1)).all()  # a word is masked whole or not at all
    tokenizer_based = masking.apply(ids, starts, np.random.default_rng(0))[1]
    assert (tokenizer_based != -100).any()


def test_word_starts_come_from_the_tokenizer_not_wordpiece_markers(models, tmp_path):
    path = tmp_path / "words.txt"
    path.write_text("unbelievably good\n", encoding="utf-8")
    for name in ("bert", "gpt2"):
        tokenizer = hf.load_tokenizer(models[name])
        tokens = tokenize_corpus(read_corpus(str(path)), tokenizer, None)
        words = tokenizer("unbelievably good", add_special_tokens=False).word_ids()
        expected = [1] + [int(a != b) for a, b in zip(words[1:], words[:-1])]
        assert list(tokens.word_starts) == expected and sum(expected) == 2


def test_a_large_corpus_is_tokenised_in_shards_into_the_cache(models, corpus, tmp_path, monkeypatch):
    from transferkit.tasks.language_modeling import corpus as corpus_module

    tokenizer = hf.load_tokenizer(models["bert"])
    whole = tokenize_corpus(read_corpus(str(corpus)), tokenizer, tmp_path / "a")
    monkeypatch.setattr(corpus_module, "SHARD", 7)
    calls = []
    real = type(tokenizer).__call__
    monkeypatch.setattr(type(tokenizer), "__call__", lambda self, *a, **k: calls.append(len(a[0])) or real(self, *a, **k))
    sharded = tokenize_corpus(read_corpus(str(corpus)), tokenizer, tmp_path / "b")
    assert max(calls) <= 7 + 1 and len(calls) >= 160 // 8  # never the whole corpus at once
    assert isinstance(sharded.ids, np.memmap)
    np.testing.assert_array_equal(np.asarray(whole.ids), np.asarray(sharded.ids))
    np.testing.assert_array_equal(whole.doc_offsets, sharded.doc_offsets)
    calls.clear()
    again = tokenize_corpus(read_corpus(str(corpus)), tokenizer, tmp_path / "b")
    assert calls == [] and len(again.ids) == len(whole.ids)  # read back from the cache
    assert not [p for p in (tmp_path / "b").iterdir() if p.name.startswith(".")]  # no temporary folder left


# ------------------------------------------------------------------------------ objectives end to end


def test_mlm_run_loads_in_plain_transformers_and_fills_masks(models, corpus, tmp_path):
    from transformers import AutoModelForMaskedLM

    run = tk.pretrain(str(models["bert"]), str(corpus), output=tmp_path / "mlm", epochs=2, whole_word_mask=True,
                      **FAST)
    config = json.loads((tmp_path / "mlm" / "config.json").read_text())
    assert config["kind"] == "pretrain" and config["task"] == "masked-lm" and config["run_info"]["objective"] == "mlm"
    metrics = run.metrics["validation"]
    assert metrics["perplexity"] > 1 and 0 <= metrics["accuracy"] <= 1 and metrics["tokens"] > 0
    assert any("initialised freshly" in n for n in run.info["model_notes"])  # a bare BertModel has no LM head
    logged = [json.loads(line) for line in (tmp_path / "mlm" / "train_log.jsonl").read_text().splitlines()]
    assert any(r.get("tokens_per_s", 0) > 0 for r in logged)  # pretraining throughput is logged
    assert [r["epoch"] for r in logged if r.get("event") == "evaluate"] == [1, 2]  # a perplexity per epoch
    plain = AutoModelForMaskedLM.from_pretrained(tmp_path / "mlm" / "model").eval()
    tokenizer = hf.load_tokenizer(tmp_path / "mlm" / "model")
    batch = tokenizer(["the movie was [MASK]"], return_tensors="pt")
    with torch.inference_mode():
        ours = run.predictor.model.eval()(**batch).prediction_logits
        theirs = plain(**batch).logits
    torch.testing.assert_close(ours, theirs)
    record = tk.load(tmp_path / "mlm").predict_json(["the movie was [MASK]"])[0]
    position = int((batch["input_ids"][0] == tokenizer.mask_token_id).nonzero()[0])
    best = tokenizer.decode([int(theirs[0, position].argmax())]).strip()
    assert record["masks"][0][0]["token"] == best and record["filled"].startswith("the movie was ")


def test_mlm_with_next_sentence_prediction(models, tmp_path):
    docs = _documents(tmp_path)
    run = tk.pretrain(str(models["bert"]), str(docs), output=tmp_path / "nsp", objective="mlm+nsp", documents=True,
                      epochs=2, **{**FAST, "max_length": 32})
    metrics = run.metrics["validation"]
    assert 0 <= metrics["nsp_accuracy"] <= 1 and metrics["perplexity"] > 1
    task = run.predictor.task
    assert task.config.nsp and type(run.predictor.model).__name__ == "BertForPreTraining"


def test_nsp_pairs_are_half_next_half_random(models, tmp_path):
    from transferkit.tasks.language_modeling.examples import SentencePairs

    tokenizer = hf.load_tokenizer(models["bert"])
    tokens = tokenize_corpus(read_corpus(str(_documents(tmp_path, 200)), documents=True), tokenizer, None)
    pairs = SentencePairs(tokens, np.arange(tokens.documents), 32, Specials.of(tokenizer), seed=0)
    assert 0.35 < pairs.labels.mean() < 0.65
    ids, _, types = pairs.example(0)
    sep = tokenizer.sep_token_id
    assert ids[0] == tokenizer.cls_token_id and ids[-1] == sep and np.count_nonzero(ids == sep) == 2
    first_sep = int(np.flatnonzero(ids == sep)[0])
    assert (types[:first_sep + 1] == 0).all() and (types[first_sep + 1:] == 1).all()


def test_clm_run_generates_and_loads_as_a_causal_lm(models, corpus, tmp_path):
    from transformers import AutoModelForCausalLM

    run = tk.pretrain(str(models["gpt2"]), str(corpus), output=tmp_path / "clm", epochs=2, generate_tokens=5, **FAST)
    assert json.loads((tmp_path / "clm" / "config.json").read_text())["task"] == "causal-lm"  # clm: the decoder's
    assert run.metrics["validation"]["perplexity"] > 1
    record = tk.load(tmp_path / "clm").predict_json(["the movie was"])[0]
    plain = AutoModelForCausalLM.from_pretrained(tmp_path / "clm" / "model").eval()
    tokenizer = hf.load_tokenizer(tmp_path / "clm" / "model")
    ids = tokenizer(["the movie was"], return_tensors="pt")
    greedy = plain.generate(**ids, max_new_tokens=5, do_sample=False, pad_token_id=tokenizer.eos_token_id)
    expected = greedy[0, ids["input_ids"].shape[1]:]
    expected = expected[:int((expected == tokenizer.eos_token_id).nonzero()[0]) + 1] \
        if (expected == tokenizer.eos_token_id).any() else expected
    assert record["continuation"] == tokenizer.decode(expected, skip_special_tokens=True)


def test_from_scratch_with_a_trained_tokenizer_then_finetune_from_the_run(models, corpus, tmp_path):
    run = tk.pretrain(str(models["bert"]), str(corpus), output=tmp_path / "scratch", train_tokenizer=120,
                      model_size="tiny", max_steps=4, **FAST)
    model = run.predictor.model
    assert model.config.num_hidden_layers == 2 and model.config.hidden_size == 128
    tokenizer = hf.load_tokenizer(tmp_path / "scratch" / "model")
    assert len(tokenizer) <= 120 and model.config.vocab_size == len(tokenizer)
    assert tokenizer.get_vocab() != hf.load_tokenizer(models["bert"]).get_vocab()
    assert run.config.from_scratch and "random weights" in run.info["model_notes"][0]

    texts, labels = sentiment_sentences(48, 3)
    tuned = tk.finetune(str(tmp_path / "scratch"), (texts, labels), sentiment_sentences(16, 4), max_steps=3,
                        progress=False, batch_size=8)
    assert tuned.predictor.model.config.hidden_size == 128  # the pretrained encoder, with a task head
    assert set(tuned.predict(["a great film"])) <= {"pos", "neg"}


def test_cli_pretrain_predict_and_finetune_from_the_run(models, corpus, tmp_path):
    env_python = [sys.executable, "-m", "transferkit"]
    out = tmp_path / "cli-mlm"
    done = subprocess.run([*env_python, "pretrain", "-m", str(models["bert"]), "--data", str(corpus), "-o", str(out),
                           "--max-steps", "3", "--batch-size", "8", "--max-length", "24", "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "perplexity" in done.stdout and "finetune -m" in done.stdout
    shown = subprocess.run([*env_python, "predict", str(out), "--text", "the movie was [MASK]"], capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert "top fills" in shown.stdout
    train = tmp_path / "train.csv"
    from transferkit.text.tiny import write_csv

    write_csv(train, *sentiment_sentences(40, 3))
    tuned = subprocess.run([*env_python, "finetune", "-m", str(out), "--train", str(train), "-o", str(tmp_path / "ft"),
                            "--max-steps", "2", "--batch-size", "8", "--no-progress"], capture_output=True, text=True,
                           timeout=300)
    assert tuned.returncode == 0, tuned.stderr


def test_early_stopping_minimises_perplexity():
    stopper = EarlyStopping("perplexity", patience=1)
    assert stopper.update({"perplexity": 20.0}, 1) and stopper.update({"perplexity": 10.0}, 2)
    assert not stopper.update({"perplexity": 12.0}, 3) and stopper.should_stop


# ------------------------------------------------------------------------------ bad input: one line, before work


def _refused(error, match: str, **kwargs):
    with pytest.raises(error) as caught:
        tk.pretrain(**kwargs)
    message = str(caught.value)
    assert "\n" not in message and match in message, message
    return message


def test_bad_corpora_are_refused(models, tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n  \n", encoding="utf-8")
    _refused(DataError, "no text", model=str(models["bert"]), train=str(empty), output=tmp_path / "a", **FAST)
    short = tmp_path / "short.txt"
    short.write_text("a good film\n", encoding="utf-8")
    _refused(DataError, "fewer than one block", model=str(models["bert"]), train=str(short), output=tmp_path / "b",
             **FAST)
    assert not (tmp_path / "b" / "model").exists()


def test_objectives_that_do_not_fit_the_model_are_refused(models, corpus, tmp_path):
    _refused(ConfigError, "--objective clm", model=str(models["gpt2"]), train=str(corpus), objective="mlm", **FAST)
    _refused(ConfigError, "--objective mlm", model=str(models["bert"]), train=str(corpus), objective="clm", **FAST)
    _refused(DataError, "two or more sentences", model=str(models["bert"]), train=str(corpus), objective="mlm+nsp",
             **FAST)
    _refused(ConfigError, "invalid objective", model=str(models["bert"]), train=str(corpus), objective="mlm+sop",
             **FAST)


def test_nsp_needs_a_bert_model_and_mlm_needs_a_mask_token(models, tmp_path):
    from transformers import RobertaConfig, RobertaModel

    roberta = tmp_path / "roberta"
    RobertaModel(RobertaConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=40)).save_pretrained(roberta)
    hf.load_tokenizer(models["bert"]).save_pretrained(roberta)
    docs = _documents(tmp_path)
    _refused(ConfigError, "no next-sentence head", model=str(roberta), train=str(docs), objective="mlm+nsp",
             documents=True, **FAST)
    no_mask = tmp_path / "no-mask"
    RobertaModel(RobertaConfig(vocab_size=400, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=40)).save_pretrained(no_mask)
    hf.load_tokenizer(models["gpt2"]).save_pretrained(no_mask)
    _refused(ConfigError, "no mask token", model=str(no_mask), train=str(docs), **FAST)


@pytest.mark.parametrize("strategy", ["lora", "top-k", "llrd"])
def test_strategies_pretrain_and_reload_to_the_same_model(models, corpus, tmp_path, strategy):
    """LoRA keeps the tied decoder tied: the saved model gives exactly the trained one's fills."""
    extra = {"top_k": 1} if strategy == "top-k" else {}
    run = tk.pretrain(str(models["bert"]), str(corpus), output=tmp_path / strategy, max_steps=6, strategy=strategy,
                      **extra, **FAST)
    text = ["the movie was [MASK]"]
    np.testing.assert_allclose(run.predict_proba(text)[0], tk.load(tmp_path / strategy).predict_proba(text)[0],
                               atol=1e-6)
    if strategy == "lora":
        assert run.info["trainable_parameters"] < run.info["parameters"] / 2
