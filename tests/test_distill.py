"""Distillation: losses, from-teacher students, cached teacher outputs, every task end to end,
the comparison, the CLI and its errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from crash import Crash, CrashAt
from transferkit.methods.distill import distill
from transferkit.methods.distill.losses import attention_loss, hard_label_loss, hidden_state_loss, soft_label_loss
from transferkit.methods.distill.students import kept_layers, shallow_copy
from transferkit.methods.finetune import finetune
from transferkit.runs import load_run
from transferkit.vision.tiny import colour_images

from conftest import build_tiny_bert, ft_sentences

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = dict(batch_size=8, lr=3e-3, progress=False)


def tk_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "transferkit", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def text_teacher(tmp_path_factory, tiny_bert, tiny_texts):
    """A 2-layer tiny BERT fine-tuned on the tiny sentiment texts."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TRANSFERKIT_HOME", str(tmp_path_factory.mktemp("home")))
    mp.setenv("OMP_NUM_THREADS", "1")
    out = tmp_path_factory.mktemp("teacher") / "run"
    run = finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], tiny_texts["test"], output=out,
                   epochs=6, **FAST)
    assert run.metrics["test"]["accuracy"] >= 0.8, run.metrics
    mp.undo()
    return out


# ------------------------------------------------------------------------------ losses


def test_soft_label_loss_is_zero_for_equal_logits_and_scaled_by_t_squared():
    logits = torch.randn(4, 3)
    assert soft_label_loss(logits, logits, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    other = torch.randn(4, 3)
    kl = torch.nn.functional.kl_div(torch.log_softmax(logits / 3, -1), torch.log_softmax(other / 3, -1),
                                    log_target=True, reduction="batchmean")
    assert soft_label_loss(logits, other, 3.0).item() == pytest.approx(9 * kl.item(), rel=1e-5)
    # A mask keeps padded positions out of the mean.
    seq, teacher = torch.randn(2, 5, 3), torch.randn(2, 5, 3)
    mask = torch.zeros(2, 5, dtype=torch.bool)
    mask[:, :2] = True
    assert soft_label_loss(seq, teacher, 1.0, mask).item() == pytest.approx(
        soft_label_loss(seq[:, :2], teacher[:, :2], 1.0).item(), rel=1e-5)


def test_hard_label_loss_ignores_unlabelled_examples():
    logits = torch.randn(4, 3)
    labels = torch.tensor([0, -100, 2, -100])
    expected = torch.nn.functional.cross_entropy(logits[[0, 2]], labels[[0, 2]])
    assert hard_label_loss(logits, labels).item() == pytest.approx(expected.item(), rel=1e-6)
    assert hard_label_loss(logits, torch.full((4,), -100)).item() == 0.0  # not NaN


def test_hidden_and_attention_losses():
    a, b = torch.randn(2, 4, 8), torch.randn(2, 4, 8)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 0, 0]])
    assert hidden_state_loss([a], [a], mask).item() == 0.0
    kept = mask.bool()
    assert hidden_state_loss([a], [b], mask).item() == pytest.approx(((a - b)[kept] ** 2).mean().item(), rel=1e-5)
    attn = torch.softmax(torch.randn(2, 2, 4, 4), -1)
    assert attention_loss([attn], [attn], mask).item() == pytest.approx(0.0, abs=1e-6)
    # Different head counts: compared after averaging over heads.
    assert attention_loss([attn], [torch.softmax(torch.randn(2, 4, 4, 4), -1)], mask).item() > 0


# ------------------------------------------------------------------------------ students


def test_kept_layers_are_evenly_spaced_ending_with_the_last():
    assert kept_layers(6, 3) == [1, 3, 5]
    assert kept_layers(12, 4) == [2, 5, 8, 11]
    assert kept_layers(6, 6) == list(range(6))
    assert kept_layers(2, 1) == [1]


def test_shallow_copy_keeps_the_chosen_layers_weights(tmp_path):
    from transformers import AutoModelForSequenceClassification, BertConfig, BertModel

    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                        intermediate_size=32, num_labels=2)
    torch.manual_seed(0)
    teacher = AutoModelForSequenceClassification.from_config(config)
    originals = {i: {k: v.clone() for k, v in teacher.bert.encoder.layer[i].state_dict().items()} for i in range(4)}
    student = shallow_copy(teacher, 2)
    assert student.config.num_hidden_layers == 2 and len(student.bert.encoder.layer) == 2
    for new, old in enumerate(kept_layers(4, 2)):
        for key, value in student.bert.encoder.layer[new].state_dict().items():
            torch.testing.assert_close(value, originals[old][key])
    student.save_pretrained(tmp_path)  # a plain model of the same class, reloadable without transferkit
    reloaded = AutoModelForSequenceClassification.from_pretrained(tmp_path)
    assert len(reloaded.bert.encoder.layer) == 2
    ids = torch.tensor([[2, 5, 7, 3]])
    student.eval()
    torch.testing.assert_close(reloaded(input_ids=ids).logits, student(input_ids=ids).logits)
    from transferkit.errors import ConfigError

    with pytest.raises(ConfigError, match="from-teacher:5 keeps more layers than the teacher has"):
        shallow_copy(BertModel(config), 5)


# ------------------------------------------------------------------------------ text end to end


def test_distill_text_from_teacher_with_unlabelled_data(text_teacher, tiny_texts, tmp_path):
    from transformers import AutoModelForSequenceClassification

    out = tmp_path / "student"
    unlabeled = ft_sentences(40, 9)[0]
    run = distill(text_teacher, "from-teacher:1", tiny_texts["train"], tiny_texts["validation"], tiny_texts["test"],
                  output=out, unlabeled=unlabeled, augment_copies=1, epochs=4, **FAST)
    assert run.info["transfer_set"] == {"labelled": 64, "unlabeled": 40, "augmented": 64}
    assert run.info["sizes"]["train"] == 168 and run.info["teacher_outputs"] == "cached"
    saved = json.loads((out / "config.json").read_text())
    assert saved["kind"] == "distill" and saved["teacher"] == str(text_teacher) and saved["task"] == "text-classification"
    # An ordinary run: loads, predicts, reloads in plain transformers with one layer.
    loaded = load_run(out)
    texts = tiny_texts["test"][0][:5]
    np.testing.assert_allclose(loaded.predict_proba(texts), run.predict_proba(texts), atol=1e-5)
    model = AutoModelForSequenceClassification.from_pretrained(out / "model")
    assert model.config.num_hidden_layers == 1
    doc = json.loads((out / "comparison.json").read_text())
    assert doc == run.comparison
    assert doc["metric"] == "accuracy" and doc["split"] == "test"
    for role in ("teacher", "student", "control"):
        row = doc[role]
        assert set(row["metrics"]) == {"validation", "test"}
    assert doc["student"]["parameters"] < doc["teacher"]["parameters"]
    assert doc["student"]["size_bytes"] < doc["teacher"]["size_bytes"]
    for key in ("latency_ms", "throughput_per_s"):
        assert doc["student"][key] > 0 and doc["teacher"][key] > 0
    t, s, c = (doc[r]["metrics"]["test"]["accuracy"] for r in ("teacher", "student", "control"))
    assert doc["retention_pct"] == pytest.approx(100 * s / t, abs=0.01)
    assert doc["gain_over_control_pt"] == pytest.approx(100 * (s - c), abs=0.01)
    assert s >= 0.75  # the one-layer student learns the task from the teacher
    page = (out / "report.html").read_text()  # the run's report shows the three models side by side
    assert 'id="distillation"' in page and all(f"{role}: " in page for role in ("teacher", "student", "control"))
    assert len((out / "evaluation.jsonl").read_text().splitlines()) == len(tiny_texts["test"][0])


def test_teacher_outputs_are_cached_on_disk_and_memory_mapped(text_teacher, tiny_texts, ft_env, monkeypatch):
    settings = dict(epochs=1, control=False, **FAST)
    distill(text_teacher, "from-teacher:1", tiny_texts["train"], **settings)
    cached = list((ft_env / "cache" / "teacher").glob("*/rows.npy"))
    assert len(cached) == 1
    rows = np.load(cached[0], mmap_mode="r")
    assert isinstance(rows, np.memmap) and rows.shape == (64, 2)
    # The cached logits are the teacher's: their softmax is what the teacher run predicts.
    probs = load_run(text_teacher).predict_proba(tiny_texts["train"][0])
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(np.array(rows)), -1).numpy(), probs, atol=2e-2)

    def no_teacher(*args, **kwargs):
        raise AssertionError("the teacher ran again")

    import transferkit.engine.inference as inference

    monkeypatch.setattr(inference, "predict", no_teacher)  # what Teacher.soft_targets runs the teacher with
    run = distill(text_teacher, "from-teacher:2", tiny_texts["train"], **settings)  # another student, same targets
    assert run.info["teacher_outputs"] == "cached" and run.info["steps"] == 8
    assert len(list((ft_env / "cache" / "teacher").glob("*/rows.npy"))) == 1  # the same entry, not a new one


def test_live_teacher_with_hidden_and_attention_losses_and_a_projection(text_teacher, tiny_texts, tmp_path):
    from transformers import BertConfig, BertModel

    # A registry-style student of another width (16 vs the teacher's 32) with the teacher's vocabulary.
    narrow = tmp_path / "narrow"
    build_tiny_bert(narrow)
    config = BertConfig.from_pretrained(narrow)
    config.hidden_size, config.intermediate_size, config.num_hidden_layers = 16, 32, 1
    torch.manual_seed(0)
    BertModel(config).save_pretrained(narrow)
    run = distill(text_teacher, str(narrow), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "s",
                  hidden_weight=1.0, attention_weight=1.0, epochs=2, control=False, **FAST)
    assert run.info["teacher_outputs"] == "live"
    # The projection (16 -> 32) trained with the student but is not part of the saved model.
    assert run.info["parameters"] > sum(p.numel() for p in run.predictor.model.parameters())
    log = [json.loads(line) for line in (tmp_path / "s" / "train_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r and "event" not in r]
    assert losses and all(np.isfinite(losses))
    assert run.comparison["control"] is None  # control=False: no control run was trained
    assert run.comparison["student"]["parameters"] < run.comparison["teacher"]["parameters"]


def test_distill_resumes_bit_identically(text_teacher, tiny_texts, tmp_path):
    settings = dict(epochs=2, control=False, save_every=4, **FAST)
    full = distill(text_teacher, "from-teacher:1", tiny_texts["train"], output=tmp_path / "a", **settings)
    with pytest.raises(Crash):
        distill(text_teacher, "from-teacher:1", tiny_texts["train"], output=tmp_path / "b", callbacks=[CrashAt(6)],
                **settings)
    resumed = distill(text_teacher, "from-teacher:1", tiny_texts["train"], output=tmp_path / "b", resume=True,
                      **settings)
    assert resumed.info["steps"] == full.info["steps"] == 16
    texts = tiny_texts["test"][0][:6]
    np.testing.assert_array_equal(full.predict_proba(texts), resumed.predict_proba(texts))


# ------------------------------------------------------------------------------ other tasks


def test_distill_token_classification(tiny_ner_bert, tiny_ner, tmp_path):
    teacher = tmp_path / "teacher"
    finetune(str(tiny_ner_bert), tiny_ner["train"], tiny_ner["validation"], task="token-classification",
             output=teacher, epochs=6, **FAST)
    unlabeled = [words for words in tiny_ner["test"][0][:10]]
    run = distill(teacher, "from-teacher:1", tiny_ner["train"], tiny_ner["validation"], tiny_ner["test"],
                  output=tmp_path / "student", unlabeled=unlabeled, epochs=6, **FAST)
    doc = run.comparison
    assert doc["metric"] == "f1" and run.info["transfer_set"]["unlabeled"] == 10
    assert doc["student"]["metrics"]["test"]["f1"] > 0.5
    entities = load_run(tmp_path / "student").predict(["alice went to paris"])[0]
    assert entities and {(e["text"], e["entity"]) for e in entities} <= {("alice", "PER"), ("paris", "LOC")}


def test_distill_images_live_and_cached(mobilenet, tmp_path):
    mobilenet = str(mobilenet)
    X, y = colour_images(32, 1)
    Xv, yv = colour_images(16, 2)
    teacher = tmp_path / "teacher"
    finetune(mobilenet, (X, y), (Xv, yv), task="image-classification", image_size=32, strategy="head-only",
             output=teacher, epochs=2, precision="fp32", **FAST)
    for mode in ("cached", "live"):
        run = distill(teacher, mobilenet, (X, y), (Xv, yv), output=tmp_path / mode, teacher_outputs=mode,
                      hidden_weight=1.0 if mode == "live" else 0.0, strategy="head-only", epochs=1,
                      precision="fp32", control=False, **FAST)
        assert run.config.image_size == 32  # inherited from the teacher
        assert run.info["teacher_outputs"] == mode
        predicted = load_run(tmp_path / mode).predict(Xv)
        assert predicted == run.predict(Xv)  # the saved student is the trained one
        # ... and predicting reproduces the training-time evaluation of the same images.
        assert np.mean(np.array(predicted) == yv) == pytest.approx(run.metrics["validation"]["accuracy"])
        assert run.comparison["student"]["latency_ms"] > 0


# ------------------------------------------------------------------------------ CLI and errors


@pytest.mark.slow
def test_cli_distill_prints_the_comparison(text_teacher, tiny_csvs, tiny_texts, tmp_path):
    out = tmp_path / "cli"
    unlabeled = tmp_path / "reviews.csv"  # its column is not --text-column's: found by auto-detection
    unlabeled.write_text("review\n" + "\n".join(f'"{t}"' for t in tiny_texts["validation"][0]) + "\n")
    done = tk_cli("distill", "--teacher", str(text_teacher), "--student", "from-teacher:1",
                  "--train", str(tiny_csvs["train"]), "--validation", str(tiny_csvs["validation"]),
                  "--test", str(tiny_csvs["test"]), "--unlabeled", str(unlabeled), "--text-column", "text",
                  "--epochs", "1", "--batch-size", "8", "--temperature", "3", "--alpha", "0.3",
                  "-o", str(out), "--no-progress")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "retention" in done.stdout and "control" in done.stdout
    assert json.loads((out / "config.json").read_text())["run_info"]["transfer_set"]["unlabeled"] == len(
        tiny_texts["validation"][0])
    saved = json.loads((out / "config.json").read_text())
    assert saved["temperature"] == 3 and saved["alpha"] == 0.3 and saved["model"] == "from-teacher:1"
    assert (out / "comparison.json").is_file()
    evaluated = tk_cli("evaluate", str(out), "--data", str(tiny_csvs["test"]))
    assert evaluated.returncode == 0, evaluated.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--teacher", "{tmp}"], "not a run directory"),
    (["--teacher", "{teacher}", "--student", "from-teacher:5"], "more layers than the teacher has"),
    (["--teacher", "{teacher}", "--student", "from-teacher:x"], "from-teacher:K"),
    (["--teacher", "{teacher}", "--teacher-outputs", "cached", "--hidden-weight", "1"], "need the teacher live"),
    (["--teacher", "{teacher}", "--hidden-layers", "1-2"], "student:teacher pairs"),
    (["--teacher", "{teacher}", "--hidden-weight", "1", "--hidden-layers", "1:7"], "out of range"),
    (["--teacher", "{teacher}", "--alpha", "1.5"], "alpha"),
    (["--teacher", "{teacher}", "--tempreature", "2"], "No such option"),
])
def test_cli_distill_errors_are_one_line(text_teacher, tiny_csvs, tmp_path, args, message):
    args = [a.format(tmp=tmp_path, teacher=text_teacher) for a in args]
    if "--student" not in args:
        args += ["--student", "from-teacher:1"]
    done = tk_cli("distill", *args, "--train", str(tiny_csvs["train"]), "-o", str(tmp_path / "out"), "--no-progress")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    if message != "No such option":
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "out").exists()


def test_labels_must_match_the_teachers(text_teacher, tmp_path):
    from transferkit.errors import ConfigError

    texts, labels = ft_sentences(20, 4)
    with pytest.raises(ConfigError, match="differ from the teacher's"):
        distill(text_teacher, "from-teacher:1", (texts, ["yes" if lab == "pos" else "no" for lab in labels]),
                output=tmp_path / "out", **FAST)
    assert not (tmp_path / "out").exists()  # refused before anything was written
