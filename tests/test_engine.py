"""The training loop's machinery: batch order, schedules, augmentation, token cache, checkpoints,
exact resume after SIGKILL, early stopping, and two processes under torchrun."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from transferkit.engine.checkpoint import Checkpointer
from transferkit.engine.loop import epoch_batches
from transferkit.engine.optim import build_scheduler
from transferkit.text.augment import augment_tokens

pytestmark = pytest.mark.usefixtures("ft_env")
FAST = dict(batch_size=8, lr=3e-3, progress=False)


# ----------------------------------------------------------------------------- pure pieces

def test_epoch_batches_are_deterministic_and_cover_every_example():
    lengths = np.random.default_rng(0).integers(3, 40, size=101)
    first = epoch_batches(lengths, 8, seed=7, epoch=0)
    assert [b.tolist() for b in first] == [b.tolist() for b in epoch_batches(lengths, 8, seed=7, epoch=0)]
    assert sorted(np.concatenate(first).tolist()) == list(range(101))
    assert [b.tolist() for b in first] != [b.tolist() for b in epoch_batches(lengths, 8, seed=7, epoch=1)]


def test_epoch_batches_shard_evenly_over_processes():
    lengths = np.arange(1, 73)  # 9 batches of 8 -> padded to 10, 5 per process
    shards = [epoch_batches(lengths, 8, seed=1, epoch=0, rank=r, world_size=2) for r in (0, 1)]
    assert len(shards[0]) == len(shards[1]) == 5
    covered = np.concatenate([np.concatenate(s) for s in shards])
    assert set(covered.tolist()) == set(range(72))


def test_token_budget_batches_stay_under_the_budget_and_cover_every_example():
    lengths = np.random.default_rng(0).integers(3, 60, size=500)
    batches = epoch_batches(lengths, 32, seed=3, epoch=0, max_tokens=256)
    assert sorted(np.concatenate(batches).tolist()) == list(range(500))
    assert all(len(b) * lengths[b].max() <= 256 for b in batches)
    sizes = [len(b) for b in batches]
    assert min(sizes) < 8 and max(sizes) > 32  # long inputs make narrow batches, short ones wide
    single = epoch_batches(np.array([300, 5, 5]), 32, seed=0, epoch=0, max_tokens=64)
    assert sorted(len(b) for b in single) == [1, 2]  # an example over the budget still gets a batch


def test_token_budget_trains_every_epoch_to_the_end(tiny_bert, tiny_texts, tmp_path):
    from transferkit.engine.callbacks import Callback
    from transferkit.methods.finetune import finetune

    class Seen(Callback):
        def on_step_end(self, state, model):
            self.steps = state.step

        def on_train_end(self, state):
            self.state = state

    seen = Seen()
    run = finetune(str(tiny_bert), tiny_texts["train"], output=tmp_path / "run", epochs=2, batch_tokens=64,
                   callbacks=[seen], **FAST)
    # Every example of both epochs trained on, and the schedule's length is the steps taken.
    assert seen.state.samples == 2 * len(tiny_texts["train"][0])
    assert seen.steps == seen.state.total_steps == run.info["steps"]
    assert json.loads((tmp_path / "run" / "config.json").read_text())["batch_tokens"] == 64


def test_a_run_with_frozen_embeddings_saves_the_pretrained_table_and_counts_it_frozen(tiny_bert, tiny_texts, tmp_path):
    from transformers import AutoModel

    from transferkit.methods.finetune import finetune

    run = finetune(str(tiny_bert), tiny_texts["train"], output=tmp_path / "run", max_steps=3, freeze_embeddings=True,
                   **FAST)
    before = AutoModel.from_pretrained(str(tiny_bert)).get_input_embeddings().weight
    after = run.predictor.model.get_input_embeddings().weight
    assert torch.equal(before, after)
    assert run.info["trainable_parameters"] == run.info["parameters"] - before.numel()


@pytest.mark.parametrize("setting, message", [({"batch_tokens": 64}, "batch_tokens: .*token budget applies to text"),
                                              ({"freeze_embeddings": True}, "freeze_embeddings: .*applies to text")])
def test_text_only_training_settings_are_refused_for_images(tmp_path, setting, message):
    from transferkit.errors import ConfigError
    from transferkit.methods.finetune import finetune
    from transferkit.vision.tiny import colour_images, write_image_folder

    train = write_image_folder(tmp_path / "images", *colour_images(16, 1))
    with pytest.raises(ConfigError, match=message):
        finetune("mobilenet-v2", train, output=tmp_path / "run", epochs=1, image_size=32, pretrained=False,
                 **setting, **FAST)
    assert not (tmp_path / "run").exists()  # refused before a run directory appears


@pytest.mark.parametrize("schedule,expected", [
    ("linear", [1 / 3, 2 / 3, 1.0, 0.75, 0.5, 0.25]),
    ("cosine", [1 / 3, 2 / 3, 1.0, 0.8535534, 0.5, 0.1464466]),
    ("constant", [1 / 3, 2 / 3, 1.0, 1.0, 1.0, 1.0]),
])
def test_schedules_warm_up_then_decay(schedule, expected):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.AdamW([param], lr=1.0)
    scheduler = build_scheduler(optimizer, schedule, warmup=2, total_steps=6)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert seen == pytest.approx(expected, abs=1e-6)


def test_augmentation_keeps_special_tokens_and_is_seeded():
    ids = [2] + list(range(10, 30)) + [3]
    same = augment_tokens(ids, np.random.default_rng(0), delete=0.0, swap=0.0, protected={2, 3})
    assert same == ids
    deleted = augment_tokens(ids, np.random.default_rng(0), delete=0.3, protected={2, 3})
    assert deleted[0] == 2 and deleted[-1] == 3 and 2 < len(deleted) < len(ids)
    assert set(deleted) <= set(ids)
    swapped = augment_tokens(ids, np.random.default_rng(0), swap=0.5, protected={2, 3})
    assert Counter(swapped) == Counter(ids) and swapped != ids and swapped[0] == 2 and swapped[-1] == 3
    again = augment_tokens(ids, np.random.default_rng(0), swap=0.5, protected={2, 3})
    assert again == swapped
    one = augment_tokens([2, 11, 12, 3], np.random.default_rng(0), delete=0.99, protected={2, 3})
    assert len(one) == 3  # never deletes every real token


def test_checkpointer_keeps_the_last_k(tmp_path):
    checkpoints = Checkpointer(tmp_path / "checkpoints", keep=2)
    for step in (5, 10, 15):
        checkpoints.save(step, {"step": step, "weights": torch.ones(2) * step})
    assert [s for s, _ in checkpoints.all()] == [10, 15]
    latest = checkpoints.load(checkpoints.latest())
    assert latest["step"] == 15 and torch.equal(latest["weights"], torch.full((2,), 15.0))
    assert not list((tmp_path / "checkpoints").glob("*.tmp"))


def test_tokens_are_cached_on_disk(tiny_bert, tiny_texts, ft_env, monkeypatch):
    from transferkit.methods.config import FinetuneConfig
    from transferkit.tasks import get_task
    from transferkit.text import tokens

    task = get_task("text-classification")(FinetuneConfig(max_length=16))
    data = task.load_data(tiny_texts["train"])
    task.build_model(tiny_bert, data)
    first = task.encode(data.train)
    assert len(list((ft_env / "cache" / "tokens").glob("*.npz"))) == 1

    def no_tokenising(*args, **kwargs):
        raise AssertionError("tokenised again despite the cache")

    monkeypatch.setattr(tokens, "tokenize", no_tokenising)
    second = task.encode(data.train)
    assert np.array_equal(first.flat, second.flat) and np.array_equal(first.offsets, second.offsets)
    assert first.lengths.max() <= 16
    other = get_task("text-classification")(FinetuneConfig(max_length=8))
    other.tokenizer = task.tokenizer
    with pytest.raises(AssertionError, match="tokenised again"):
        other.encode(data.train)  # another max_length is another cache entry


# ----------------------------------------------------------------------------- the loop

def test_early_stopping_stops_and_restores_the_best_weights(tiny_bert, tiny_texts, tmp_path):
    from transferkit.methods.finetune import finetune

    # min_delta 10: nothing after the first evaluation counts as better -> stop after epoch 2.
    run = finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "run",
                   epochs=5, early_stopping_patience=1, early_stopping_min_delta=10.0, keep_checkpoints=5, **FAST)
    assert run.info["stopped_early"] and run.info["steps"] == 16
    best = Checkpointer.load(tmp_path / "run" / "checkpoints" / "step-00000008.pt")["model"]
    saved = load_file(tmp_path / "run" / "model" / "model.safetensors")
    for name, tensor in saved.items():
        assert torch.equal(tensor, best[name]), name
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("event") == "evaluate"] == [8, 16]


def test_gradient_accumulation_and_max_steps(tiny_bert, tiny_texts, tmp_path):
    from transferkit.methods.finetune import finetune

    run = finetune(str(tiny_bert), tiny_texts["train"], output=tmp_path / "run", epochs=3, grad_accum=3,
                   max_steps=5, log_every=1, **FAST)
    assert run.info["steps"] == 5  # 8 batches per epoch -> 3 steps per epoch (3+3+2), stopped at 5
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2, 3, 4, 5]
    assert all(np.isfinite(r["loss"]) and r["samples_per_s"] > 0 for r in log)


_TRAIN_SCRIPT = """
import json, os, signal, sys
from transferkit.engine.callbacks import Callback
from transferkit.methods.finetune import finetune

model, data, output, kill_at, resume = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "1"
splits = json.load(open(data))

class KillAfterCheckpoint(Callback):
    def on_checkpoint(self, state, path):
        if state.step == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

finetune(model, tuple(splits["train"]), tuple(splits["validation"]), output=output, epochs=3, batch_size=8,
         lr=3e-3, save_every=5, log_every=1, augment_delete=0.1, augment_swap=0.1, progress=False,
         resume=resume, callbacks=[KillAfterCheckpoint()] if kill_at else [])
"""


def _train_in_subprocess(tmp_path, tiny_bert, tiny_texts, output, kill_at=0, resume=False):
    script, data = tmp_path / "train.py", tmp_path / "data.json"
    script.write_text(_TRAIN_SCRIPT)
    data.write_text(json.dumps(tiny_texts))
    return subprocess.run([sys.executable, str(script), str(tiny_bert), str(data), str(output), str(kill_at),
                           "1" if resume else "0"], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_resume_after_sigkill_ends_with_the_same_weights(tiny_bert, tiny_texts, tmp_path):
    reference = _train_in_subprocess(tmp_path, tiny_bert, tiny_texts, tmp_path / "reference")
    assert reference.returncode == 0, reference.stderr[-3000:]
    # 8 steps per epoch; killed right after the step-10 checkpoint, in the middle of epoch 2.
    killed = _train_in_subprocess(tmp_path, tiny_bert, tiny_texts, tmp_path / "resumed", kill_at=10)
    assert killed.returncode == -9, killed.stderr[-3000:]
    assert not (tmp_path / "resumed" / "model").exists()
    resumed = _train_in_subprocess(tmp_path, tiny_bert, tiny_texts, tmp_path / "resumed", resume=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    expected = load_file(tmp_path / "reference" / "model" / "model.safetensors")
    got = load_file(tmp_path / "resumed" / "model" / "model.safetensors")
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    logs = [[json.loads(line) for line in (tmp_path / run / "train_log.jsonl").read_text().splitlines()]
            for run in ("reference", "resumed")]
    assert [r["step"] for r in logs[0]] == [r["step"] for r in logs[1]]  # no duplicated steps
    assert [r.get("loss") for r in logs[0]] == [r.get("loss") for r in logs[1]]


def test_a_finished_run_keeps_no_checkpoints_and_scores_validation_once(tiny_bert, tiny_texts, tmp_path):
    from transferkit.errors import TransferkitError
    from transferkit.methods.finetune import finetune

    run = finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "run", epochs=2,
                   **FAST)
    assert not (tmp_path / "run" / "checkpoints").exists()  # optimizer state is for resuming, not for keeping
    log = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    evaluations = [r for r in log if r.get("event") == "evaluate"]
    # One per epoch; the last is the final fp32 evaluation, the very numbers metrics.json holds.
    assert [r["step"] for r in evaluations] == [8, 16]
    assert evaluations[-1]["accuracy"] == run.metrics["validation"]["accuracy"]
    assert run.info["final_evaluation_seconds"] >= 0
    with pytest.raises(TransferkitError, match="kept no checkpoints.*--keep-checkpoints 1"):
        finetune(str(tiny_bert), tiny_texts["train"], output=tmp_path / "run", resume=True, epochs=3, **FAST)

    kept = finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "kept", epochs=2,
                    keep_checkpoints=1, **FAST)
    assert sorted(p.name for p in (tmp_path / "kept" / "checkpoints").iterdir()) == ["step-00000016.pt"]
    more = finetune(str(tiny_bert), tiny_texts["train"], tiny_texts["validation"], output=tmp_path / "kept",
                    epochs=3, keep_checkpoints=1, resume=True, **FAST)
    assert more.info["steps"] == 24 and kept.info["steps"] == 16


def test_resume_refuses_another_run_kind(tiny_bert, tiny_csvs, tmp_path):
    from transferkit.errors import TransferkitError
    from transferkit.methods.finetune import finetune

    (tmp_path / "probe").mkdir()
    (tmp_path / "probe" / "config.json").write_text('{"kind": "probe"}')
    with pytest.raises(TransferkitError, match="probe run"):
        finetune(str(tiny_bert), str(tiny_csvs["train"]), output=tmp_path / "probe", resume=True, **FAST)


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"],
    # accelerate's multi-process launcher is named multi_gpu; `--cpu` would silently run one process.
    "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2"],
}


@pytest.mark.slow
@pytest.mark.parametrize("launcher", sorted(LAUNCHERS))
def test_two_processes(tiny_bert, tiny_csvs, tmp_path, launcher):
    output = tmp_path / "ddp"
    command = [sys.executable, *LAUNCHERS[launcher], "-m", "transferkit", "finetune", "--model", str(tiny_bert),
               "--train", str(tiny_csvs["train"]), "--validation", str(tiny_csvs["validation"]), "--output", str(output),
               "--epochs", "2",
               "--batch-size", "8", "--lr", "3e-3", "--log-every", "1", "--no-progress", "--keep-checkpoints", "2"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    info = json.loads((output / "config.json").read_text())["run_info"]
    assert info["world_size"] == 2
    assert info["steps"] == 8  # 64 examples / (8 per batch * 2 processes) = 4 steps per epoch
    log = [json.loads(line) for line in (output / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r and "event" not in r] == list(range(1, 9))  # written once
    assert sorted(p.name for p in (output / "checkpoints").iterdir()) == ["step-00000004.pt", "step-00000008.pt"]
    assert done.stdout.count("saved to") == 1  # one report, from the main process
    metrics = json.loads((output / "metrics.json").read_text())
    assert metrics["n"] == 24 and metrics["split"] == "validation"
