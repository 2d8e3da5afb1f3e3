"""Timing: warm-up, calibrated repetitions of at least a minimum time, wall and CPU time.

Like timeit and pytest-benchmark, a warm-up estimates the cost of one call; every repetition
then runs the same number of calls, enough to last ``min_time``.  Wall time comes from
``time.perf_counter``, CPU time (all threads of the process) from ``time.process_time`` and the
user/system split from ``resource.getrusage``, less the CPU of the process's other Python threads
(a Dask worker's event loop, which runs beside every cell and took 2-4 % of a core by the
worker's own accounting): a repetition's CPU is its thread's, the native engines' threads' and
the data path's pool's, the same in a plain process and on a Dask worker.  Statistics are
order statistics (median, IQR, min, max): timing noise is one-sided and skewed, so means mislead.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

try:
    import resource
except ImportError:  # pragma: no cover - not on Linux
    resource = None  # type: ignore[assignment]

from simulator.bench.contention import cpu_share, pressure_total_us
from simulator.bench.sizes import MB, MIB


@dataclass(frozen=True)
class Sample:
    """Wall and CPU seconds over one timed stretch."""

    seconds: float
    cpu_seconds: float
    cpu_user: float
    cpu_sys: float
    #: Share of the wall time some runnable task waited for a CPU (PSI), NaN without PSI.
    cpu_stall: float = math.nan


#: The data path's thread pool (``simulator.crypt.engines``' ThreadPoolExecutor names its
#: threads ``crypt_N``): its CPU is the measurement's, like the native engines' own threads.
POOL_THREAD_PREFIX = "crypt_"


def _other_threads() -> list[int]:
    """Native ids of this process's Python threads that do not do the measured work: all but
    the caller and the data path's pool (a Dask worker's event loop, tqdm's monitor)."""
    me = threading.get_ident()
    return [t.native_id for t in threading.enumerate()
            if t.ident != me and t.native_id is not None
            and not t.name.startswith(POOL_THREAD_PREFIX)]


def _threads_cpu(native_ids: list[int]) -> dict[int, float]:
    """CPU seconds each thread has run (Linux ``/proc/self/task/TID/schedstat``, in ns);
    threads that have gone, or a system without the file, are left out."""
    out = {}
    for tid in native_ids:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as f:
                out[tid] = int(f.read().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            continue
    return out


class Stopwatch:
    """Context manager measuring wall time, the measured work's CPU time (the process's, less
    its other Python threads') and its user/system split, and the CPU pressure stall over the
    same stretch (contention evidence)."""

    def __enter__(self) -> Stopwatch:
        self._others = _other_threads()
        self._p0 = pressure_total_us()
        self._r0 = _rusage()
        self._o0 = _threads_cpu(self._others)  # read next to the process's CPU time
        self._c0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        t1 = time.perf_counter()
        c1 = time.process_time()
        o1 = _threads_cpu(self._others)
        r1 = _rusage()
        p1 = pressure_total_us()
        wall = t1 - self._t0
        stall = ((p1 - self._p0) / 1e6 / wall if p1 is not None and self._p0 is not None
                 and wall > 0 else math.nan)
        process = c1 - self._c0
        others = sum(max(0.0, o1[t] - self._o0[t]) for t in o1 if t in self._o0)
        cpu = max(0.0, process - others)
        # getrusage splits the process's time only, and its totals are sampled at the tick
        # (they can lag process_time by tens of ms over a short stretch): only its split of
        # user and system is kept, applied to the work's CPU, so user + system = cpu.
        user, system = max(0.0, r1[0] - self._r0[0]), max(0.0, r1[1] - self._r0[1])
        share = user / (user + system) if user + system > 0 else 1.0
        self.other_cpu = others
        self.sample = Sample(wall, cpu, cpu * share, cpu * (1.0 - share), min(stall, 1.0))


def _rusage() -> tuple[float, float]:
    if resource is None:  # pragma: no cover
        return (0.0, 0.0)
    r = resource.getrusage(resource.RUSAGE_SELF)
    return (r.ru_utime, r.ru_stime)


@dataclass(frozen=True)
class Repetition:
    """One timed repetition: ``calls`` calls moving ``bytes`` bytes."""

    rep: int
    calls: int
    bytes: int
    seconds: float
    cpu_seconds: float
    cpu_user: float
    cpu_sys: float
    #: CPU per runnable thread per wall second (1.0: each thread had its core throughout).
    cpu_share: float = math.nan
    cpu_stall: float = math.nan

    @property
    def mib_s(self) -> float:
        """Throughput in MiB/s (2^20 bytes, as cryptsetup reports)."""
        return self.bytes / self.seconds / MIB if self.seconds > 0 else math.inf

    @property
    def mb_s(self) -> float:
        """Throughput in MB/s (10^6 bytes, as openssl speed and fio's "MB/s" report)."""
        return self.bytes / self.seconds / MB if self.seconds > 0 else math.inf

    @property
    def cpu_util(self) -> float:
        """CPU seconds per wall second: 1.0 is one busy core, 2.0 two."""
        return self.cpu_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def gb_s(self) -> float:
        """Throughput in GB/s (10^9 bytes)."""
        return self.mb_s / 1000

    def to_row(self) -> dict[str, Any]:
        """Columns of the tidy table for this repetition."""
        row = asdict(self)
        row.update(mib_s=self.mib_s, mb_s=self.mb_s, gb_s=self.gb_s, cpu_util=self.cpu_util)
        return row


def calibrate(fn: Callable[[], Any], warmup: float, min_time: float) -> int:
    """Run ``fn`` for ``warmup`` seconds (at least once) and return calls per repetition."""
    calls = 0
    t0 = time.perf_counter()
    elapsed = 0.0
    while True:
        fn()
        calls += 1
        elapsed = time.perf_counter() - t0
        if elapsed >= warmup:
            break
    per_call = max(elapsed / calls, 1e-9)
    return max(1, math.ceil(min_time / per_call))


def measure(
    fn: Callable[[], Any],
    *,
    bytes_per_call: int,
    warmup: float,
    repetitions: int,
    min_time: float,
    calls: int | None = None,
    threads: int = 1,
) -> list[Repetition]:
    """Warm up, then time ``repetitions`` repetitions of the same number of calls to ``fn``.

    Every repetition lasts at least ``min_time`` (unless ``calls`` is given): the warm-up's
    estimate is only a first guess (without warm-up it is one cold call, often far slower
    than the rest), so a repetition that comes out short serves as a better calibration and
    the set starts again with more calls (a few times at most).
    """
    fixed = calls is not None
    if calls is None:
        calls = calibrate(fn, warmup, min_time)
    attempts = 0
    while True:
        attempts += 1
        reps: list[Repetition] = []
        short = None
        for i in range(repetitions):
            with Stopwatch() as sw:
                for _ in range(calls):
                    fn()
            s = sw.sample
            if not fixed and s.seconds < min_time and attempts < _MAX_ATTEMPTS:
                short = s.seconds
                break
            reps.append(Repetition(i, calls, calls * bytes_per_call, s.seconds, s.cpu_seconds,
                                   s.cpu_user, s.cpu_sys,
                                   cpu_share(s.cpu_seconds, s.seconds, threads), s.cpu_stall))
        if short is None:
            return reps
        calls = max(calls + 1, math.ceil(calls * min_time / max(short, 1e-9) * 1.2))


#: How often a set of repetitions is restarted with more calls before one is accepted.
_MAX_ATTEMPTS = 5


@dataclass(frozen=True)
class Stats:
    """Order statistics of repeated measurements and whether their spread is too wide."""

    n: int
    median: float
    q1: float
    q3: float
    min: float
    max: float

    @property
    def iqr(self) -> float:
        """Interquartile range q3 - q1."""
        return self.q3 - self.q1

    @property
    def rel_iqr(self) -> float:
        """IQR / median: the spread as a fraction of the typical value."""
        return self.iqr / self.median if self.median else math.inf

    def noisy(self, threshold: float = 0.10) -> bool:
        """True when the IQR exceeds ``threshold`` of the median (default 10 %)."""
        return self.n > 1 and self.rel_iqr > threshold


def stats(values: Sequence[float]) -> Stats:
    """Median, quartiles (linear interpolation, as numpy and pandas) and range."""
    a = np.asarray([v for v in values if v == v], dtype=float)
    if a.size == 0:
        nan = float("nan")
        return Stats(0, nan, nan, nan, nan, nan)
    q1, med, q3 = np.percentile(a, [25, 50, 75])
    return Stats(int(a.size), float(med), float(q1), float(q3), float(a.min()), float(a.max()))


def percentiles(samples: Sequence[float] | np.ndarray,
                weights: Sequence[int] | np.ndarray | None = None,
                points: Sequence[float] = (50, 90, 99, 99.9)) -> dict[float, float]:
    """Latency percentiles as fio reports them (nearest rank), optionally weighted by count."""
    a = np.asarray(samples, dtype=float)
    if a.size == 0:
        return {p: float("nan") for p in points}
    w = np.ones_like(a) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(a)
    a, w = a[order], w[order]
    cum = np.cumsum(w)
    total = cum[-1]
    out = {}
    for p in points:
        rank = max(1.0, math.ceil(p / 100.0 * total))
        out[p] = float(a[min(int(np.searchsorted(cum, rank)), a.size - 1)])
    return out
