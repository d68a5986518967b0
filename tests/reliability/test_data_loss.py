"""Nothing a user owns is ever deleted or half-overwritten: --overwrite replaces only runs, an
interrupted --overwrite keeps the old run, a full disk or a killed write leaves the previous
checkpoint and run intact, a damaged checkpoint is skipped on --resume."""

from __future__ import annotations

import json
import signal

import pytest

import transferkit as tk

from helpers import DEFAULT_SECOND_RUN, SECOND_RUN, TRAINERS, WRITERS, make_world, one_line_error, run, start

pytestmark = pytest.mark.slow  # real command lines in subprocesses; `make test` runs them


@pytest.fixture(scope="module")
def world():
    return make_world()


def _user_files(folder):
    (folder / "notes.txt").write_text("my notes")
    (folder / "good.csv").write_text("text,label\na,b\n")
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_overwrite_refuses_a_folder_that_is_not_a_run(command, world, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    before = _user_files(folder)
    outcome = run([*WRITERS[command](world), "-o", folder, "--overwrite"], world.home)
    one_line_error(outcome, str(folder), "not a transferkit run")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_overwrite_refuses_a_file(command, world, tmp_path):
    target = tmp_path / "file.csv"
    target.write_text("text,label\nmine,x\n")
    outcome = run([*WRITERS[command](world), "-o", target, "--overwrite"], world.home)
    one_line_error(outcome, str(target), "is a file, not a run directory")
    assert target.read_text() == "text,label\nmine,x\n"


@pytest.mark.parametrize("command", sorted(WRITERS))
def test_overwrite_replaces_an_earlier_run(command, world, tmp_path):
    out = tmp_path / "run"
    assert run([*WRITERS[command](world), "-o", out], world.home).code == 0
    first = json.loads((out / "config.json").read_text())
    flags, value_of, expected = SECOND_RUN.get(command, DEFAULT_SECOND_RUN)
    again = run([*WRITERS[command](world), "-o", out, "--overwrite", *flags], world.home)
    assert again.code == 0, again.err[-2000:]
    assert value_of(json.loads((out / "config.json").read_text())) == expected != value_of(first)
    assert not list(tmp_path.glob(".run.*"))  # no leftovers beside it


@pytest.mark.slow
@pytest.mark.parametrize("command", sorted(TRAINERS))
def test_a_killed_overwrite_leaves_the_earlier_run_complete(command, world, tmp_path):
    out = tmp_path / "run"
    assert run([*WRITERS[command](world), "-o", out], world.home).code == 0
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    process = start([*TRAINERS[command](world, world.big), "-o", out, "--overwrite"], world.home)
    building = tmp_path / ".run.overwrite" / "checkpoints"
    process_outcome = _kill_when(process, lambda: building.is_dir() and any(building.glob("step-*.pt")))
    assert process_outcome == -signal.SIGKILL
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before  # the earlier run, byte for byte
    earlier = tk.load(out)
    assert earlier.predict(["a great film"])[0] in (earlier.label_names or ["a great film"])  # pretrain: no mask
    # The next --overwrite clears what the killed one left beside it.
    assert run([*WRITERS[command](world), "-o", out, "--overwrite"], world.home).code == 0
    assert not (tmp_path / ".run.overwrite").exists()


def _kill_when(process, ready) -> int:
    from helpers import kill

    kill(process, ready)
    return process.returncode


ENOSPC_AT_CHECKPOINT = """
import errno, torch
_save = torch.save
_calls = [0]
def _full(obj, f, *a, **k):
    _calls[0] += 1
    if _calls[0] > 1:  # the first checkpoint is written, the second finds the disk full
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    return _save(obj, f, *a, **k)
torch.save = _full
"""

ENOSPC_AT_MODEL = """
import errno, safetensors.torch as st
def _full(*a, **k):
    raise OSError(errno.ENOSPC, "No space left on device")
st.save_file = _full
import transformers.modeling_utils as mu
mu.safe_save_file = _full
"""


@pytest.mark.slow
def test_disk_full_at_a_checkpoint_keeps_the_previous_one(world, tmp_path):
    out = tmp_path / "run"
    outcome = run([*TRAINERS["finetune"](world, world.big), "-o", out, "--max-steps", "60"], world.home,
                  inject=ENOSPC_AT_CHECKPOINT)
    text = one_line_error(outcome, "no space left on device at", str(out / "checkpoints"), "MB needed")
    assert "step-00000040.pt" in text
    checkpoints = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert checkpoints == ["step-00000020.pt"]  # the earlier checkpoint, no temp file beside it
    import torch

    assert torch.load(out / "checkpoints" / checkpoints[0], weights_only=True)["state"]["step"] == 20
    assert json.loads((out / "config.json").read_text())["kind"] == "finetune"  # the run is still a run


@pytest.mark.slow
def test_disk_full_at_the_final_save_leaves_no_half_model(world, tmp_path):
    out = tmp_path / "run"
    outcome = run([*WRITERS["finetune"](world), "-o", out], world.home, inject=ENOSPC_AT_MODEL)
    one_line_error(outcome, "no space left on device at", str(out / "model"))
    assert not (out / "model").exists() and not list(out.glob(".model*"))


def test_leftover_temp_files_of_a_killed_checkpoint_are_removed(world, tmp_path):
    out = tmp_path / "run"
    assert run([*WRITERS["finetune"](world), "-o", out], world.home).code == 0
    # A run started with --overwrite is continued with --resume alone (its saved --overwrite does not count).
    assert run([*WRITERS["finetune"](world), "-o", out, "--overwrite", "--keep-checkpoints", "1"], world.home).code == 0
    leftover = out / "checkpoints" / ".step-00000099.pt.a1b2c3.tmp"
    leftover.write_bytes(b"half a checkpoint")
    resumed = run([*WRITERS["finetune"](world), "-o", out, "--resume", "--epochs", "2"], world.home)
    assert resumed.code == 0, resumed.err[-2000:]
    assert not leftover.exists()


def test_resume_skips_a_truncated_newest_checkpoint(world, tmp_path):
    out = tmp_path / "run"
    args = [*WRITERS["finetune"](world), "-o", out, "--save-every", "2", "--keep-checkpoints", "3"]
    assert run(args, world.home).code == 0
    checkpoints = sorted((out / "checkpoints").glob("step-*.pt"))
    newest = checkpoints[-1]
    newest.write_bytes(newest.read_bytes()[:1000])  # a write cut short
    resumed = run([*args, "--resume", "--epochs", "2"], world.home)
    assert resumed.code == 0, resumed.err[-2000:]
    assert "Traceback" not in resumed.err
    assert f"skipped the damaged checkpoint(s) {newest.name}" in resumed.err
    assert f"resuming from {checkpoints[-2].name}" in resumed.err
    for path in (out / "checkpoints").glob("step-*.pt"):
        path.write_bytes(b"")  # every checkpoint unreadable
    hopeless = run([*args, "--resume", "--epochs", "3"], world.home)
    one_line_error(hopeless, "no readable checkpoint", str(out / "checkpoints"), "without --resume")
