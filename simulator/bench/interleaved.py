"""Local and distributed runs of one spec, interleaved, and whether they agree within noise.

``python -m simulator.bench.interleaved SPEC --pairs 2 --workers 2 --out DIR`` runs
``fargate-sim run SPEC`` here and ``fargate-sim run SPEC --workers 2`` (or ``--scheduler``)
in turn, each in a fresh process as a user runs them, in the order L D D L L D ... (each
pair the mirror of the one before), so that a load on the machine rising or falling through
the session falls on both modes alike. ``--report L1 L2 --dask D1 D2`` reports on runs
already made.

The noise band is measured, not assumed: two local runs of one spec differ per cell by more
than their repetitions' spread (each run is a new process, at a new moment on the machine;
``compare``'s "within noise" uses the spread of a run's repetitions, which are seconds
apart). So, per metric:

* the *shift* between two groups of runs is the median over the cells of the ratio of the
  groups' geometric means, minus 1: how much faster (or slower) one group is overall;
* the local/distributed shift is set among the shifts of every split of the same runs into
  two groups of those sizes (a permutation test: were the two modes alike, the true split
  would be no more extreme than one that mixes them). Its *p* is the share of splits whose
  shift is at least as large; the modes are *equal within noise* when p > 0.05, and
  *different* when p <= 0.05. Telling them apart at 5 % needs 20 splits or more: 3 local
  and 3 distributed runs give 10 (each split once, a mirror image only negates the shift),
  so at least 4 and 4 (35); with fewer the verdict says so. The *band* printed is the
  95th percentile of the mixed splits' shifts, the size a difference must have to show;
* every pair of runs is also listed: the median ratio - 1 and the median |ratio - 1| over
  the cells, and per cell the distributed/local ratio beside the spread of its local runs.

Metrics: ``median`` (the rate, MiB/s for throughput: wall time, sensitive to contention) and
``cpu_cycles_per_byte`` (reference cycles of CPU time the cell received per byte: far less
sensitive to other processes). Cells flagged CONTENDED are counted per run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulator.bench.store import load_run
from simulator.bench.summary import param_columns

#: The summary columns compared, with how the report names them.
METRICS = {"median": "rate (median of repetitions)",
           "cpu_cycles_per_byte": "CPU cycles per byte"}

#: The permutation test's level, and the fewest splits with which it can reach it.
ALPHA = 0.05
MIN_SPLITS = 20

#: How the CLI is started for each run: a fresh interpreter, as ``fargate-sim`` starts.
CLI = [sys.executable, "-c", "import sys; from simulator.cli import main; sys.exit(main())"]


def run_pairs(spec: str, out: Path, pairs: int, workers: int | None = None,
              scheduler: str | None = None, extra: Sequence[str] = ()) -> dict[str, list[Path]]:
    """Run ``spec`` locally and on Dask in turn (L D, D L, L D, ...), ``pairs`` times each;
    the run directories by mode, in the order each mode ran."""
    if pairs < 1:
        raise ValueError(f"--pairs {pairs}: need at least 1 (4 to tell the modes apart)")
    dask = ["--scheduler", scheduler] if scheduler else ["--workers", str(workers or 2)]
    runs: dict[str, list[Path]] = {"local": [], "dask": []}
    for i in range(pairs):
        order = [("local", []), ("dask", dask)]
        for mode, flags in order if i % 2 == 0 else order[::-1]:
            where = out / f"{mode}-{i + 1}"
            cmd = [*CLI, "run", spec, "--out", str(where), "--json", "--no-plots",
                   *flags, *extra]
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                raise RuntimeError(f"{mode} run {i + 1} failed ({done.returncode}): "
                                   f"{done.stderr.strip() or done.stdout.strip()}")
            runs[mode].append(Path(json.loads(done.stdout)["path"]))
            print(f"{mode} {i + 1}: {runs[mode][-1]}", file=sys.stderr, flush=True)
    return runs


def _table(path: Path) -> pd.DataFrame:
    """A run's summary indexed by its cell parameters (host left out: it is the mode here)."""
    run = load_run(path)
    s = run.summary
    keys = [k for k in param_columns(run.rows, run.meta) if k in s and k != "host"]
    return s.set_index(keys)


def _ratios(a: pd.DataFrame, b: pd.DataFrame, metric: str) -> pd.Series:
    """Per cell both measured: b's metric / a's."""
    if metric not in a or metric not in b:
        return pd.Series(dtype=float)
    r = (b[metric].reindex(a.index) / a[metric]).astype(float)
    return r[r.notna() & (r > 0) & r.map(math.isfinite)]


def _log_stats(r: pd.Series) -> tuple[float, float]:
    """(median ratio - 1, median |ratio - 1|) in log space: a shift and a distance."""
    if r.empty:
        return math.nan, math.nan
    logs = r.map(math.log)
    return math.expm1(statistics.median(logs)), math.expm1(statistics.median(logs.abs()))


def agreement(local: Sequence[Path], dask: Sequence[Path]) -> dict[str, Any]:
    """Every pair of runs compared per metric, the noise band, and the verdicts."""
    paths = {**{f"L{i + 1}": p for i, p in enumerate(local)},
             **{f"D{i + 1}": p for i, p in enumerate(dask)}}
    return agreement_of({n: _table(p) for n, p in paths.items()},
                        {n: str(p) for n, p in paths.items()})


def agreement_of(tables: dict[str, pd.DataFrame], paths: dict[str, str] | None = None
                 ) -> dict[str, Any]:
    """``agreement`` of summaries named ``L1``, ``L2``, ... (local) and ``D1``, ... (Dask)."""
    out: dict[str, Any] = {
        "runs": {n: {"path": (paths or {}).get(n, n), "cells": len(t),
                     "contended": int(t["contended"].fillna(False).astype(bool).sum())
                     if "contended" in t else 0}
                 for n, t in tables.items()},
        "metrics": {}}
    for metric in METRICS:
        pairs = []
        for x, y in itertools.combinations(tables, 2):
            if x[0] == "D" and y[0] == "L":
                x, y = y, x
            shift, distance = _log_stats(_ratios(tables[x], tables[y], metric))
            pairs.append({"a": x, "b": y, "same_mode": x[0] == y[0], "shift": shift,
                          "distance": distance})
        observed, mixed = _split_shifts(tables, metric)
        splits = len(mixed) + 1
        p = (1 + sum(abs(m) >= abs(observed) for m in mixed)) / splits if mixed else math.nan
        band = float(np.percentile([abs(m) for m in mixed], 95)) if mixed else math.nan
        verdict = ("too few runs" if splits < MIN_SPLITS else
                   "equal within noise" if p > ALPHA else "different")
        out["metrics"][metric] = {
            "pairs": pairs, "shift": observed, "mixed_shifts": mixed, "band": band,
            "p": p, "splits": splits, "verdict": verdict,
            "cells": _per_cell(tables, metric),
            "equal_within_noise": verdict == "equal within noise"}
    return out


def _split_shifts(tables: dict[str, pd.DataFrame], metric: str) -> tuple[float, list[float]]:
    """The local/distributed shift, and the shifts of every other split of the runs into
    groups of the same sizes (each split once: a mirror image only negates the shift)."""
    names = [n for n, t in tables.items() if metric in t]
    local = tuple(n for n in names if n[0] == "L")
    if not local or len(local) == len(names):
        return math.nan, []
    logs = pd.DataFrame({n: tables[n][metric].astype(float) for n in names})
    logs = logs[(logs > 0).all(axis=1)].dropna().map(math.log)
    if logs.empty:
        return math.nan, []

    def shift(group: tuple[str, ...]) -> float:
        rest = [n for n in names if n not in group]
        return math.expm1(float((logs[rest].mean(axis=1) - logs[list(group)].mean(axis=1))
                                .median()))

    seen, mixed = {frozenset(local), frozenset(names) - frozenset(local)}, []
    for group in itertools.combinations(names, len(local)):
        if frozenset(group) in seen:
            continue
        seen |= {frozenset(group), frozenset(names) - frozenset(group)}
        mixed.append(shift(group))
    return shift(local), mixed


def _per_cell(tables: dict[str, pd.DataFrame], metric: str) -> list[dict[str, Any]]:
    """Per cell: local and distributed medians over runs, their ratio, the local band."""
    local = [t[metric] for n, t in tables.items() if n[0] == "L" and metric in t]
    dask = [t[metric] for n, t in tables.items() if n[0] == "D" and metric in t]
    if not local or not dask:
        return []
    index = local[0].index
    rows = []
    for key in index:
        lv = [float(s.get(key, math.nan)) for s in local]
        dv = [float(s.get(key, math.nan)) for s in dask]
        lv, dv = [v for v in lv if v == v and v > 0], [v for v in dv if v == v and v > 0]
        if not lv or not dv:
            continue
        ratio = statistics.median(dv) / statistics.median(lv)
        band = max(lv) / min(lv) - 1 if len(lv) > 1 else math.nan
        rows.append({"cell": key if isinstance(key, tuple) else (key,),
                     "local": statistics.median(lv), "dask": statistics.median(dv),
                     "ratio": ratio, "local_band": band,
                     "within_band": bool(len(lv) > 1
                                         and abs(math.log(ratio)) <= math.log1p(band))})
    return rows


def format_agreement(doc: dict[str, Any]) -> str:
    """The report as text: runs, then per metric the pairs, the band and the verdict."""
    lines = ["runs (L local, D distributed), in the order they ran:"]
    for name, r in doc["runs"].items():
        lines.append(f"  {name}: {r['path']}  ({r['cells']} cells, {r['contended']} contended)")
    for metric, m in doc["metrics"].items():
        lines.append("")
        lines.append(f"{METRICS[metric]} ({metric}): per pair of runs, over the cells both "
                     "measured, the median ratio - 1 (shift) and median |ratio - 1| "
                     "(distance)")
        for p in m["pairs"]:
            tag = "same mode" if p["same_mode"] else "local vs distributed"
            lines.append(f"  {p['b']} / {p['a']}: shift {p['shift']:+.1%}, distance "
                         f"{p['distance']:.1%}  [{tag}]")
        lines.append(f"  distributed vs local: shift {m['shift']:+.1%}; p = {m['p']:.3f} among "
                     f"{m['splits']} splits of the same runs (95 % of the splits that mix the "
                     f"modes shift less than ±{m['band']:.1%})")
        cells = m["cells"]
        inside = sum(c["within_band"] for c in cells)
        ratios = [c["ratio"] for c in cells]
        if cells:
            lines.append(f"  per cell, distributed / local (medians over runs): median "
                         f"{statistics.median(ratios):.3f}, range {min(ratios):.3f}-"
                         f"{max(ratios):.3f}; {inside} of {len(cells)} cells within their "
                         "own local runs' spread")
        verdict = {"equal within noise": "EQUAL within noise",
                   "different": "DIFFERENT (beyond the runs' own spread)",
                   "too few runs": f"too few runs to tell ({m['splits']} splits; "
                                   f"{MIN_SPLITS} needed: 4 local and 4 distributed)"
                   }[m["verdict"]]
        lines.append(f"  verdict: {verdict}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pairs (or read runs made before) and print the report."""
    p = argparse.ArgumentParser(prog="python -m simulator.bench.interleaved",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("spec", nargs="?", help="the experiment spec (path or name)")
    p.add_argument("--pairs", type=int, default=4,
                   help="local+distributed pairs (default 4, the fewest that can tell)")
    p.add_argument("--workers", type=int, default=2, help="LocalCluster workers (default 2)")
    p.add_argument("--scheduler", help="use this Dask scheduler instead of a LocalCluster")
    p.add_argument("--out", type=Path, default=Path("results/interleaved"))
    p.add_argument("--report", nargs="+", type=Path, metavar="LOCAL_RUN",
                   help="report on these local runs (with --dask) instead of running")
    p.add_argument("--dask", nargs="+", type=Path, metavar="DASK_RUN", default=[])
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.report:
        runs = {"local": args.report, "dask": args.dask}
    elif args.spec:
        runs = run_pairs(args.spec, args.out, args.pairs, args.workers, args.scheduler)
    else:
        p.error("give a SPEC to run, or --report LOCAL_RUN... --dask DASK_RUN...")
    doc = agreement(runs["local"], runs["dask"])
    if args.json:
        print(json.dumps(doc, indent=2, default=str))
    else:
        print(format_agreement(doc), end="")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
