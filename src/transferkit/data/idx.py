"""IDX files (MNIST's array format: magic, big-endian dimensions, raw unsigned bytes), gzipped or not."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

from .._io import atomic_write_bytes
from ..errors import DataError


def is_idx(path: Path) -> bool:
    return "idx" in path.name and "ubyte" in path.name


def read_idx(path: Path) -> np.ndarray:
    """The array stored in an IDX file."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            data = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", data[:4])
        dims = struct.unpack(f">{ndim}I", data[4:4 + 4 * ndim])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim, count=int(np.prod(dims))).reshape(dims)
    except (OSError, ValueError, struct.error, EOFError) as e:
        raise DataError(f"{path}: not a readable IDX file ({e})") from None


def write_idx(path: Path, array: np.ndarray) -> None:
    """An unsigned-byte IDX file (gzipped when the name ends in .gz), written atomically."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    data = struct.pack(f">HBB{array.ndim}I", 0, 0x08, array.ndim, *array.shape) + array.tobytes()
    atomic_write_bytes(path, gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
