"""Driving the real command line in subprocesses, as a user (or a signal, or a full disk) would.

`Outcome` is what a command did: exit code, stdout, stderr. `one_line_error` is the contract of
every failure: non-zero exit, no traceback, at most three lines, the path named. Commands that
write runs are listed in WRITERS (with the arguments that make them quick on the tiny model);
a new command gets the reliability checks by adding an entry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Outcome:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        # The message lines: warnings and the notes saying which defaults a run chose are not messages.
        return [line for line in self.err.splitlines() if line.strip() and not line.startswith(("warning:", "note:"))]


def env_for(home: Path, **extra: str) -> dict:
    env = {**os.environ, "TRANSFERKIT_HOME": str(home), "TRANSFERKIT_PROGRESS": "0", "TRANSFERKIT_OFFLINE": "1",
           "OMP_NUM_THREADS": "1", "COLUMNS": "200", **extra}
    if os.environ.get("RELIABILITY_SOURCE"):  # run the checks against another checkout's src/ (an older release)
        env["PYTHONPATH"] = os.environ["RELIABILITY_SOURCE"]
    return env


def run(args, home: Path, *, inject: str | None = None, user: bool = False, timeout: int = 300,
        cwd: Path | None = None) -> Outcome:
    """`transferkit ARGS`; `inject`: Python run first in the subprocess (a fault to inject);
    `user`: as an unprivileged user (see `as_user`)."""
    command = [sys.executable, "-c", _prelude(inject), *map(str, args)]
    if user:
        command = as_user() + command
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env_for(home), cwd=cwd)
    return Outcome(done.returncode, done.stdout, done.stderr)


def _prelude(inject: str | None) -> str:
    return "\n".join(["import sys", inject or "", "from transferkit.cli import main", "sys.exit(main(sys.argv[1:]))"])


def _as_from_a_terminal() -> None:
    # A background job of a non-interactive shell (`make test &`) starts with SIGINT ignored, and a
    # child inherits that: Python then installs no Ctrl-C handler. Start as a terminal would.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, home: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", _prelude(None), *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env_for(home), preexec_fn=_as_from_a_terminal)


def interrupt(process: subprocess.Popen, sig: int, ready, timeout: float = 120) -> Outcome:
    """Send `sig` once `ready()` is true (e.g. the first checkpoint exists), then collect the outcome."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            out, err = process.communicate()
            raise AssertionError(f"never became ready (exit {process.returncode}): {err[-2000:]}")
        time.sleep(0.1)
    process.send_signal(sig)
    out, err = process.communicate(timeout=timeout)
    return Outcome(process.returncode, out, err)


def kill(process: subprocess.Popen, ready, timeout: float = 120) -> None:
    interrupt(process, signal.SIGKILL, ready, timeout)


def one_line_error(outcome: Outcome, *must_contain: str, code: int = 2) -> str:
    """The contract of every failure: the exit code, no traceback, at most three lines, what it names."""
    assert outcome.code == code, (outcome.code, outcome.err[-3000:])
    assert "Traceback" not in outcome.err, outcome.err[-3000:]
    assert 1 <= len(outcome.lines) <= 3, outcome.err
    text = " ".join(outcome.lines)
    for part in must_contain:
        assert str(part) in text, (part, text)
    return text


# ------------------------------------------------------------------ an unprivileged user (permissions)

NOBODY = 65534


def as_user() -> list[str]:
    """A prefix that runs a command as an unprivileged user: permission checks mean nothing to root."""
    if os.geteuid() != 0:
        return []
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def unprivileged_reason() -> str | None:
    """Why permission tests cannot run here (None when they can)."""
    if os.geteuid() == 0:
        probe = subprocess.run([*as_user(), sys.executable, "-c", "import transferkit"], capture_output=True)
        if probe.returncode != 0:
            return "setpriv cannot run this Python as an unprivileged user (the venv is not readable to others)"
    return None


def shared_dir() -> Path:
    """A folder the unprivileged user can use (pytest's tmp folders are private to root)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="tk-reliability-"))
    folder.chmod(0o777)
    return folder


# ------------------------------------------------------------------ the tiny world every check runs in

@dataclass
class World:
    home: Path  # TRANSFERKIT_HOME of the subprocesses
    root: Path  # a folder anyone may write to
    bert: Path  # a tiny random BERT (a model folder)
    train: Path  # 64 labelled texts (two classes)
    big: Path  # 2,000 labelled texts: long enough to interrupt
    teacher: Path  # a finished finetune run on `train`


def make_world() -> World:
    from transferkit.text.tiny import sentiment_sentences, tiny_bert, write_csv

    root = shared_dir()
    home = root / "home"
    bert = tiny_bert(root / "bert")
    train = Path(write_csv(root / "train.csv", *sentiment_sentences(64, 1)))
    big = Path(write_csv(root / "big.csv", *sentiment_sentences(2000, 2)))
    teacher = root / "teacher"
    done = run(["finetune", "-m", bert, "--train", train, "-o", teacher, "--epochs", "2", "--batch-size", "8",
                "--lr", "3e-3", "--no-progress"], home)
    assert done.code == 0, done.err[-2000:]
    for path in root.rglob("*"):  # everything readable and writable by the unprivileged user too
        path.chmod(0o777 if path.is_dir() else 0o666)
    return World(home, root, bert, train, big, teacher)


# The commands that write a run, with the arguments that make each quick on the tiny world.
# A new command (export, pretrain, compare, ...) gets every check below by adding a line here.
WRITERS = {
    "finetune": lambda w: ["finetune", "-m", w.bert, "--train", w.train, "--epochs", "1", "--batch-size", "8",
                           "--no-progress"],
    "probe": lambda w: ["probe", "-m", w.bert, "--train", w.train],
    "distill": lambda w: ["distill", "--teacher", w.teacher, "--student", "from-teacher:1", "--train", w.train,
                          "--epochs", "1", "--batch-size", "8", "--no-control", "--no-progress"],
    "export": lambda w: ["export", w.teacher],
    "pretrain": lambda w: ["pretrain", "-m", w.bert, "--data", w.train, "--epochs", "1", "--batch-size", "8",
                           "--max-length", "16", "--no-progress"],
}
# How a second run differs from the first, to tell which one is on disk: extra flags, and the
# value config.json then holds (default: another seed).
SECOND_RUN = {
    "export": (["--quantize", "int8", "--allow-degradation", "100"], lambda config: config["run_info"]["quantize"],
               "int8"),
}
DEFAULT_SECOND_RUN = (["--seed", "7"], lambda config: config["seed"], 7)
# Writers that train step by step (checkpoints, --resume, interrupts mid-training).
TRAINERS = {
    "finetune": lambda w, data: ["finetune", "-m", w.bert, "--train", data, "--epochs", "30", "--batch-size", "8",
                                 "--save-every", "20", "--no-progress"],
    "distill": lambda w, data: ["distill", "--teacher", w.teacher, "--student", "from-teacher:1", "--train", data,
                                "--epochs", "30", "--batch-size", "8", "--save-every", "20", "--no-control",
                                "--no-progress"],
    "pretrain": lambda w, data: ["pretrain", "-m", w.bert, "--data", data, "--epochs", "30", "--batch-size", "8",
                                 "--max-length", "16", "--save-every", "20", "--no-progress"],
}
