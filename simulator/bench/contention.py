"""Contention: did the measured threads get the CPUs they asked for, and who else was busy?

Per cell the runner records ``cpu_share``: process CPU time over wall time, divided by the
number of threads that could run at once (``min(threads, usable cpus)``), so 1.0 means every
thread had a core to itself throughout.  A cell below :data:`CONTENDED_BELOW` is CONTENDED:
something else took its CPU time and its figures say more about the neighbours than about the
cipher.  As evidence, each cell also records the Linux CPU pressure stall figure
(``/proc/pressure/cpu`` "some": the share of wall time some runnable task waited for a CPU).
Around the run, :func:`snapshot` records the load average and the other processes using a
noticeable share of a CPU (from ``/proc/<pid>/stat``), into meta.json.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

#: A thread that got less than this share of a CPU was not measuring the cipher alone.
CONTENDED_BELOW = 0.9
#: Other processes using more than this share of a CPU are listed as busy.
BUSY_ABOVE = 0.10
_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def usable_cpus() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def runnable_threads(threads: int) -> int:
    """How many of ``threads`` can hold a CPU at once here."""
    return max(1, min(int(threads), usable_cpus()))


def cpu_share(cpu_seconds: float, seconds: float, threads: int = 1) -> float:
    """CPU time per thread per wall second: 1.0 is every thread on its own core throughout."""
    if seconds <= 0:
        return float("nan")
    return cpu_seconds / seconds / runnable_threads(threads)


def pressure_total_us(path: str = "/proc/pressure/cpu") -> int | None:
    """Cumulative microseconds some task waited for a CPU (PSI), or None without PSI."""
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some"):
            for part in line.split():
                if part.startswith("total="):
                    return int(part[6:])
    return None


def _proc_times() -> dict[int, tuple[str, float]]:
    """pid -> (command, CPU seconds so far) for every readable process but this one and
    its children (openssl speed, measured on purpose)."""
    me = os.getpid()
    out: dict[int, tuple[str, float]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        lpar, rpar = raw.find("("), raw.rfind(")")
        comm = raw[lpar + 1:rpar]
        fields = raw[rpar + 2:].split()
        try:
            if int(entry.name) == me or int(fields[1]) == me:
                continue
            out[int(entry.name)] = (comm, (int(fields[11]) + int(fields[12])) / _TICK)
        except (IndexError, ValueError):
            continue
    return out


def _cmdline(pid: int, fallback: str) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return fallback
    text = raw.replace(b"\0", b" ").decode(errors="replace").strip()
    return (text[:120] + "...") if len(text) > 120 else (text or fallback)


def busy_processes(interval: float = 0.5, above: float = BUSY_ABOVE) -> list[dict[str, Any]]:
    """Other processes that used more than ``above`` of a CPU over ``interval`` seconds."""
    if not os.path.isdir("/proc"):
        return []
    me = os.getpid()
    t0, a = time.monotonic(), _proc_times()
    time.sleep(interval)
    t1, b = time.monotonic(), _proc_times()
    wall = max(t1 - t0, 1e-6)
    out = []
    for pid, (comm, cpu) in b.items():
        if pid == me or pid not in a:
            continue
        share = (cpu - a[pid][1]) / wall
        if share > above:
            out.append({"pid": pid, "command": _cmdline(pid, comm), "cpu_share": round(share, 2)})
    return sorted(out, key=lambda p: -p["cpu_share"])


def snapshot(interval: float = 0.5) -> dict[str, Any]:
    """Load average, usable CPUs, CPU pressure and the busy processes, now."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        load = []
    return {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "loadavg": load,
            "usable_cpus": usable_cpus(), "busy_processes": busy_processes(interval)}


def verdict(min_share: float, cells: int, contended: int, before: dict[str, Any] | None,
            after: dict[str, Any] | None) -> str | None:
    """The plain sentence a run prints when some of its cells were contended, else None."""
    if not contended:
        return None
    busy: dict[str, float] = {}
    for snap in (before or {}, after or {}):
        for p in snap.get("busy_processes", []):
            words = p["command"].split() or ["?"]
            name = " ".join([words[0].rsplit("/", 1)[-1], *words[1:3]])[:40]
            busy[name] = max(busy.get(name, 0.0), p["cpu_share"])
    loads = [s.get("loadavg", [None])[0] for s in (before or {}, after or {}) if s.get("loadavg")]
    cpus = (before or after or {}).get("usable_cpus", usable_cpus())
    who = ", ".join(f"{n} ({v:.0%} of a CPU)" for n, v in sorted(busy.items(),
                                                                   key=lambda kv: -kv[1])[:5])
    return (f"UNRELIABLE: {contended} of {cells} cells were CONTENDED (their threads got as "
            f"little as {min_share:.2f} of a CPU, below {CONTENDED_BELOW}); load average "
            + "/".join(f"{x:.1f}" for x in loads) + f" on {cpus} CPUs (before/after)"
            + (f"; busy: {who}" if who else "")
            + ". Their figures measure the competition for the CPU, not the cipher: rerun on "
            "a quiet machine before drawing conclusions.")
