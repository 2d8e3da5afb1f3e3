"""Running an experiment: check, lock, sample the ceilings, run each cell, record, summarise.

A cell is done when its rows are durable in cells.jsonl (see :mod:`simulator.bench.store`).
If the run stops midway (Ctrl-C, a crash, SIGKILL, a full disk), the completed cells are kept
and :func:`run_experiment` with ``resume=DIR`` continues: it skips them, refuses a spec whose
hash differs, and refuses while another process holds the directory.  Ceilings are sampled in
``measure.ceiling_rounds`` rounds spread through the run; contention (each cell's CPU share,
the load and the busy processes around the run) is measured and said.
"""

from __future__ import annotations

import contextlib
import math
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

from simulator.bench import contention, env
from simulator.bench.ceiling import (
    Ceiling,
    SampleKey,
    aggregate,
    ceiling_threads,
    engine_source,
    lookup,
    sample_round,
    sources_for,
)
from simulator.bench.clock import measure_clock
from simulator.bench.datapath import DataPath, default_datapath, engine_versions
from simulator.bench.grid import Cell, expand
from simulator.bench.runners import RunContext, RunError, Runner, runner_for
from simulator.bench.spec import NULL, ExperimentSpec
from simulator.bench.store import (
    DEFAULT_ROOT,
    SUMMARY,
    RunStore,
    is_disk_error,
    read_cells,
    read_table,
)
from simulator.bench.summary import format_summary, summarize

DERIVED = ("ceiling_mib_s", "ceiling_source", "ratio_to_ceiling", "null_mib_s",
           "overhead_vs_null")
_OP_TO_CEILING = {"encrypt": "encrypt", "decrypt": "decrypt", "write": "encrypt",
                  "read": "decrypt"}
#: A grid larger than this is refused unless the caller says ``allow_large``.
MAX_CELLS = 10_000


class RunInterrupted(RuntimeError):
    """A run stopped midway; its completed cells are on disk and it can be resumed."""

    def __init__(self, path: Path, done: int, total: int, cause: BaseException) -> None:
        self.path, self.done, self.total, self.cause = path, done, total, cause
        if isinstance(cause, KeyboardInterrupt):
            what = "interrupted"
        elif is_disk_error(cause):
            what = (f"stopped: the disk refused a write ({cause.strerror or cause}"
                    f"{': ' + str(cause.filename) if getattr(cause, 'filename', None) else ''})"
                    "; free space or make it writable, then resume")
        else:
            what = f"stopped by {type(cause).__name__}: {cause}"
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
    #: True for a --resume of a run that was already complete: nothing was written.
    already_complete: bool = False
    meta: dict[str, Any] = field(default_factory=dict)

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
    allow_large: bool = False,
    executor: CellExecutor | None = None,
) -> RunResult:
    """Run ``spec`` into a new directory under ``out`` (or continue ``resume``).

    ``executor`` runs the cells (default: one after another here); a Dask executor
    (``simulator.bench.distributed``) runs them on a cluster and yields them in order.
    """
    t0 = time.perf_counter()
    log = log or (lambda _m: None)
    command = argv if argv is not None else sys.argv
    cells = expand(spec)
    if len(cells) > MAX_CELLS and not allow_large:
        raise RunError(f"{spec.name}: the grid has {len(cells):,} cells, more than "
                       f"{MAX_CELLS:,}; narrow it, or pass --allow-large if you mean it")
    runner = runner_for(spec.kind)
    if datapath is None and runner.uses_datapath:
        datapath = default_datapath()
    runner.check(spec, cells, datapath)  # refuse before anything runs or is written
    skipped = runner.unsupported(cells, datapath)
    if skipped:
        by_reason: dict[str, int] = {}
        for why in skipped.values():
            by_reason[why] = by_reason.get(why, 0) + 1
        log("skipping " + "; ".join(f"{n} cells: {why}" for why, n in by_reason.items()))
        cells = [c for c in cells if c.key not in skipped]
        if not cells:
            raise RunError(f"{spec.name}: no cell can run here ("
                           + "; ".join(by_reason) + ")")

    if resume:
        finished = _already_complete(Path(resume), spec, cells)
        if finished is not None:
            return finished
        store = RunStore.reopen(resume, spec, command)
        meta = store.read_meta()
        done = store.completed()
        meta.setdefault("resumed", []).append(_now())
        meta.update(status="running", argv_resume=command)
    else:
        store = RunStore.create(out, spec, command)
        done = {}
        meta = _initial_meta(spec, store, runner, cells, command)
    try:
        return _run(spec, store, meta, done, cells, runner, datapath, quiet, plots, log, t0,
                    executor)
    finally:
        store.unlock()


def _already_complete(path: Path, spec: ExperimentSpec, cells: list[Cell]) -> RunResult | None:
    """A RunResult for a finished run (read only: nothing is written), else None."""
    store = RunStore(path)
    meta = store.read_meta()
    if meta.get("status") != "complete" or meta.get("spec_hash") != spec.hash:
        return None
    have = {r["cell"] for r in read_cells(path)}
    if not {c.key for c in cells} <= have:
        return None
    summary = summarize(read_table(path), meta)
    return RunResult(path, spec, len(cells), 0, len(cells), summary, already_complete=True,
                     meta=meta)


def _run(spec: ExperimentSpec, store: RunStore, meta: dict[str, Any],
         done: dict[str, dict[str, Any]], cells: list[Cell], runner: Runner,
         datapath: DataPath | None, quiet: bool, plots: bool, log: Callable[[str], None],
         t0: float, executor: CellExecutor | None = None) -> RunResult:
    params = list(cells[0].as_dict()) if cells else []
    columns = [*params, "host", *runner.columns]  # experiment, run, cell are added on load
    rated = runner.rated
    if rated:
        columns += list(DERIVED)
    todo = [c for c in cells if c.key not in done]
    n_done = len(cells) - len(todo)
    bar: Any = _NoBar()
    try:
        meta["columns"] = columns
        meta["skipped_cells"] = _skipped(spec, runner, datapath)
        meta["notes"] = _notes(cells, meta["skipped_cells"], datapath)
        for line in meta["notes"]:
            if not line.startswith("skipping "):  # those were said before the run began
                log(line)
        snap = contention.snapshot(0.3)
        meta.setdefault("contention", {}).setdefault("before", snap)
        if len(meta.get("resumed", [])):
            meta["contention"].setdefault("resumes", []).append(snap)
        if rated:
            meta["clock"] = meta.get("clock") or measure_clock()
        store.write_meta(meta)
        log(f"{spec.name}: {len(cells)} cells ({n_done} already done) -> {store.path}")
        ctx = RunContext(spec=spec, datapath=datapath, note=log, run_dir=store.path)
        baseline = _baseline_from_disk(store, runner) if rated else {}
        sampler = _CeilingSampler(spec, runner, cells, datapath, store, quiet, log)
        # an executor whose hosts measure their own ceilings: none from this machine
        per_host = bool(getattr(executor, "ceilings_per_host", False))
        ctx.ceilings = {} if per_host else sampler.start(len(todo))
        bar = _progress(len(cells), n_done, spec.name, quiet)
        results = (_in_turn(todo, runner, ctx, sampler) if executor is None
                   else executor(todo, runner, ctx))
        for cell, rows, seconds in results:
            bar.set_postfix_str(_short(cell), refresh=False)
            for row in rows:
                row.update(cell.as_dict())
                row.setdefault("host", env.HOST)
            if rated:
                host = str(rows[0]["host"]) if rows else env.HOST
                _derive(rows, cell, runner, ctx.host_ceilings.get(host, ctx.ceilings)
                        if ctx.host_ceilings else ctx.ceilings, baseline)
            shares = [float(r["cpu_share"]) for r in rows if r.get("cpu_share") == r.get(
                "cpu_share") and r.get("cpu_share") is not None]
            share = min(shares) if shares else None
            store.append(cell.key, rows, columns, seconds=round(seconds, 3),
                         cpu_share=share, contended=bool(
                             share is not None and share < contention.CONTENDED_BELOW))
            n_done += 1
            bar.update(1)
        ctx.ceilings = sampler.finish() or ctx.ceilings
        bar.close()
        store.write_tables()
    except BaseException as exc:
        bar.close()
        with contextlib.suppress(OSError):  # a full disk may refuse this too: then the
            store.update_meta(                # unlocked "running" status reads interrupted
                status="interrupted" if isinstance(exc, KeyboardInterrupt) or is_disk_error(exc)
                else "failed", error=f"{type(exc).__name__}: {exc}", cells_done=n_done,
                stopped=_now(), resume_command=resume_command(store.path))
        with contextlib.suppress(Exception):
            store.write_tables()
        raise RunInterrupted(store.path, n_done, len(cells), exc) from exc

    meta = store.read_meta()
    meta.setdefault("contention", {})["after"] = contention.snapshot(0.3)
    rows = store.read_rows()
    if runner.uses_datapath:
        _record_backends(meta, rows)
    summary = summarize(rows, meta)
    meta["reliability"] = _reliability(summary, meta)
    store.write_meta(meta)
    result = RunResult(store.path, spec, len(cells), len(todo), len(cells) - len(todo),
                       summary, meta=meta)
    store.write_text(SUMMARY, result.summary_text() + "\n")
    if plots:
        from simulator.bench.plots import plot_run

        try:
            result.plots = plot_run(store.path, progress=not quiet)
        except Exception as exc:  # a plot must never lose a run's numbers
            log(f"plots failed: {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - t0
    result.meta = store.update_meta(status="complete", finished=_now(), cells_done=n_done,
                                    error=None, plots=[p.name for p in result.plots],
                                    wall_seconds=round(result.seconds, 2))
    return result


#: A row's provenance columns and the keys meta.json's "backends" gives them.
_BACKEND_KEYS = {"host": "host", "engine": "engine", "cipher": "cipher", "key_bits": "key_bits",
                 "sector_size": "sector_size", "engine_impl": "backend", "library": "library",
                 "library_version": "version", "code_path": "code_path"}


def _record_backends(meta: dict[str, Any], rows: pd.DataFrame) -> None:
    """Say in meta.json what ran the cells, now that they have run: ``backends`` (per engine
    name and cipher configuration, the backend that ran it, its library, version and CPU
    code path, from the rows, so a distributed run's hosts count too), and the engines'
    descriptions taken again (``auto``/``native`` choose a backend per cipher on first use:
    taken before the first cell, their choices read "none yet")."""
    ran = _backends(rows)
    meta["backends"] = ran
    openssl = meta.get("env", {}).get("openssl")
    if not isinstance(openssl, dict) or "engines" not in openssl:
        return
    openssl["engines"] = engine_versions()  # each name's failure is its own entry's text
    for name, d in openssl["engines"].items():
        made = sorted({f"{b['cipher']}:{b['key_bits']}:{b['sector_size']} -> {b['backend']}"
                       + (f" on {b['host']}" if "host" in b else "")
                       for b in ran if b.get("engine") == name and "backend" in b
                       and {"cipher", "key_bits", "sector_size"} <= set(b)})
        if isinstance(d, dict) and "choices" in d and made:  # what this run's cells ran on
            d["choices"] = ", ".join(made)


def _backends(rows: pd.DataFrame) -> list[dict[str, Any]]:
    """One entry per engine name, cipher configuration and backend in the rows."""
    if rows is None or rows.empty or "engine_impl" not in rows:
        return []
    cols = [c for c in _BACKEND_KEYS if c in rows]
    if "host" in cols and rows["host"].nunique() <= 1:
        cols.remove("host")
    out = []
    for rec in rows[cols].drop_duplicates().to_dict("records"):
        entry = {_BACKEND_KEYS[k]: _py(v) for k, v in rec.items() if v is not None and v == v}
        if entry not in out:
            out.append(entry)
    return out


def _skipped(spec: ExperimentSpec, runner: Runner, datapath: DataPath | None
             ) -> list[dict[str, str]]:
    """The grid's cells that this machine's engines cannot run, and why (for meta.json)."""
    every = expand(spec)
    why = runner.unsupported(every, datapath)
    return [{"cell": c.id, "reason": why[c.key]} for c in every if c.key in why]


def _notes(cells: list[Cell], skipped: list[dict[str, str]], datapath: DataPath | None
           ) -> list[str]:
    """The run's notes for meta.json and ``run --json``: the cells skipped, by reason, and
    what of the data path is missing here (no IPP Crypto: ``auto`` and ``native`` run on
    the rest) where the grid asks for a selecting engine."""
    by_reason: dict[str, int] = {}
    for s in skipped:
        by_reason[s["reason"]] = by_reason.get(s["reason"], 0) + 1
    notes = [f"skipping {n} cells: {why}" for why, n in by_reason.items()]
    engines = {c.as_dict().get("engine") for c in cells}
    if datapath is not None and {"auto", "native"} & engines:
        notes += [n for n in datapath.notes() if not any(n in why for why in by_reason)]
    return notes


def _reliability(summary: pd.DataFrame, meta: dict[str, Any]) -> dict[str, Any]:
    """How many cells were contended, the least CPU share, and the sentence to print."""
    if summary.empty or "contended" not in summary:
        return {"contended_cells": 0, "cells": len(summary), "verdict": None}
    n = int(summary["contended"].sum())
    low = float(summary["cpu_share"].min()) if "cpu_share" in summary else math.nan
    c = meta.get("contention", {})
    return {"contended_cells": n, "cells": len(summary), "min_cpu_share": low,
            "verdict": contention.verdict(low, len(summary), n, c.get("before"), c.get("after"))}


class _CeilingSampler:
    """Samples every ceiling source in rounds spread over the cells; records each sample."""

    def __init__(self, spec: ExperimentSpec, runner: Runner, cells: list[Cell],
                 datapath: DataPath | None, store: RunStore, quiet: bool,
                 log: Callable[[str], None]) -> None:
        self.store, self.log, self.quiet = store, log, quiet
        self.keys = runner.ceiling_keys(cells)
        engines = []
        if datapath is not None:
            for name, (engine, desc) in datapath.loops().items():
                engines.append(engine_source(name, engine, desc, datapath.cipher_spec))
        self.sources = sources_for(spec.measure.ceiling, engines, spec.measure.ceiling_seconds)
        # ceiling = "none": no ceilings at all (not even the null copy's)
        self.rounds = spec.measure.ceiling_rounds if self.keys and self.sources else 0
        samples = store.ceiling_samples()
        # A distributed run resumed here: this machine is one more host, its samples tagged.
        self.host = env.HOST if any(s.get("host") for s in samples) else None
        self.done = {int(s.get("round", 0)) for s in samples if s.get("host") == self.host}
        self.at: list[int] = []

    def _round(self) -> dict[SampleKey, Ceiling]:
        n = len(self.done)
        total = len(self.keys) * max(1, len(self.sources))
        bar = _progress(total, 0, f"ceilings {n + 1}/{self.rounds}", self.quiet, unit="sample")
        self.log(f"ceilings round {n + 1}/{self.rounds}: {len(self.keys)} keys x "
                 f"{len(self.sources)} sources ({', '.join(s.name for s in self.sources)})")

        def note(msg: str) -> None:
            bar.set_postfix_str(msg.split(": ", 1)[-1], refresh=False)
            bar.update(1)

        record = self.store.append_ceiling if self.host is None else (
            lambda sample: self.store.append_ceiling({**sample, "host": self.host}))
        sample_round(self.keys, self.sources, n, record, note)
        bar.close()
        self.done.add(n)
        return self._publish()

    def _publish(self) -> dict[SampleKey, Ceiling]:
        samples = self.store.ceiling_samples()
        ceilings = aggregate(s for s in samples if s.get("host") == self.host)
        listed = [c.to_dict() for c in ceilings.values()]
        if self.host is not None:  # every host's, naming it, as a distributed run keeps them
            from simulator.bench.distributed import host_ceilings

            listed = host_ceilings(samples)
        self.store.update_meta(ceilings=listed,
                               ceiling_sources=[{"source": s.name, "library": s.library,
                                                 "version": s.version, "code_path": s.code_path}
                                                for s in self.sources])
        return ceilings

    def start(self, todo: int) -> dict[SampleKey, Ceiling]:
        """Round one now (unless on disk); the rest spread over the ``todo`` cells."""
        left = self.rounds - len(self.done)
        if left <= 0:
            return self._publish() if self.keys else {}
        ceilings = self._round() if not self.done else self._publish()
        left = self.rounds - len(self.done)
        self.at = [round(todo * (i + 1) / left) for i in range(left)] if left > 0 else []
        return ceilings

    def maybe(self, i: int, todo: int) -> dict[SampleKey, Ceiling] | None:
        """Another round when cell ``i`` is a checkpoint (not the last: see finish)."""
        if self.at and i == self.at[0] and i < todo:
            self.at.pop(0)
            return self._round()
        return None

    def finish(self) -> dict[SampleKey, Ceiling] | None:
        """The remaining rounds, after the last cell."""
        out = None
        while self.at:
            self.at.pop(0)
            out = self._round()
        return out


# ------------------------------------------------------------------ pieces

#: Runs cells and yields (cell, rows, seconds) in the order given.
CellExecutor = Callable[[list[Cell], Runner, RunContext],
                        Iterator[tuple[Cell, list[dict[str, Any]], float]]]


def _in_turn(cells: list[Cell], runner: Runner, ctx: RunContext, sampler: _CeilingSampler
             ) -> Iterator[tuple[Cell, list[dict[str, Any]], float]]:
    """The default executor: each cell here, one after another, ceilings sampled between."""
    for i, cell in enumerate(cells):
        ctx.ceilings = sampler.maybe(i, len(cells)) or ctx.ceilings
        t_cell = time.perf_counter()
        rows = runner.run_cell(cell, ctx)
        yield cell, rows, time.perf_counter() - t_cell



def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _initial_meta(spec: ExperimentSpec, store: RunStore, runner: Runner, cells: list[Cell],
                  argv: list[str]) -> dict[str, Any]:
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
                  "gb_s": "10^9 bytes/s",
                  "cycles_per_byte": "reference (TSC) cycles per byte per thread used: "
                                     "clock.hz / bytes/s x threads_used",
                  "cpu_share": "process CPU s / wall s / min(threads_used, usable cores); "
                               "< 0.9 is CONTENDED",
                  "threads_used": "threads a batch ran on (the data path splits a batch "
                                  "only where it pays); threads is what the cell asked for",
                  "cpu_stall": "share of wall time some task waited for a CPU "
                               "(/proc/pressure/cpu)",
                  "ceiling_mib_s": "the fastest implementation's own loop for this cipher, "
                                   "data unit, direction and thread count (median of the "
                                   "ceiling rounds)",
                  "ratio_to_ceiling": "MiB/s / ceiling_mib_s",
                  "overhead_vs_null": "null MiB/s / this MiB/s - 1: extra time per byte "
                                      "over a plain copy"},
        "env": env.collect(argv),
    }


def _match_key(cell: dict[str, Any], row: dict[str, Any], runner: Runner) -> tuple[Any, ...]:
    """The null cell a row is compared with: same parameters except the cipher and key."""
    items = [(k, v) for k, v in cell.items() if k not in ("cipher", "key_bits")]
    if runner.split_column:
        items.append((runner.split_column, row.get(runner.split_column)))
    items.append(("host", row.get("host")))  # a distributed run: each host's own plain copy
    return tuple(items)


def _derive(rows: list[dict[str, Any]], cell: Cell, runner: Runner,
            ceilings: dict[SampleKey, Ceiling], baseline: dict[tuple[Any, ...], float]) -> None:
    """Add ratio to the ceiling and overhead over the null baseline to each row."""
    p = cell.as_dict()
    rate = runner.rate_column or "mib_s"
    if p["cipher"] == NULL:
        groups: dict[tuple[Any, ...], list[float]] = {}
        for row in rows:
            groups.setdefault(_match_key(p, row, runner), []).append(float(row[rate]))
        for key, values in groups.items():
            baseline[key] = float(np.median(values))
    asked = contention.runnable_threads(int(p.get("threads", 1)))
    for row in rows:
        op = _OP_TO_CEILING.get(str(row.get(runner.split_column or "op", "encrypt")), "encrypt")
        c = None
        for threads in ceiling_threads(asked, row.get("threads_used")):
            c = c or lookup(ceilings, p["cipher"], p["key_bits"], p["sector_size"], op, threads)
        limit = c.mib_s if c else math.nan
        row["ceiling_mib_s"] = limit
        row["ceiling_source"] = c.source if c else "none"
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


def _py(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def _short(cell: Cell) -> str:
    p = cell.as_dict()
    return " ".join(str(v) for k, v in p.items() if k in ("cipher", "key_bits", "sector_size",
                                                            "op", "rw", "threads"))


class _NoBar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix_str(self, s: str, refresh: bool = True) -> None: ...
    def close(self) -> None: ...


def _progress(total: int, initial: int, name: str, quiet: bool, unit: str = "cell") -> Any:
    """A tqdm bar on a terminal, nothing under --quiet or when stderr is not a TTY."""
    if quiet or not sys.stderr.isatty():
        return _NoBar()
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        return _NoBar()
    return tqdm(total=total, initial=initial, desc=name, unit=unit, leave=False,
                file=sys.stderr)
