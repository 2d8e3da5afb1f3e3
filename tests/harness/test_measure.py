"""Timing helpers: calibration, repetitions, order statistics, fio-style percentiles."""

from __future__ import annotations

import math
import threading
import time

from simulator.bench.measure import POOL_THREAD_PREFIX, Stopwatch, measure, percentiles, stats


def test_measure_runs_same_calls_per_repetition() -> None:
    calls = []
    reps = measure(lambda: calls.append(1), bytes_per_call=100, warmup=0.0, repetitions=4,
                   min_time=0.001)
    assert len(reps) == 4
    assert len({r.calls for r in reps}) == 1
    assert all(r.bytes == r.calls * 100 and r.seconds > 0 for r in reps)
    assert len(calls) >= 4 * reps[0].calls
    row = reps[0].to_row()
    assert {"mib_s", "mb_s", "cpu_seconds", "cpu_util"} <= set(row)


def test_units_mib_and_mb() -> None:
    reps = measure(lambda: None, bytes_per_call=2**20, warmup=0, repetitions=1, min_time=0,
                   calls=3)
    r = reps[0]
    assert math.isclose(r.mb_s, r.mib_s * 2**20 / 1e6)


def test_stats_and_noise_flag() -> None:
    s = stats([10, 10, 10, 10, 10])
    assert s.median == 10 and s.iqr == 0 and not s.noisy()
    s = stats([5, 10, 15, 20, 25])
    assert s.median == 15 and s.q1 == 10 and s.q3 == 20 and s.min == 5 and s.max == 25
    assert s.noisy(0.10) and not s.noisy(1.0)
    assert stats([]).n == 0


def test_percentiles_nearest_rank_with_weights() -> None:
    p = percentiles(list(range(1, 101)))
    assert p[50] == 50 and p[90] == 90 and p[99] == 99 and p[99.9] == 100
    # one sample standing for 9 I/Os (a merged request) dominates the low percentiles
    p = percentiles([1.0, 2.0], weights=[9, 1])
    assert p[50] == 1.0 and p[99] == 2.0


def test_stopwatch_measures_cpu() -> None:
    with Stopwatch() as sw:
        sum(range(200_000))
    assert sw.sample.seconds > 0 and sw.sample.cpu_seconds >= 0


def test_busy_processes_are_others_and_cpu_share_is_per_runnable_thread() -> None:
    import os
    import subprocess
    import sys

    from simulator.bench.contention import busy_processes, cpu_share, runnable_threads

    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])  # our own child
    try:
        pids = {p["pid"] for p in busy_processes(0.3)}
    finally:
        spin.kill()
        spin.wait()
    assert os.getpid() not in pids and spin.pid not in pids
    assert cpu_share(1.0, 1.0, 1) == 1.0
    assert cpu_share(0.5, 1.0, 1) == 0.5  # half a CPU: contended
    assert cpu_share(2.0, 1.0, 2) == 2.0 / runnable_threads(2)


def _spin(stop: threading.Event) -> None:
    while not stop.is_set():
        sum(range(1000))


def _stopwatch_beside(thread_name: str) -> tuple[Stopwatch, float, int]:
    """A Stopwatch over some work while a thread called ``thread_name`` spins beside it:
    (the stopwatch, the process CPU seconds over the same stretch, the thread's native id)."""
    stop = threading.Event()
    spinner = threading.Thread(target=_spin, args=(stop,), name=thread_name)
    spinner.start()
    try:
        c0 = time.process_time()
        with Stopwatch() as sw:
            sum(range(2_000_000))
        process = time.process_time() - c0
    finally:
        stop.set()
        spinner.join()
    assert spinner.native_id is not None
    return sw, process, spinner.native_id


def test_stopwatch_leaves_out_other_python_threads_cpu() -> None:
    # a Dask worker's event loop runs beside every cell: its CPU is not the cell's
    sw, process, spinner = _stopwatch_beside("event-loop")
    s = sw.sample
    assert spinner in sw._others and sw.other_cpu > 0
    assert s.cpu_seconds < process
    assert s.cpu_seconds + sw.other_cpu <= process + 1e-6
    assert math.isclose(s.cpu_user + s.cpu_sys, s.cpu_seconds, rel_tol=0.05, abs_tol=0.01)


def test_stopwatch_counts_the_data_paths_pool_threads() -> None:
    # the engines' ThreadPoolExecutor (other tests' leftover threads may still be counted out)
    sw, _, spinner = _stopwatch_beside(f"{POOL_THREAD_PREFIX}0")
    assert spinner not in sw._others
