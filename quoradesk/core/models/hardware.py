"""The device to run on, and which fast CPU paths this processor has.

Usage::

    from quoradesk.core.models import hardware

    device = hardware.pick_device("auto")   # "cuda", "mps" or "cpu"; ModelError if unavailable
    hardware.native_bf16()                   # AVX512-BF16 or AMX: bf16 encoding pays
    hardware.native_int8()                   # VNNI or AMX: the int8 vocabulary head pays
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from .paths import ModelError


def pick_device(requested: str | None = "auto") -> str:
    import torch

    requested = (requested or "auto").lower()
    if requested == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return "mps"
        return "cpu"
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise ModelError("Device 'cuda' was asked for, but no CUDA GPU is available here")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise ModelError("Device 'mps' was asked for, but Apple's MPS is not available here")
    if requested not in ("cpu", "mps") and not requested.startswith("cuda"):
        raise ModelError(f"Unknown device {requested!r}: use auto, cpu, cuda or mps")
    return requested


# Set to "off" to run as on a CPU without the instructions the fast paths need (bfloat16, int8):
# what a user does to rule them out, and how the tests run the fallback on any box.
FAST_PATHS_ENV = "QUORADESK_CPU_FAST_PATHS"


def _cpu_has(flags: tuple[str, ...], ask_torch) -> bool:
    """Whether /proc/cpuinfo lists any of ``flags`` (no torch import on the UI thread); where
    there is no such file, ``ask_torch(torch.cpu)``. None has when $QUORADESK_CPU_FAST_PATHS is off."""
    if os.environ.get(FAST_PATHS_ENV, "").strip().lower() in ("off", "0", "no", "none"):
        return False
    try:
        listed = Path("/proc/cpuinfo").read_text(errors="replace").split()
        return any(f in listed for f in flags)
    except OSError:
        pass
    try:
        import torch

        return bool(ask_torch(torch.cpu))
    except (ImportError, AttributeError, RuntimeError):
        return False


def encoding_paths(device: str, *, bf16: bool = False, int8: bool = False, int8_body: bool = False) -> dict[str, bool]:
    """The fast encoding paths asked for that ``device`` has, as ``encode.encode_batches`` takes
    them: bf16 where the CPU computes it natively, the int8 head where it has int8 dot
    products, the int8 body only with the int8 head. (A local run and each Ray worker decide so.)"""
    cpu = device == "cpu"
    int8 = int8 and cpu and native_int8()
    return {"bf16": bf16 and cpu and native_bf16(), "int8": int8, "int8_body": int8_body and int8}


@lru_cache(maxsize=1)
def native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX): there bf16 encoding
    gives 1.4x the SPLADE's questions per second (encode.encode_batches); elsewhere (AVX2) bf16 is
    emulated and slower than float32."""
    return _cpu_has(("avx512_bf16", "amx_bf16"),
                    lambda cpu: cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())


@lru_cache(maxsize=1)
def native_int8() -> bool:
    """Whether this CPU has int8 dot-product instructions (AVX512-VNNI, AVX-VNNI or AMX): there
    the SPLADE head's product in int8 gives 1.2-1.6x the questions per second
    (encode.encode_batches); without them int8 products are not measured to be faster."""
    return _cpu_has(("avx512_vnni", "avx_vnni", "amx_int8"),
                    lambda cpu: cpu._is_vnni_supported() or cpu._is_amx_tile_supported())
