"""Run directories written by an earlier release (tests/fixtures/legacy_runs, made by
tests/fixtures/make_legacy_runs.py at commit 81335a9) still load and predict what they predicted then."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

import transferkit as tk

LEGACY = Path(__file__).parent / "fixtures" / "legacy_runs"
TEXT_KINDS = ("finetune-text", "distill-text")


def _copy(name: str, tmp_path: Path) -> Path:
    """A private copy: loading must not need to write into the run, and the fixture stays pristine."""
    run = tmp_path / name
    shutil.copytree(LEGACY / name, run)
    return run


def _expected(run: Path) -> dict:
    return json.loads((run / "expected.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", TEXT_KINDS)
def test_text_runs_predict_as_before(name, tmp_path, ft_env):
    run = _copy(name, tmp_path)
    expected = _expected(run)
    predictor = tk.load(run)
    np.testing.assert_allclose(predictor.predict_proba(expected["texts"]), expected["proba"], atol=1e-5)
    labels = json.loads((run / "labels.json").read_text())["names"]
    assert predictor.predict(expected["texts"]) == [labels[i] for i in np.argmax(expected["proba"], axis=1)]


def test_token_run_predicts_the_same_entities(tmp_path, ft_env):
    run = _copy("finetune-token", tmp_path)
    expected = _expected(run)
    predictor = tk.load(run)
    assert predictor.predict(expected["texts"]) == expected["entities"]
    assert any(expected["entities"])  # the fixture holds real entities, not an empty answer


@pytest.mark.slow
def test_text_probe_predicts_as_before(tmp_path, pulled_home):
    run = _copy("probe-text", tmp_path)
    expected = _expected(run)
    np.testing.assert_allclose(tk.load(run).predict_proba(expected["texts"]), expected["proba"], atol=1e-4)


def _rebuild_image_weights(run: Path, digest: str) -> None:
    """The head-only run's model.safetensors is the packaged MobileNetV2 plus the stored head."""
    from safetensors.torch import load_file, save_file

    from transferkit.sources import pull

    state = load_file(str(pull("mobilenet-v2") / "model.safetensors"))
    state.update(load_file(str(run / "model" / "head.safetensors")))
    target = run / "model" / "model.safetensors"
    save_file(state, str(target), metadata={"format": "pt"})
    (run / "model" / "head.safetensors").unlink()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == digest  # byte for byte what was written


@pytest.mark.slow
@pytest.mark.parametrize("name", ["probe-image", "finetune-image"])
def test_image_runs_predict_as_before(name, tmp_path, pulled_home):
    run = _copy(name, tmp_path)
    expected = _expected(run)
    if "model_sha256" in expected:
        _rebuild_image_weights(run, expected["model_sha256"])
    images = [str(LEGACY / "images" / n) for n in expected["images"]]
    np.testing.assert_allclose(tk.load(run).predict_proba(images), expected["proba"], atol=1e-4)
