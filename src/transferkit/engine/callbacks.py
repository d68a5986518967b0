"""What happens around the training loop: logging, progress, TensorBoard, early stopping.

A `Callback` sees the loop's `TrainState` at fixed points; the loop calls the loggers on the
main process only. Early stopping is not a callback: it decides control flow and its state is
part of every checkpoint, so the loop owns it.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loop import TrainState


class Callback:
    def on_train_start(self, state: TrainState) -> None: ...
    def on_step_end(self, state: TrainState, model) -> None: ...
    def on_log(self, state: TrainState, record: dict[str, Any]) -> None: ...
    def on_evaluate(self, state: TrainState, metrics: dict[str, Any]) -> None: ...
    def on_checkpoint(self, state: TrainState, path: Path) -> None: ...
    def on_train_end(self, state: TrainState) -> None: ...


def _scalars(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and k != "n"}


class JsonlLogger(Callback):
    """RUN_DIR/train_log.jsonl: one JSON object per logged step and per evaluation."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def on_train_start(self, state):
        if state.step and self.path.is_file():
            # Resumed: drop what the killed run logged after its last checkpoint.
            kept = [line for line in self.path.read_text(encoding="utf-8").splitlines()
                    if line.strip() and json.loads(line).get("step", 0) <= state.step]
            self.path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
        elif not state.step:
            self.path.unlink(missing_ok=True)
        self._file = open(self.path, "a", encoding="utf-8", buffering=1)

    def _write(self, record: dict[str, Any]) -> None:
        self._file.write(json.dumps(record) + "\n")

    def on_log(self, state, record):
        self._write(record)

    def on_evaluate(self, state, metrics):
        self._write({"event": "evaluate", "step": state.step, "epoch": state.epoch, **_scalars(metrics)})

    def on_train_end(self, state):
        if self._file:
            self._file.close()
            self._file = None


class TensorBoardLogger(Callback):
    def __init__(self, log_dir: str | Path):
        import importlib.util

        from ..errors import ConfigError

        if importlib.util.find_spec("tensorboard") is None:  # fail before training, not after the first epoch
            raise ConfigError("invalid tensorboard: the tensorboard package is not installed; "
                              "pip install 'transferkit[tensorboard]' or drop --tensorboard")
        self.log_dir = Path(log_dir)
        self._writer = None

    def on_train_start(self, state):
        from torch.utils.tensorboard import SummaryWriter

        self._writer = SummaryWriter(str(self.log_dir), purge_step=state.step or None)

    def on_log(self, state, record):
        for key in ("loss", "lr", "samples_per_s", "tokens_per_s"):
            if key in record:
                self._writer.add_scalar(f"train/{key}", record[key], record["step"])

    def on_evaluate(self, state, metrics):
        for key, value in _scalars(metrics).items():
            self._writer.add_scalar(f"validation/{key}", value, state.step)

    def on_train_end(self, state):
        if self._writer:
            self._writer.close()
            self._writer = None


class ProgressBar(Callback):
    """A rich progress bar over optimizer steps with ETA, live loss and samples/s."""

    def __init__(self):
        self._progress = None
        self._task = None

    def on_train_start(self, state):
        from rich.progress import TextColumn

        from ..progress import bar

        self._progress = bar(TextColumn("loss {task.fields[loss]}"), TextColumn("{task.fields[speed]}"))
        self._progress.start()
        self._task = self._progress.add_task(f"epoch {state.epoch + 1}", total=state.total_steps,
                                             completed=state.step, loss="-", speed="-")

    def on_step_end(self, state, model):
        self._progress.update(self._task, completed=state.step, description=f"epoch {state.epoch + 1}")

    def on_log(self, state, record):
        speed = f"{record['samples_per_s']:.1f} samples/s"
        if "tokens_per_s" in record:
            speed += f", {record['tokens_per_s']:.0f} tokens/s"
        self._progress.update(self._task, loss=f"{record['loss']:.4f}", speed=speed)

    def on_train_end(self, state):
        if self._progress:
            self._progress.stop()
            self._progress = None


MINIMIZED = ("loss", "perplexity", "wer", "cer")  # every other metric is better when higher


class EarlyStopping:
    """Counts evaluations without an improvement of `metric` by more than `min_delta`."""

    def __init__(self, metric: str, patience: int | None, min_delta: float = 0.0):
        self.metric = metric
        self.patience = patience
        self.min_delta = min_delta
        self.maximize = metric not in MINIMIZED
        self.best = -math.inf if self.maximize else math.inf
        self.best_step = -1
        self.bad_evaluations = 0

    def update(self, metrics: dict[str, Any], step: int) -> bool:
        """Record one evaluation; True when it is the best so far."""
        value = float(metrics[self.metric])
        gain = value - self.best if self.maximize else self.best - value
        if gain > self.min_delta or self.best_step < 0:
            self.best, self.best_step, self.bad_evaluations = value, step, 0
            return True
        self.bad_evaluations += 1
        return False

    @property
    def should_stop(self) -> bool:
        return self.patience is not None and self.bad_evaluations >= self.patience

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_step": self.best_step, "bad_evaluations": self.bad_evaluations}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_step, self.bad_evaluations = state["best"], state["best_step"], state["bad_evaluations"]


class Timer:
    """Samples per second between log points (wall clock, all processes together)."""

    def __init__(self):
        self.start = self.last = time.perf_counter()

    def lap(self) -> tuple[float, float]:
        now = time.perf_counter()
        lap, self.last = now - self.last, now
        return lap, now - self.start
