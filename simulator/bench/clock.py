"""The clock that turns bytes per second into cycles per byte, measured rather than assumed.

On x86-64 the time-stamp counter is read with ``rdtsc`` (ten bytes of machine code called
through ctypes) against ``time.perf_counter_ns`` over a few short intervals: the TSC ticks at
the CPU's nominal (reference) frequency whatever the turbo state (``constant_tsc``), so
"cycles per byte" here means reference cycles per byte — what OpenSSL's own cycle counts
(``OPENSSL_rdtsc``) report.  Elsewhere, or where executable memory is refused, the kernel's
``cpu MHz`` from /proc/cpuinfo is used and the method says it was read, not measured.
"""

from __future__ import annotations

import contextlib
import ctypes
import mmap
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: rdtsc; shl rdx, 32; or rax, rdx; ret
_RDTSC = bytes([0x0F, 0x31, 0x48, 0xC1, 0xE2, 0x20, 0x48, 0x09, 0xD0, 0xC3])
_keep: list[Any] = []


def _rdtsc() -> Callable[[], int] | None:
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    try:
        buf = mmap.mmap(-1, mmap.PAGESIZE,
                        prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    except (OSError, ValueError, AttributeError):
        return None
    buf.write(_RDTSC)
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    _keep.append(buf)
    return ctypes.CFUNCTYPE(ctypes.c_uint64)(addr)


def cpuinfo_mhz(path: str = "/proc/cpuinfo") -> float | None:
    """The first ``cpu MHz`` line of /proc/cpuinfo, or None."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(path).read_text().splitlines():
            if line.startswith("cpu MHz"):
                return float(line.split(":", 1)[1])
    return None


def measure_clock(intervals: int = 3, seconds: float = 0.05) -> dict[str, Any]:
    """The reference clock in Hz and how it was obtained."""
    mhz = cpuinfo_mhz()
    tsc = _rdtsc()
    if tsc is not None:
        rates = []
        for _ in range(intervals):
            t0, c0 = time.perf_counter_ns(), tsc()
            time.sleep(seconds)
            t1, c1 = time.perf_counter_ns(), tsc()
            rates.append((c1 - c0) / ((t1 - t0) / 1e9))
        return {"hz": statistics.median(rates), "method":
                f"rdtsc against CLOCK_MONOTONIC, median of {intervals} x {seconds} s "
                "(TSC: reference cycles at the nominal frequency)",
                "spread": (max(rates) - min(rates)) / statistics.median(rates),
                "cpuinfo_mhz": mhz}
    if mhz:
        return {"hz": mhz * 1e6, "method": "read, not measured: /proc/cpuinfo cpu MHz",
                "spread": None, "cpuinfo_mhz": mhz}
    return {"hz": None, "method": "unknown (no TSC, no /proc/cpuinfo)", "spread": None,
            "cpuinfo_mhz": None}


def cycles_per_byte(bytes_per_s: float, hz: float | None) -> float:
    """Reference cycles per byte at ``bytes_per_s``."""
    if not hz or not bytes_per_s or bytes_per_s != bytes_per_s:
        return float("nan")
    return hz / bytes_per_s
