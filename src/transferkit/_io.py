"""Atomic file and directory writes: nothing on disk is ever half-written or lost."""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_default_permissions(path: Path) -> None:
    """mkstemp/mkdtemp make 0600 files and 0700 folders; a run or cache entry gets what the user's
    umask gives any new file (it is often shared with a team or read by a server process)."""
    mode = 0o777 if path.is_dir() else 0o666
    with contextlib.suppress(OSError):
        os.chmod(path, mode & ~umask())


def disk_full(error: OSError, path: Path, needed: int | None) -> Exception:
    """The one-line error for a write that ran out of space."""
    from .errors import DiskFullError

    amount = f" ({needed / 1e6:.0f} MB needed)" if needed else ""
    return DiskFullError(f"no space left on device at {path}{amount}; free some space (or set TRANSFERKIT_HOME / "
                         "--output elsewhere) and run again; nothing was half-written")


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike, needed: int | None = None) -> Iterator[Any]:
    """A binary file object whose content appears at `path` only once the block succeeds.

    `needed`: the expected size in bytes, named by the error when the disk fills up."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        give_default_permissions(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise disk_full(e, path, needed) from e
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_file(path) as f:
        f.write(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def sibling_dir(target: Path, tag: str = "tmp") -> Path:
    """A new empty folder next to `target` (.NAME.XXXX.tag), with the user's default permissions."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=f".{tag}"))
    give_default_permissions(tmp)
    return tmp


def swap_in(new: Path, target: Path) -> None:
    """Put the finished folder `new` at `target`; an existing `target` is kept until then and removed after."""
    if target.exists():
        old = target.with_name(f".{target.name}.old")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
        os.replace(new, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(new, target)


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling directory that replaces `target` only if the block succeeds.

    An existing `target` is kept intact until the new one is complete; with overwrite=False
    an existing target is an error raised by the caller beforehand (see `check_output_dir`).
    """
    target = Path(target)
    tmp = sibling_dir(target)
    try:
        yield tmp
        if target.exists() and not overwrite:
            raise FileExistsError(target)
        swap_in(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise disk_full(e, target, None) from e
        raise


TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".parquet")


def write_table(df, path: str | os.PathLike) -> Path:
    """Write a DataFrame by extension (csv, tsv, jsonl, parquet) through a temp file and rename."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        from .errors import TransferkitError

        raise TransferkitError(f"{path}: unsupported output extension {suffix or '(none)'}; "
                               f"use one of {', '.join(TABLE_SUFFIXES)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix)
    os.close(fd)
    try:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        elif suffix == ".jsonl":
            df.to_json(tmp, orient="records", lines=True, force_ascii=False)
        else:
            df.to_csv(tmp, index=False, sep="\t" if suffix == ".tsv" else ",")
        give_default_permissions(Path(tmp))
        os.replace(tmp, path)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            raise disk_full(e, path, None) from e
        raise
    return path
