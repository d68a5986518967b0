"""The model cache: $TRANSFERKIT_HOME/models/<name>/ holding the files and a manifest.json.

Guarantees:
- atomic: an entry is built in a temporary sibling folder and renamed into place only when the
  build function and the manifest are complete, so a crash or Ctrl-C never leaves a half entry;
- idempotent: a verified entry is returned as is;
- self-checking: manifest.json records sha256 and size of every file; a missing or changed file
  makes the entry "damaged", and it is pulled again with a one-line warning.
Hashing a 440 MB file on every load would cost about a second, so the result of a full check is
remembered per file in `.verified.json`, keyed by (size, mtime_ns): repeat loads only stat().
File timestamps are coarse (a few ms, seconds on some network filesystems), so a file written
just before the stamp could be changed again without its mtime moving; like git's "racily clean"
index entries, such files are not trusted from the stamp and get hashed again.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from .._io import atomic_dir, atomic_write_json, read_json
from ..errors import ModelSourceError, OfflineError
from ..paths import home
from ..version import __version__
from ..wheels import sha256_file
from .registry import Entry, ModelSpec

log = logging.getLogger("transferkit.sources")

MANIFEST = "manifest.json"
STAMP = ".verified.json"
RACY_NS = 2_000_000_000  # trust a stamp only for files last modified this long before it was written


def models_root() -> Path:
    return home() / "models"


def entry_path(name: str) -> Path:
    return models_root() / name


def read_manifest(folder: Path) -> dict[str, Any] | None:
    try:
        return read_json(folder / MANIFEST)
    except (OSError, ValueError):
        return None


def manifest_spec(folder: Path) -> ModelSpec | None:
    """The spec recorded in a cache entry (lets a copied entry folder be used as a local path)."""
    manifest = read_manifest(folder)
    try:
        return ModelSpec.from_dict(manifest["spec"]) if manifest else None
    except (KeyError, TypeError, ValueError):
        return None


def _payload_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in (MANIFEST, STAMP))


def write_manifest(folder: Path, spec: ModelSpec, seconds: float) -> dict[str, Any]:
    """Hash every file of a freshly built entry, write manifest.json and a matching stamp."""
    files, stamp = {}, {}
    for path in _payload_files(folder):
        rel, st = path.relative_to(folder).as_posix(), path.stat()
        digest = sha256_file(path)
        files[rel] = {"sha256": digest, "size": st.st_size}
        stamp[rel] = [st.st_size, st.st_mtime_ns, digest]
    manifest = {
        "name": spec.name,
        "spec": spec.to_dict(),
        "source": {"description": spec.source, "assets": [a.__dict__ for a in spec.assets]},
        "files": files,
        "size_bytes": sum(f["size"] for f in files.values()),
        "pulled_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "build_seconds": round(seconds, 2),
        "transferkit_version": __version__,
    }
    atomic_write_json(folder / MANIFEST, manifest)
    # rename() keeps mtimes, so the stamp stays valid once the folder becomes the entry.
    _write_stamp(folder, stamp)
    return manifest


def _write_stamp(folder: Path, files: dict[str, list]) -> None:
    with contextlib.suppress(OSError):  # a read-only shared cache is fine, just slower
        atomic_write_json(folder / STAMP, {"written_ns": time.time_ns(), "files": files})


def _read_stamp(folder: Path) -> tuple[int, dict[str, list]]:
    try:
        stamp = read_json(folder / STAMP)
        return int(stamp["written_ns"]), dict(stamp["files"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0, {}


def _make_readable(folder: Path) -> None:
    # mkdtemp/mkstemp create 0700/0600 paths; a cache entry must be readable by other users of a
    # shared $TRANSFERKIT_HOME.
    folder.chmod(0o755)
    for path in folder.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)


def quick_check(folder: Path) -> bool:
    """Cheap presence check for listings: a manifest and every file with its recorded size."""
    manifest = read_manifest(folder)
    if not manifest or "files" not in manifest:
        return False
    for rel, info in manifest["files"].items():
        try:
            if (folder / rel).stat().st_size != info["size"]:
                return False
        except OSError:
            return False
    return True


def verify(folder: Path) -> str | None:
    """None if the entry is intact, else what is wrong (one short phrase)."""
    manifest = read_manifest(folder)
    if not manifest or not isinstance(manifest.get("files"), dict):
        return "manifest.json is missing or unreadable"
    written_ns, stamp = _read_stamp(folder)
    fresh, changed = {}, False
    for rel, info in manifest["files"].items():
        try:
            st = (folder / rel).stat()
        except OSError:
            return f"{rel} is missing"
        if st.st_size != info["size"]:
            return f"{rel} has size {st.st_size}, expected {info['size']}"
        key = [st.st_size, st.st_mtime_ns, info["sha256"]]
        trusted = stamp.get(rel) == key and st.st_mtime_ns < written_ns - RACY_NS
        if not trusted:  # new, touched since the last full check, or racily close to it: hash it
            if sha256_file(folder / rel) != info["sha256"]:
                return f"{rel} does not match its sha256"
            changed = True
        fresh[rel] = key
    if changed:
        _write_stamp(folder, fresh)
    return None


@contextlib.contextmanager
def _pull_lock(name: str) -> Iterator[None]:
    """Serialise pulls of one model across processes (two terminals, parallel test workers)."""
    root = models_root()
    root.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: atomic rename still prevents half entries
        yield
        return
    with open(root / f".{name}.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _remove_leftovers(name: str) -> None:
    # Temp folders of a pull that was killed (SIGKILL skips atomic_dir's cleanup). Only called
    # under the pull lock, so no live pull of this model owns them.
    root = models_root()
    for leftover in [*root.glob(f".{name}.*.tmp"), root / f".{name}.old"]:
        if leftover.is_dir():
            log.debug("removing leftover %s of an interrupted pull", leftover)
            shutil.rmtree(leftover, ignore_errors=True)


def cached_path(name: str) -> Path | None:
    """The verified entry of a registry model, or None (after a warning if it is damaged)."""
    folder = entry_path(name)
    if not folder.exists():
        return None
    problem = verify(folder)
    if problem is None:
        return folder
    log.warning("cache entry %s is damaged (%s); pulling %s again", folder, problem, name)
    return None


def pull_entry(entry: Entry, force: bool = False, announce: bool = True) -> Path:
    """Make sure `entry` is in the cache (building it if needed) and return its folder.

    announce=False skips the "already cached" message (for loads, where it is noise).
    """
    name, folder = entry.spec.name, entry_path(entry.spec.name)
    if not force and (found := cached_path(name)):
        if announce:
            log.info("%s is already cached at %s", name, found)
        return found
    with _pull_lock(name):
        # Another process may have finished the same pull while we waited for the lock.
        if not force and folder.exists() and verify(folder) is None:
            log.info("%s is already cached at %s", name, folder)
            return folder
        _remove_leftovers(name)
        start = time.perf_counter()
        assets = entry.spec.assets
        log.info("pulling %s from %s", name, f"{len(assets)} wheels" if len(assets) > 2 else
                 ", ".join(map(str, assets)) or entry.spec.source)
        try:
            with atomic_dir(folder, overwrite=True) as work:
                entry.build(work)
                manifest = write_manifest(work, entry.spec, time.perf_counter() - start)
                _make_readable(work)
        except OfflineError:
            raise OfflineError(f"model {name} is not cached and offline mode is on; run "
                               f"`transferkit models pull {name}` while online") from None
        except OSError as e:  # disk full, permissions: name the folder, keep it one line
            raise ModelSourceError(f"cannot write the cache entry {folder}: {e}") from e
    log.info("pulled %s (%.1f MB) into %s in %.1f s", name, manifest["size_bytes"] / 1e6, folder,
             time.perf_counter() - start)
    return folder


def entry_status(name: str) -> dict[str, Any]:
    folder = entry_path(name)
    cached = quick_check(folder)
    manifest = read_manifest(folder) if cached else None
    return {"cached": cached, "path": str(folder),
            "size_on_disk": manifest.get("size_bytes") if manifest else None,
            "pulled_at": manifest.get("pulled_at") if manifest else None}


__all__ = ["models_root", "entry_path", "read_manifest", "manifest_spec", "write_manifest", "quick_check",
           "verify", "cached_path", "pull_entry", "entry_status", "MANIFEST", "STAMP"]
