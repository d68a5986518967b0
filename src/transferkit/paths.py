"""Where transferkit keeps its cache, and whether it may use the network."""

from __future__ import annotations

import os
from pathlib import Path


def home() -> Path:
    """The cache root: $TRANSFERKIT_HOME, else ~/.cache/transferkit."""
    root = os.environ.get("TRANSFERKIT_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "transferkit"


def offline() -> bool:
    """Offline mode: TRANSFERKIT_OFFLINE=1 (the CLI's --offline sets it). No connection is tried."""
    return os.environ.get("TRANSFERKIT_OFFLINE", "").strip().lower() in {"1", "true", "yes", "on"}
