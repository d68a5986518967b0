"""Device, processes and numeric precision of a training run.

accelerate sets up the device and the process group (plain `python`, `torchrun` or
`accelerate launch`). Precision is applied here with torch.autocast rather than through
accelerate's `mixed_precision`, which is process-global and fixed at the first Accelerator:
several fine-tunes with different precisions (a grid search in one Python session) must work.
"""

from __future__ import annotations

import contextlib
import platform
from functools import lru_cache

import torch

from ..errors import ConfigError

DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True on CPUs with bf16 instructions (AVX512-BF16, AMX, Arm BF16).

    Elsewhere bf16 is emulated and slower than fp32, so "auto" only picks it where it is native.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = set(f.read().split())
    except OSError:
        return False  # macOS/Windows: no cheap check; fp32 is always correct
    if platform.machine().lower() in ("aarch64", "arm64"):
        return "bf16" in flags
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device: torch.device) -> torch.dtype | None:
    """The autocast dtype for a --precision setting on this device (None: plain fp32)."""
    if precision == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.bfloat16 if device.type == "cpu" and cpu_has_native_bf16() else None
    if precision == "fp16" and device.type != "cuda":
        raise ConfigError("invalid precision: fp16 needs a CUDA GPU; use bf16 or fp32 on CPU")
    return DTYPES[precision]


def precision_name(dtype: torch.dtype | None) -> str:
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[dtype]


def autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_accelerator(device: str = "auto", find_unused_parameters: bool = False):
    """An Accelerator for this process; on CPU it must be told so, or torchrun workers train alone."""
    from accelerate import Accelerator
    from accelerate.utils import DistributedDataParallelKwargs

    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("invalid device: cuda was requested but no CUDA GPU is visible")
    cpu = device == "cpu" or not torch.cuda.is_available()
    ddp = DistributedDataParallelKwargs(find_unused_parameters=find_unused_parameters)
    return Accelerator(cpu=cpu, mixed_precision="no", kwargs_handlers=[ddp])
