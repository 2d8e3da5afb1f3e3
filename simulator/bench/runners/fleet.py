"""Fleet: many Fargate tasks with a customer key against KMS's and Fargate's quotas.

Each cell is a fleet shape (``simulator.fleet.shape``); each repetition runs it with the next
seed. A cell's shards (its accounts) run one after another here, or as Dask tasks when the run
is distributed (``ctx.cache["shard_map"]``, set by ``simulator.bench.distributed``). The
cell's row is the fleet's summary (time to all RUNNING, failed starts and why, start-latency
percentiles, peak throttled KMS requests per second, grants, the KMS bill per month); its
per-second timeline goes to ``timelines/<cell key>-r<rep>.csv`` in the run directory.
"""

from __future__ import annotations

import math
import resource
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.bench.grid import Cell
from simulator.bench.runners.base import RunContext, Runner
from simulator.fleet.shape import FleetShape, validate_grid
from simulator.fleet.simulate import ShardResult, run_shard
from simulator.fleet.timeline import SUMMARY_COLUMNS, summarize_shards

TIMELINES = "timelines"

ShardMap = Callable[[FleetShape, int, int], list[ShardResult]]


def grid_fleet(v: Any, g: dict[str, Any]) -> dict[str, list[Any]]:
    """spec.py's grid validator for kind ``fleet`` (``v.err`` names the file and key)."""
    return validate_grid(g, v.err)


def local_shards(shape: FleetShape, accounts: int, rep: int) -> list[ShardResult]:
    """Run a fleet's shards one after another in this process."""
    return [run_shard(shape, i, rep) for i in range(accounts)]


def timeline_path(run_dir: Path, cell_key: str, rep: int) -> Path:
    """Where a cell's repetition keeps its per-second timeline."""
    return run_dir / TIMELINES / f"{cell_key}-r{rep}.csv"


class FleetRunner(Runner):
    """One row per cell and repetition: the fleet's summary; the timeline beside it."""

    kind = "fleet"
    columns = ("rep", *SUMMARY_COLUMNS, "peak_rss_mib", "timeline")
    rate_column = "seconds_to_last_running"
    rows_are_summaries = True
    runs_shards = True

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Run the fleet ``repetitions`` times (seed, seed + 1, ...) and summarise each."""
        base = FleetShape.from_params(cell.as_dict())
        shard_map: ShardMap = ctx.cache.get("shard_map", local_shards)
        run_dir = getattr(ctx, "run_dir", None)
        rows = []
        for rep in range(ctx.spec.measure.repetitions):
            shape = replace(base, seed=base.seed + rep)
            results = shard_map(shape, shape.accounts, rep)
            row, timeline = summarize_shards(shape, results)
            row["rep"] = rep
            row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            row["timeline"] = ""
            if run_dir is not None:
                path = timeline_path(Path(run_dir), cell.key, rep)
                path.parent.mkdir(exist_ok=True)
                timeline.to_csv(path, index=False)
                row["timeline"] = str(path.relative_to(run_dir))
            ctx.note(f"fleet cell {cell.key} rep {rep}: {row['started']}/{row['tasks_total']} "
                     f"started, {row['failed_to_start']} failed, last RUNNING at "
                     f"{_num(row['seconds_to_last_running'], '{:.1f}')} s simulated "
                     f"({_num(row['tasks_per_wall_second'])} tasks/s of wall time)")
            rows.append(row)
        return rows

    def summary_table(self, summary: pd.DataFrame) -> pd.DataFrame:
        """One line per cell and repetition (:func:`fleet_table`)."""
        return fleet_table(summary)

    def compare_rows(self, run: Any) -> list[str]:
        """The run's fleet table and its failures (:func:`fleet_run_lines`)."""
        return fleet_run_lines(run)

    def compare_change(self, base: Any, other: Any) -> list[str]:
        """Per cell, what changed (:func:`fleet_change`)."""
        return fleet_change(base, other)

    def figures(self, run: Any) -> list[tuple[str, Any]]:
        """Each cell's timeline (:func:`fleet_figures`)."""
        return fleet_figures(run)


# ------------------------------------------------------------------ presenting


def _varying(df: pd.DataFrame, params: list[str]) -> list[str]:
    return [c for c in params if c in df and df[c].astype(str).nunique() > 1]


def _num(x: Any, fmt: str = "{:.0f}") -> str:
    try:
        x = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "-" if math.isnan(x) else fmt.format(x)


FLEET_PARAMS = ("pattern", "tasks", "launch", "accounts", "clusters", "keys", "rate",
                "lifetime", "minimum_healthy_percent", "maximum_percent", "quotas",
                "fargate_retry", "launcher_retry", "provisioning_jitter", "seed", "region")


def fleet_table(df: pd.DataFrame) -> pd.DataFrame:
    """The summary table printed for a fleet run: one line per cell and repetition."""
    keep = _varying(df, list(FLEET_PARAMS)) or [c for c in ("pattern", "tasks") if c in df]
    show = pd.DataFrame({c: df[c].astype(str) for c in keep})
    if "rep" in df and df["rep"].nunique() > 1:
        show["rep"] = df["rep"]
    show["started"] = [f"{_num(s)}/{_num(t)}" for s, t in
                       zip(df["started"], df["tasks_total"], strict=True)]
    show["failed"] = df["failed_to_start"].map(_num)
    show["all RUNNING s"] = df["seconds_to_all_running"].map(_num)
    show["last RUNNING s"] = df["seconds_to_last_running"].map(_num)
    if "rollout_seconds" in df and df["rollout_seconds"].notna().any():
        show["rollout s"] = df["rollout_seconds"].map(_num)
    show["start p50/p99 s"] = [f"{_num(a, '{:.1f}')}/{_num(b, '{:.1f}')}" for a, b in
                               zip(df["start_p50_s"], df["start_p99_s"], strict=True)]
    show["peak throttled/s"] = df["peak_kms_throttled_per_s"].map(_num)
    show["peak grants"] = df["peak_grants"].map(_num)
    show["KMS req/task"] = df["kms_requests_per_task"].map(lambda x: _num(x, "{:.2f}"))
    show["KMS $/month"] = [f"{_num(a, '{:.2f}')} req + {_num(b, '{:.0f}')} keys" for a, b in
                           zip(df["kms_request_usd_per_month"], df["kms_key_usd_per_month"],
                               strict=True)]
    # The simulator's own speed and memory (issue 13's figure for a 100,000-task fleet).
    if "tasks_per_wall_second" in df:
        show["tasks/s wall"] = df["tasks_per_wall_second"].map(_num)
    if "shard_peak_rss_mib" in df:
        show["peak RSS MiB"] = df["shard_peak_rss_mib"].map(_num)
    return show


def fleet_failures(df: pd.DataFrame) -> list[str]:
    """One line per cell that had tasks fail to start: how many and why."""
    out = []
    for _, r in df.iterrows():
        if str(r.get("failures", "") or "") not in ("", "nan"):
            out.append(f"failed to start ({r.get('cell', '')} rep {r.get('rep', 0)}): "
                       f"{r['failures']}")
    return out


# ------------------------------------------------------------------ plots


def fleet_figures(run: Any) -> list[tuple[str, Any]]:
    """Per cell and repetition: KMS requests per second by operation (allowed, throttled),
    tasks waiting, pending and running, grants outstanding. (name, Figure) pairs."""
    from matplotlib.figure import Figure

    rows = run.rows
    out: list[tuple[str, Any]] = []
    if rows.empty or "timeline" not in rows:
        return out
    for _, r in rows.head(MAX_PLOTS).iterrows():
        rel = str(r.get("timeline") or "")
        if not rel or rel == "nan" or not (run.path / rel).is_file():
            continue
        tl = pd.read_csv(run.path / rel)
        fig = Figure(figsize=(7.0, 5.4), dpi=80, layout="constrained")
        a1, a2 = fig.subplots(2, 1, sharex=True)
        for col in [c for c in tl.columns if c.startswith("kms_") and c.count("_") >= 2]:
            if tl[col].any() and not col.endswith("_error"):
                style = "--" if col.endswith("_throttled") else "-"
                a1.plot(tl["t"], tl[col], style, lw=1, label=col[4:].replace("_", " "))
        a1.set_ylabel("KMS requests/s", fontsize=8)
        if a1.lines:
            a1.legend(fontsize=6, ncol=2)
        for col, lab in (("queued", "tasks waiting for RunTask"), ("pending", "tasks pending"),
                         ("running", "tasks running"), ("grants", "grants outstanding"),
                         ("failed", "failed to start")):
            if col in tl:
                a2.plot(tl["t"], tl[col], lw=1, label=lab)
        a2.set_xlabel("simulated seconds", fontsize=8)
        a2.legend(fontsize=6)
        a1.set_title(f"Fleet timeline: {_title(r)}", fontsize=8)
        out.append((f"fleet_{Path(rel).stem}", fig))
    return out


#: Timelines plotted per run at most.
MAX_PLOTS = 40


def _title(r: Any) -> str:
    """The parameters that say what a fleet was, for a plot title."""
    parts = [f"{r.get('pattern')} {r.get('tasks')} tasks"]
    for col in ("clusters", "accounts"):
        if str(r.get(col)) not in ("1", "nan", "None"):
            parts.append(f"{r.get(col)} {col}")
    parts.append(f"keys {r.get('keys')}")
    if str(r.get("quotas")) not in ("{}", "nan", "None", ""):
        parts.append(f"quotas {r.get('quotas')}")
    return ", ".join(parts)


# ------------------------------------------------------------------ compare

COMPARED = (("failed_to_start", "failed to start", False),
            ("seconds_to_last_running", "last RUNNING s", False),
            ("start_p99_s", "start p99 s", False),
            ("peak_kms_throttled_per_s", "peak throttled/s", False),
            ("kms_throttled", "throttled requests", False),
            ("fargate_retries", "Fargate retries", False),
            ("kms_requests_per_task", "KMS requests/task", False),
            ("kms_request_usd_per_month", "KMS requests $/month", False),
            ("kms_key_usd_per_month", "KMS keys $/month", False))


def fleet_run_lines(run: Any) -> list[str]:
    """What ``compare`` prints under a fleet run's heading: its table, then its failures."""
    return [fleet_table(run.rows).to_string(index=False), *fleet_failures(run.rows)]


def fleet_change(base: Any, other: Any) -> list[str]:
    """What changed from one fleet run to another, per cell.

    Fleet runs are deterministic for a seed, so a change is a change (no noise band); cells
    are matched on their parameters when the runs share them, else by position (comparing,
    say, a shared key with a key per cluster, or a raised quota).
    """
    parts = [f"change {base.path} -> {other.path}"]
    a = base.rows.reset_index(drop=True)
    b = other.rows.reset_index(drop=True)
    if a.empty or b.empty:
        return [*parts, "(no cells to compare)"]
    if set(a.get("cell", [])) & set(b.get("cell", [])):
        pairs = [(ra, rb) for _, ra in a.iterrows() for _, rb in b.iterrows()
                 if ra["cell"] == rb["cell"] and ra.get("rep") == rb.get("rep")]
    else:
        parts.append("note: different cells: compared in order "
                     "(first with first, ...)")
        pairs = [(a.iloc[i], b.iloc[i]) for i in range(min(len(a), len(b)))]
    lines = []
    for ra, rb in pairs:
        differ = [f"{k} {ra.get(k)} -> {rb.get(k)}" for k in FLEET_PARAMS
                  if k in ra and k in rb and str(ra.get(k)) != str(rb.get(k))]
        rec: dict[str, str] = {"differs": "; ".join(differ) or "(same parameters)"}
        for col, lab, _ in COMPARED:
            va, vb = ra.get(col), rb.get(col)
            rec[lab] = f"{_num(va, '{:.4g}')} -> {_num(vb, '{:.4g}')}"
        lines.append(rec)
    parts.append(pd.DataFrame(lines).T.to_string(header=False))
    parts.append("")
    return parts
