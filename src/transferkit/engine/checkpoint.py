"""Checkpoints: everything needed to continue a run bit-for-bit where it stopped.

    RUN_DIR/checkpoints/step-00000120.pt   model, optimizer, scheduler, grad scaler, the RNG
                                           states of every process, the data position
                                           (epoch, next batch of that epoch's fixed order)
                                           and the early-stopping state
    RUN_DIR/checkpoints/best.pt            weights of the best evaluation so far

Files are written to a temporary name and renamed, so a run killed mid-write leaves the
previous checkpoint intact; the newest K are kept while training, and a finished run keeps
--keep-checkpoints of them (none by default: they exist to resume, and the optimizer state
makes them 3x the model's size).
"""

from __future__ import annotations

import os
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .._io import atomic_file

_STEP_FILE = re.compile(r"^step-(\d+)\.pt$")


class CheckpointWarning(UserWarning):
    """A checkpoint could not be used; the message says which and what was done instead."""


def rng_state() -> dict[str, Any]:
    """This process's random generators, in types torch.load(weights_only=True) accepts."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def tensor_bytes(obj: Any) -> int:
    """Bytes of the tensors in a (nested) payload: what saving it needs on disk, roughly."""
    if torch.is_tensor(obj):
        return obj.numel() * obj.element_size()
    if isinstance(obj, dict):
        return sum(tensor_bytes(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(tensor_bytes(v) for v in obj)
    return 0


def atomic_torch_save(obj: Any, path: Path) -> None:
    with atomic_file(path, needed=tensor_bytes(obj)) as f:
        torch.save(obj, f)


class Checkpointer:
    """Save, find, load and prune the checkpoints of one run (saving is the main process's job)."""

    def __init__(self, directory: str | os.PathLike, keep: int):
        self.directory = Path(directory)
        self.keep = keep

    def remove_leftovers(self) -> list[Path]:
        """Temp files of a write that was killed (SIGKILL skips atomic_file's cleanup); called by the
        main process when a run starts, when no other write of this run can be under way."""
        if not self.directory.is_dir():
            return []
        leftovers = [p for p in self.directory.iterdir() if p.name.startswith(".") and p.name.endswith(".tmp")]
        for path in leftovers:
            path.unlink(missing_ok=True)
        return leftovers

    def all(self) -> list[tuple[int, Path]]:
        if not self.directory.is_dir():
            return []
        found = [(int(m.group(1)), p) for p in self.directory.iterdir() if (m := _STEP_FILE.match(p.name))]
        return sorted(found)

    def latest(self) -> Path | None:
        found = self.all()
        return found[-1][1] if found else None

    def save(self, step: int, payload: dict[str, Any]) -> Path:
        path = self.directory / f"step-{step:08d}.pt"
        atomic_torch_save(payload, path)
        self.prune(self.keep)
        return path

    def prune(self, keep: int) -> None:
        for _, old in self.all()[: -keep]:
            old.unlink(missing_ok=True)

    @staticmethod
    def load(path: str | os.PathLike) -> dict[str, Any]:
        return torch.load(path, map_location="cpu", weights_only=True)

    def load_latest(self) -> tuple[Path, dict[str, Any]] | None:
        """The newest checkpoint that reads back whole, and its payload; a damaged newer one (a
        truncated file, a disk that filled up) is skipped with a warning naming it."""
        import warnings

        damaged = []
        for _, path in reversed(self.all()):
            try:
                payload = self.load(path)
            except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
                reason = str(e).strip().splitlines()[0][:80] if str(e).strip() else type(e).__name__
                damaged.append(f"{path.name} ({reason})")
                continue
            if damaged:
                warnings.warn(f"{self.directory}: skipped the damaged checkpoint(s) {', '.join(damaged)}; resuming "
                              f"from {path.name}", CheckpointWarning, stacklevel=2)
            return path, payload
        if damaged:
            from ..errors import TransferkitError

            raise TransferkitError(f"{self.directory}: no readable checkpoint ({', '.join(damaged)}); start again "
                                   "without --resume (with --overwrite)")
        return None

    def finish(self, keep: int) -> None:
        """A finished run keeps its newest `keep` checkpoints (and best.pt); none at 0."""
        import shutil

        if not keep:
            shutil.rmtree(self.directory, ignore_errors=True)
        else:
            self.prune(keep)

    @property
    def best_path(self) -> Path:
        return self.directory / "best.pt"

    def save_best(self, model_state: dict[str, torch.Tensor]) -> None:
        atomic_torch_save(model_state, self.best_path)

    def load_best(self) -> dict[str, torch.Tensor] | None:
        return self.load(self.best_path) if self.best_path.is_file() else None
