"""Running an experiment: check, measure the ceilings, run each cell, append, summarise, plot.

Every cell's rows are on disk (flushed) before the next cell starts.  If the run stops midway
(Ctrl-C, a crash), meta.json says so and how to resume; :func:`run_experiment` with
``resume=DIR`` skips the completed cells and refuses a spec whose hash differs.
"""

from __future__ import annotations

import contextlib
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.bench import env
from simulator.bench.ceiling import Ceiling, CeilingKey, measure_ceilings
from simulator.bench.datapath import DataPath, default_datapath
from simulator.bench.grid import Cell, expand
from simulator.bench.runners import RunContext, RunError, Runner, runner_for
from simulator.bench.spec import NULL, ExperimentSpec
from simulator.bench.store import DEFAULT_ROOT, SUMMARY, RunStore
from simulator.bench.summary import format_summary, summarize

DERIVED = ("ceiling_mib_s", "ceiling_source", "ratio_to_ceiling", "null_mib_s",
           "overhead_vs_null")
_OP_TO_CEILING = {"encrypt": "encrypt", "decrypt": "decrypt", "write": "encrypt",
                  "read": "decrypt"}


class RunInterrupted(RuntimeError):
    """A run stopped midway; its completed cells are on disk and it can be resumed."""

    def __init__(self, path: Path, done: int, total: int, cause: BaseException) -> None:
        self.path, self.done, self.total, self.cause = path, done, total, cause
        what = "interrupted" if isinstance(cause, KeyboardInterrupt) else \
            f"stopped by {type(cause).__name__}: {cause}"
        super().__init__(
            f"{what} after {done}/{total} cells; the completed cells are in {path}\n"
            f"resume with: {resume_command(path)}")


@dataclass
class RunResult:
    """What a finished run produced: where, its summary and plots."""

    path: Path
    spec: ExperimentSpec
    cells_total: int
    cells_run: int
    cells_skipped: int
    summary: pd.DataFrame
    plots: list[Path] = field(default_factory=list)
    seconds: float = 0.0

    def summary_text(self) -> str:
        """The summary table as printed at the end of a run."""
        return format_summary(self.summary, self.spec.kind)


def resume_command(path: Path) -> str:
    """The command line that resumes the run in ``path``."""
    return f"fargate-sim run --resume {shlex.quote(str(path))}"


def run_experiment(
    spec: ExperimentSpec,
    *,
    out: str | Path = DEFAULT_ROOT,
    resume: str | Path | None = None,
    datapath: DataPath | None = None,
    quiet: bool = True,
    plots: bool = True,
    argv: list[str] | None = None,
    log: Callable[[str], None] | None = None,
    executor: CellExecutor | None = None,
) -> RunResult:
    """Run ``spec`` into a new directory under ``out`` (or continue ``resume``).

    ``executor`` runs the cells (default: one after another here); a Dask executor
    (``simulator.bench.distributed``) runs them on a cluster and yields them in order.
    """
    t0 = time.perf_counter()
    log = log or (lambda _m: None)
    cells = expand(spec)
    runner = runner_for(spec.kind)
    if datapath is None and spec.kind != "scenario":
        try:
            datapath = default_datapath()
        except ImportError as exc:
            raise RunError(f"the data path is not importable: {exc}") from None
    runner.check(spec, cells, datapath)  # refuse before anything runs or is written

    if resume:
        store = RunStore.reopen(resume, spec)
        meta = store.read_meta()
        done = store.completed()
        meta.setdefault("resumed", []).append(_now())
        meta.update(status="running", argv_resume=argv if argv is not None else sys.argv)
    else:
        store = RunStore.create(out, spec)
        done = {}
        meta = _initial_meta(spec, store, runner, cells, argv)
    store.write_meta(meta)

    params = list(cells[0].as_dict()) if cells else []
    columns = [*params, "host", *runner.columns]  # experiment, run, cell are added on load
    rated = spec.kind in ("throughput", "volume")
    if rated:
        columns += list(DERIVED)

    todo = [c for c in cells if c.key not in done]
    log(f"{spec.name}: {len(cells)} cells ({len(cells) - len(todo)} already done) -> "
        f"{store.path}")
    ctx = RunContext(spec=spec, datapath=datapath, note=log, run_dir=store.path)
    baseline = _baseline_from_disk(store, runner) if rated else {}
    n_done = len(cells) - len(todo)
    bar: Any = _NoBar()
    try:
        ctx.ceilings = _ceilings(spec, runner, cells, datapath, store, meta, log)
        bar = _progress(len(cells), n_done, spec.name, quiet)
        for cell, rows, seconds in (executor or run_in_turn)(todo, runner, ctx):
            bar.set_postfix_str(_short(cell), refresh=False)
            for row in rows:
                row.update(cell.as_dict())
                row.setdefault("host", env.HOST)
            if rated:
                _derive(rows, cell, runner, ctx.ceilings, baseline)
            store.append(cell.key, rows, columns, seconds=round(seconds, 3))
            n_done += 1
            bar.update(1)
    except BaseException as exc:
        bar.close()
        store.update_meta(status="interrupted" if isinstance(exc, KeyboardInterrupt)
                          else "failed", error=f"{type(exc).__name__}: {exc}",
                          cells_done=n_done, stopped=_now(), resume_command=resume_command(
                              store.path))
        _finish_table(store)
        raise RunInterrupted(store.path, n_done, len(cells), exc) from exc
    bar.close()

    _finish_table(store)
    meta = store.read_meta()
    summary = summarize(store.read_rows(), meta)
    result = RunResult(store.path, spec, len(cells), len(todo), len(cells) - len(todo),
                       summary)
    store.write_text(SUMMARY, result.summary_text() + "\n")
    if plots:
        from simulator.bench.plots import plot_run

        try:
            result.plots = plot_run(store.path)
        except Exception as exc:  # a plot must never lose a run's numbers
            log(f"plots failed: {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - t0
    store.update_meta(status="complete", finished=_now(), cells_done=n_done,
                      error=None, plots=[p.name for p in result.plots],
                      wall_seconds=round(result.seconds, 2))
    return result


# ------------------------------------------------------------------ pieces

#: Runs cells and yields (cell, rows, seconds) in the order given.
CellExecutor = Callable[[list[Cell], Runner, RunContext],
                        Iterator[tuple[Cell, list[dict[str, Any]], float]]]


def run_in_turn(cells: list[Cell], runner: Runner, ctx: RunContext
                ) -> Iterator[tuple[Cell, list[dict[str, Any]], float]]:
    """The default executor: each cell here, one after another."""
    for cell in cells:
        t_cell = time.perf_counter()
        rows = runner.run_cell(cell, ctx)
        yield cell, rows, time.perf_counter() - t_cell



def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _initial_meta(spec: ExperimentSpec, store: RunStore, runner: Runner, cells: list[Cell],
                  argv: list[str] | None) -> dict[str, Any]:
    return {
        "experiment": spec.name,
        "kind": spec.kind,
        "description": spec.description,
        "run": store.path.name,
        "status": "running",
        "started": _now(),
        "spec_path": str(spec.path) if spec.path else None,
        "spec_hash": spec.hash,
        "spec": spec.to_dict(),
        "params": list(cells[0].as_dict()) if cells else [],
        "split_column": runner.split_column,
        "rate_column": runner.rate_column,
        "cells_total": len(cells),
        "cells_done": 0,
        "units": {"mib_s": "2^20 bytes/s (cryptsetup)", "mb_s": "10^6 bytes/s",
                  "clat_*_us": "completion latency, microseconds (fio)",
                  "ceiling_mib_s": "one core's ceiling (openssl speed of this cipher and data "
                                   "unit) x min(threads, usable cores)",
                  "ratio_to_ceiling": "MiB/s / ceiling_mib_s",
                  "overhead_vs_null": "null MiB/s / this MiB/s - 1: extra time per byte "
                                      "over a plain copy"},
        "env": env.collect(argv),
    }


def _ceilings(spec: ExperimentSpec, runner: Runner, cells: list[Cell],
              datapath: DataPath | None, store: RunStore, meta: dict[str, Any],
              log: Callable[[str], None]) -> dict[CeilingKey, Ceiling]:
    """Ceilings measured at the start of the run (reused from meta.json on resume)."""
    keys = runner.ceiling_keys(cells)
    have: dict[CeilingKey, Ceiling] = {}
    for c in meta.get("ceilings", []):
        bps = math.nan if c.get("bytes_per_s") is None else float(c["bytes_per_s"])
        have[(c["cipher"], c["key_bits"], c["unit"], c["op"])] = Ceiling(
            c["cipher"], c["key_bits"], c["unit"], c["op"], c["source"], bps, c.get("detail", ""),
            c.get("native_loop_bytes_per_s"), c.get("openssl_bytes_per_s"))
    missing = keys - set(have)
    if missing:
        log(f"measuring {len(missing)} ceilings ({spec.measure.ceiling})")
        have.update(measure_ceilings(missing, spec.measure.ceiling,
                                     spec.measure.ceiling_seconds, datapath))
        store.update_meta(ceilings=[c.to_dict() for c in have.values()])
    return have


def _match_key(cell: dict[str, Any], row: dict[str, Any], runner: Runner) -> tuple[Any, ...]:
    """The null cell a row is compared with: same parameters except the cipher and key."""
    items = [(k, v) for k, v in cell.items() if k not in ("cipher", "key_bits")]
    if runner.split_column:
        items.append((runner.split_column, row.get(runner.split_column)))
    return tuple(items)


def _derive(rows: list[dict[str, Any]], cell: Cell, runner: Runner,
            ceilings: dict[CeilingKey, Ceiling], baseline: dict[tuple[Any, ...], float]) -> None:
    """Add ratio to the ceiling and overhead over the null baseline to each row."""
    p = cell.as_dict()
    rate = runner.rate_column or "mib_s"
    if p["cipher"] == NULL:
        groups: dict[tuple[Any, ...], list[float]] = {}
        for row in rows:
            groups.setdefault(_match_key(p, row, runner), []).append(float(row[rate]))
        for key, values in groups.items():
            baseline[key] = float(np.median(values))
    cores = min(int(p.get("threads", 1)), _usable_cpus())
    for row in rows:
        op = _OP_TO_CEILING.get(str(row.get(runner.split_column or "op", "encrypt")), "encrypt")
        c = ceilings.get((p["cipher"], p["key_bits"], p["sector_size"], op))
        limit = c.mib_s * cores if c else math.nan
        row["ceiling_mib_s"] = limit
        row["ceiling_source"] = (c.source + (f" x{cores}" if cores > 1 else "")) if c else "none"
        row["ratio_to_ceiling"] = row[rate] / limit if limit == limit and limit else math.nan
        base = baseline.get(_match_key(p, row, runner), math.nan)
        row["null_mib_s"] = base
        row["overhead_vs_null"] = base / row[rate] - 1 if row[rate] and base == base else math.nan


def _baseline_from_disk(store: RunStore, runner: Runner) -> dict[tuple[Any, ...], float]:
    """Null medians of the cells already on disk (resume)."""
    df = store.read_rows()
    if df.empty:
        return {}
    params = store.read_meta().get("params", [])
    out: dict[tuple[Any, ...], list[float]] = {}
    rate = runner.rate_column or "mib_s"
    for rec in df[df["cipher"] == NULL].to_dict("records"):
        p = {k: _py(rec[k]) for k in params}
        out.setdefault(_match_key(p, rec, runner), []).append(float(rec[rate]))
    return {k: float(np.median(v)) for k, v in out.items()}


def _usable_cpus() -> int:
    """Cores this process may run on: the ceiling of an N-thread cell is min(N, cores) x one."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _finish_table(store: RunStore) -> None:
    with contextlib.suppress(Exception):  # parquet is a convenience; the CSV is the record
        store.write_parquet()


def _short(cell: Cell) -> str:
    p = cell.as_dict()
    return " ".join(str(v) for k, v in p.items() if k in ("cipher", "key_bits", "sector_size",
                                                            "op", "rw", "threads"))


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str, refresh: bool = True) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, initial: int, name: str, quiet: bool) -> Any:
    """A tqdm bar on a terminal, nothing under --quiet or when stderr is not a TTY."""
    if quiet or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=name, unit="cell", leave=False,
                file=sys.stderr)
