"""Every failure is one honest line naming the path and the fix, with a non-zero exit; bad input is
refused instead of trained on; the Python API says what is wrong in the same way."""

from __future__ import annotations

import json
import pickle
import shutil

import pytest

from helpers import WRITERS, make_world, one_line_error, run, shared_dir, unprivileged_reason

pytestmark = pytest.mark.slow  # real command lines in subprocesses; `make test` runs them


@pytest.fixture(scope="module")
def world():
    return make_world()


def finetune(world, *args):
    return ["finetune", "-m", world.bert, "--epochs", "1", "--batch-size", "8", "--no-progress", *args]


# ------------------------------------------------------------------ files that cannot be read as they are

@pytest.fixture
def unprivileged():
    reason = unprivileged_reason()
    if reason:
        pytest.skip(reason)


def test_an_unreadable_data_file(world, unprivileged):
    folder = shared_dir()
    data = folder / "secret.csv"
    shutil.copy(world.train, data)
    data.chmod(0o200)
    outcome = run(finetune(world, "--train", data, "-o", folder / "run"), world.home, user=True)
    one_line_error(outcome, str(data), "permission denied")
    assert not (folder / "run").exists()


def test_a_read_only_output_location(world, unprivileged):
    folder = shared_dir()
    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    outcome = run(finetune(world, "--train", world.train, "-o", locked / "run"), world.home, user=True)
    one_line_error(outcome, str(locked), "not writable")


def test_a_symlink_loop(world, tmp_path):
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    one_line_error(run(finetune(world, "--train", loop, "-o", tmp_path / "run"), world.home), str(loop),
                   "symbolic link loop")


def test_a_utf16_file(world, tmp_path):
    data = tmp_path / "utf16.csv"
    data.write_text(world.train.read_text(), encoding="utf-16")
    one_line_error(run(finetune(world, "--train", data, "-o", tmp_path / "run"), world.home), str(data), "UTF-16",
                   "iconv -f UTF-16")


def _model_copy(world, tmp_path, name="model"):
    folder = tmp_path / name
    shutil.copytree(world.bert, folder)
    return folder


def test_a_truncated_model_file(world, tmp_path):
    model = _model_copy(world, tmp_path)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    one_line_error(run(["finetune", "-m", model, "--train", world.train, "-o", tmp_path / "run"], world.home),
                   str(model), "damaged or incomplete")


class _Exploit:
    def __reduce__(self):
        import os

        return os.system, ("echo pwned",)


def test_an_unsafe_pickle_is_refused(world, tmp_path):
    model = _model_copy(world, tmp_path)
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(pickle.dumps({"weight": _Exploit()}))
    outcome = run(["finetune", "-m", model, "--train", world.train, "-o", tmp_path / "run"], world.home)
    one_line_error(outcome, str(model), "unsafe pickle refused", "safetensors")
    assert "pwned" not in outcome.out


def test_a_plain_tensor_pickle_still_loads(world, tmp_path):
    import torch
    from safetensors.torch import load_file

    model = _model_copy(world, tmp_path)
    torch.save(load_file(str(model / "model.safetensors")), model / "pytorch_model.bin")
    (model / "model.safetensors").unlink()
    outcome = run(["finetune", "-m", model, "--train", world.train, "-o", tmp_path / "run", "--max-steps", "1",
                   "--no-progress"], world.home)
    assert outcome.code == 0, outcome.err[-2000:]


def test_a_model_that_needs_custom_code(world, tmp_path):
    model = _model_copy(world, tmp_path)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_evil.EvilModel"}
    (model / "config.json").write_text(json.dumps(config))
    outcome = run(["finetune", "-m", model, "--train", world.train, "-o", tmp_path / "run"], world.home)
    text = one_line_error(outcome, str(model), "custom model code", "BERT")
    assert "trust_remote_code=True" not in text  # a flag transferkit never sets is not the advice


def test_a_text_task_given_an_image_model(world, tmp_path):
    outcome = run(["finetune", "--task", "text-classification", "-m", "mobilenet-v2", "--train", world.train, "-o",
                   tmp_path / "run"], world.home)
    one_line_error(outcome, "mobilenet-v2 is an image-backbone", "text-encoder", "minilm-l6")


@pytest.mark.parametrize("damage", ["model weights missing", "labels.json corrupt", "config.json corrupt"])
def test_a_damaged_run(damage, world, tmp_path):
    run_dir = tmp_path / "teacher"
    shutil.copytree(world.teacher, run_dir)
    if damage == "model weights missing":
        (run_dir / "model" / "model.safetensors").unlink()
        named = run_dir
    elif damage == "labels.json corrupt":
        (run_dir / "labels.json").write_text("{not json")
        named = run_dir / "labels.json"
    else:
        (run_dir / "config.json").write_text('{"kind": "finetune", ')
        named = run_dir / "config.json"
    one_line_error(run(["predict", run_dir, "--text", "a great film"], world.home), str(named), "damaged")


def test_predict_on_a_model_folder(world):
    one_line_error(run(["predict", world.bert, "--text", "x"], world.home), "is a model folder, not a run",
                   "use it as --model")


# ------------------------------------------------------------------ bad input is refused, not trained on

def test_classes_too_small_to_split_are_named(world, tmp_path):
    data = tmp_path / "many.csv"
    data.write_text("text,label\n" + "".join(f"text {i},class{i}\n" for i in range(40)) +
                    "".join(f"more {i},common\n" for i in range(40)))
    outcome = run(finetune(world, "--train", data, "-o", tmp_path / "run"), world.home)
    one_line_error(outcome, str(data), "40 class(es) have fewer than 3 examples", "--min-class-count 3")
    dropped = run(finetune(world, "--train", data, "-o", tmp_path / "run", "--min-class-count", "3"), world.home)
    assert "holds a single class ('common')" in dropped.err  # 40 rare classes dropped: one class left is refused too


def test_continuous_labels_are_not_classes(world, tmp_path):
    data = tmp_path / "scores.csv"
    data.write_text("text,label\n" + "".join(f"text {i},{i * 0.25}\n" for i in range(40)))
    one_line_error(run(finetune(world, "--train", data, "-o", tmp_path / "run"), world.home), str(data),
                   "regression target")


def test_nul_bytes_are_refused_like_empty_texts(world, tmp_path):
    data = tmp_path / "nul.csv"
    rows = world.train.read_text().splitlines()
    rows[3] = "a broken\x00 row,pos"
    data.write_text("\n".join(rows) + "\n")
    one_line_error(run(finetune(world, "--train", data, "-o", tmp_path / "run"), world.home), str(data), "NUL byte",
                   "line 4", "--drop-invalid")
    kept = run(finetune(world, "--train", data, "-o", tmp_path / "run", "--drop-invalid"), world.home)
    assert kept.code == 0 and "dropped 1 of 64 rows" in kept.err, kept.err[-2000:]


def test_predict_refuses_an_empty_text_as_training_does(world):
    one_line_error(run(["predict", world.teacher, "--text", " "], world.home), "item 1", "empty")


@pytest.mark.parametrize("command", ["finetune", "distill"])
def test_resume_and_overwrite_together_are_refused(command, world, tmp_path):
    outcome = run([*WRITERS[command](world), "-o", world.teacher, "--resume", "--overwrite"], world.home)
    one_line_error(outcome, "--resume continues the run", "--overwrite replaces it")


def test_settings_of_another_strategy_are_refused(world, tmp_path):
    outcome = run(finetune(world, "--train", world.train, "-o", tmp_path / "run", "--strategy", "head-only",
                           "--top-k", "3", "--lora-r", "16"), world.home)
    one_line_error(outcome, "is a setting of strategy", "head-only")


def test_run_folders_follow_the_umask(world, tmp_path):
    out = tmp_path / "run"
    assert run(finetune(world, "--train", world.train, "-o", out), world.home).code == 0
    assert oct(out.stat().st_mode & 0o777) == "0o755"
    for path in (out / "config.json", out / "labels.json", out / "metrics.json", out / "model" / "config.json"):
        assert oct(path.stat().st_mode & 0o777) == "0o644", path


# ------------------------------------------------------------------ the Python API says the same

def test_python_api_messages(world, monkeypatch):
    from sklearn.exceptions import NotFittedError

    import transferkit as tk
    from transferkit.errors import ConfigError, DataError, TransferkitError

    monkeypatch.setenv("TRANSFERKIT_HOME", str(world.home))
    monkeypatch.setenv("TRANSFERKIT_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"invalid model: 123 \(int\); pass a registry name"):
        tk.finetune(model=123, train=world.train)
    clf = tk.TextClassifier(str(world.bert))
    with pytest.raises(NotFittedError):
        clf.predict(["a film"])
    with pytest.raises(NotFittedError):
        clf.score(["a film"], ["pos"])
    with pytest.raises(TransferkitError, match=r"fit\(X, y\): 0 texts of 0 class\(es\)"):
        clf.fit([], [])
    with pytest.raises(DataError, match="expected a list of texts, got a single string"):
        clf.fit("one long string", ["pos"])
