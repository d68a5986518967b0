"""Ctrl-C and SIGTERM: exit 130 / 143 with one line saying where things stand; the run and the
cache stay consistent."""

from __future__ import annotations

import signal
import socket
import threading

import pytest

from helpers import TRAINERS, interrupt, make_world, run, start

pytestmark = pytest.mark.slow
EXIT = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def world():
    return make_world()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
@pytest.mark.parametrize("command", sorted(TRAINERS))
def test_training_interrupted_says_how_to_resume(command, sig, world, tmp_path):
    out = tmp_path / "run"
    process = start([*TRAINERS[command](world, world.big), "-o", out], world.home)
    outcome = interrupt(process, sig, lambda: any((out / "checkpoints").glob("step-*.pt")))
    assert outcome.code == EXIT[sig], outcome.err[-2000:]
    assert "Traceback" not in outcome.err and len(outcome.lines) == 1, outcome.err
    assert "interrupted at step" in outcome.err and f"--resume -o {out}" in outcome.err
    resumed = run([*TRAINERS[command](world, world.big), "-o", out, "--resume", "--max-steps", "45"], world.home)
    assert resumed.code == 0, resumed.err[-2000:]  # the run was left resumable


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_probe_interrupted_leaves_nothing_half_written(sig, world, tmp_path):
    out = tmp_path / "probe"
    process = start(["probe", "-m", world.bert, "--train", world.big, "-o", out, "--batch-size", "1"], world.home)
    outcome = interrupt(process, sig, lambda: bool(list(tmp_path.glob(".probe.*"))) or _after(process, 3.0))
    assert outcome.code == EXIT[sig], outcome.err[-2000:]
    assert "Traceback" not in outcome.err and outcome.lines == [
        "interrupted by SIGTERM" if sig == signal.SIGTERM else "interrupted (Ctrl-C)"]
    assert not out.exists() and not list(tmp_path.glob(".probe*"))


def _after(process, seconds: float) -> bool:
    import time

    process._started = getattr(process, "_started", time.monotonic())
    return time.monotonic() - process._started > seconds


@pytest.fixture
def silent_index():
    """A package index that accepts connections and never answers: a pull hangs until interrupted."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []

    def serve():
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return
            accepted.append(connection)

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/simple"
    server.close()
    for connection in accepted:
        connection.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_pull_interrupted_leaves_the_cache_consistent(sig, world, tmp_path, silent_index, monkeypatch):
    import subprocess
    import sys

    from helpers import _as_from_a_terminal, _prelude, env_for

    home = tmp_path / "home"
    env = {**env_for(home), "TRANSFERKIT_INDEX_URL": silent_index}
    env.pop("TRANSFERKIT_OFFLINE")
    process = subprocess.Popen([sys.executable, "-c", _prelude(None), "models", "pull", "minilm-l6"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=_as_from_a_terminal)
    outcome = interrupt(process, sig, lambda: _after(process, 3.0))
    assert outcome.code == EXIT[sig], outcome.err[-2000:]
    assert "Traceback" not in outcome.err
    models = home / "models"
    assert not (models / "minilm-l6").exists()  # no half entry
    assert not [p for p in models.glob(".minilm-l6.*") if p.is_dir()]  # and no temp folder left
