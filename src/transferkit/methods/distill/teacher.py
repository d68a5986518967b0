"""The teacher: a finished run loaded as its task's model, and its outputs on the transfer set.

Teacher outputs are computed once per (teacher weights, encoded examples) and kept under
$TRANSFERKIT_HOME/cache/teacher/KEY/ as two .npy files that are memory-mapped when read: an
epoch costs the student's forward/backward only, and a second run (another student, another
temperature, a resumed run) does not run the teacher again. Targets are stored per example in
a form independent of the student's tokenizer (one row per text or image, one per word for
token classification; see `Task.soft_targets`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path

import numpy as np

from ..._io import atomic_dir
from ...engine.batching import concat_ragged
from ...errors import TransferkitError
from ...paths import home
from ...runs import read_labels, read_run_config
from ..config import FinetuneConfig, saved_settings

_CACHE_FORMAT = 1


@dataclass
class SoftTargets:
    """Teacher rows of a transfer set: example i's targets are rows[offsets[i]:offsets[i + 1]]."""

    rows: np.ndarray
    offsets: np.ndarray

    def __len__(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def concat(cls, parts: list[SoftTargets]) -> SoftTargets:
        if len(parts) == 1:
            return parts[0]  # stays memory-mapped
        return cls(*concat_ragged([(p.rows, p.offsets) for p in parts]))


class Teacher:
    """A trained run as a model plus the task instance that encodes data the way it was trained."""

    def __init__(self, run_dir: str | Path):
        from ...tasks import TASKS

        self.run_dir = Path(run_dir)
        if not (self.run_dir / "config.json").is_file():
            raise TransferkitError(f"{self.run_dir}: not a run directory (no config.json); pass the --output folder "
                                   "of a finetune run as --teacher")
        doc = read_run_config(self.run_dir)
        if doc.get("kind") not in ("finetune", "distill"):
            raise TransferkitError(f"{self.run_dir}: a {doc.get('kind')} run cannot teach; the teacher must be a "
                                   "finetune (or distill) run with a model/ folder")
        self.folder = self.run_dir / "model"
        if not self.folder.is_dir():
            raise TransferkitError(f"{self.run_dir}: the run did not finish (no model/); finish it with --resume first")
        self.config = saved_settings(doc, FinetuneConfig)
        self.settings = self.config.to_json()
        self.task_name = self.config.task
        self.label_names = read_labels(self.run_dir)
        self.task = TASKS.get(self.task_name)(self.config)
        self.model = self.task.load_model(self.folder, self.label_names)
        self.model.eval().requires_grad_(False)

    def weights_digest(self) -> str:
        digest = hashlib.sha256()
        for path in sorted(self.folder.rglob("*")):
            if path.is_file() and path.suffix in (".safetensors", ".json"):
                digest.update(path.relative_to(self.folder).as_posix().encode() + b"\0")
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def soft_targets(self, examples, accelerator, batch_size: int, dtype=None, use_cache: bool = True) -> SoftTargets:
        """The teacher's targets for raw `examples` (encoded by the teacher's own task), cached on disk."""
        from ...engine.inference import predict

        encoded = self.task.encode(examples)
        path = None
        if use_cache:
            key = hashlib.sha256(f"{_CACHE_FORMAT}|{self.task_name}|{dtype}|".encode())
            if not hasattr(self, "_digest"):
                self._digest = self.weights_digest()
            key.update(self._digest.encode())
            _fingerprint(encoded, key)
            path = home() / "cache" / "teacher" / key.hexdigest()[:32]
        found = path is not None and (path / "offsets.npy").is_file()
        accelerator.wait_for_everyone()  # every process decides before anyone writes
        if found:
            return SoftTargets(np.load(path / "rows.npy", mmap_mode="r"), np.load(path / "offsets.npy"))
        self.model.to(accelerator.device)
        outputs = predict(self.model, encoded, self.task.collate, self.task.predict, batch_size=batch_size, dtype=dtype,
                          accelerator=accelerator)
        rows, offsets = self.task.soft_targets(encoded, outputs)
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if path is not None and accelerator.is_main_process:
            with atomic_dir(path, overwrite=True) as tmp:
                np.save(tmp / "rows.npy", rows)
                np.save(tmp / "offsets.npy", np.asarray(offsets, dtype=np.int64))
        accelerator.wait_for_everyone()
        return SoftTargets(rows, np.asarray(offsets, dtype=np.int64))


def _fingerprint(value, digest) -> None:
    """Feed every array, number and string of an encoded dataset into `digest` (in field order)."""
    if isinstance(value, np.ndarray):
        digest.update(f"{value.dtype}{value.shape}".encode())
        digest.update(np.ascontiguousarray(value).data)
    elif is_dataclass(value):
        for f in fields(value):
            digest.update(f.name.encode())
            _fingerprint(getattr(value, f.name), digest)
    elif isinstance(value, (list, tuple)):
        digest.update(f"[{len(value)}".encode())
        for item in value:
            _fingerprint(item, digest)
    else:
        digest.update(repr(value).encode())
