"""Per-cell statistics of a tidy table, and the summary table printed at the end of a run."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from simulator.bench.ceiling import ceiling_threads
from simulator.bench.clock import cycles_per_byte
from simulator.bench.contention import CONTENDED_BELOW, runnable_threads
from simulator.bench.runners import presenter_for


def param_columns(rows: pd.DataFrame, meta: dict[str, Any]) -> list[str]:
    """The grid's parameter columns (from meta.json, else the usual suspects)."""
    params = [c for c in meta.get("params", []) if c in rows.columns]
    if "host" in rows.columns and rows["host"].nunique() > 1 and "host" not in params:
        params.append("host")  # a distributed run: the same cell on several machines
    split = meta.get("split_column")
    if split and split in rows.columns and split not in params:
        params.append(split)
    return params


def summarize(rows: pd.DataFrame, meta: dict[str, Any]) -> pd.DataFrame:
    """One row per cell (and op/direction): median, quartiles, IQR/median, min, max, noisy."""
    if rows is None or rows.empty:
        return pd.DataFrame()
    kind = meta.get("kind", "throughput")
    noise = float(meta.get("spec", {}).get("measure", {}).get("noise", 0.10))
    keys = param_columns(rows, meta)
    runner = presenter_for(kind)
    if runner.rows_are_summaries:  # one row per cell (fleet: and repetition) already
        cols = [c for c in rows.columns if c not in ("experiment", "run", "cell", "rep")]
        return rows[cols].reset_index(drop=True)
    rate = runner.rate_column or meta.get("rate_column") or "mib_s"
    # Cycles per byte use the clock of the machine that measured the cell: a distributed
    # run's hosts record their own (meta.json "hosts"), else the starting machine's.
    run_hz = (meta.get("clock") or {}).get("hz")
    host_hz = {h: (e.get("clock") or {}).get("hz") for h, e in (meta.get("hosts") or {}).items()}
    # A distributed run's ceilings name their host: each cell is paired with its own host's.
    by_host = "host" in keys
    only = rows["host"].iloc[0] if "host" in rows and not by_host else None
    ceilings = {}
    for c in meta.get("ceilings", []):
        if c.get("bytes_per_s") is not None and "threads" in c:
            if not by_host and c.get("host") not in (None, only):
                continue
            ceilings[(c.get("host") if by_host else None, c["cipher"], int(c["key_bits"]),
                      int(c["unit"]), c["op"], int(c["threads"]))] = c
    out = []
    for key, g in rows.groupby(keys, sort=False, dropna=False):
        rec: dict[str, Any] = dict(zip(keys, key if isinstance(key, tuple) else (key,),
                                       strict=True))
        hz = host_hz.get(rec["host"] if by_host else only) or run_hz
        for col in ("engine_impl", "library", "library_version", "code_path"):
            if col in g:  # the backend that ran the cell, its library, version, code path
                rec[col] = g[col].iloc[0]
        used = _threads_used(g)
        if used is not None:
            rec["threads_used"] = used
        v = g[rate].astype(float).to_numpy()
        q1, med, q3 = np.percentile(v, [25, 50, 75])
        rec.update(n=len(v), median=med, q1=q1, q3=q3, min=v.min(), max=v.max(),
                   rel_iqr=(q3 - q1) / med if med else math.nan)
        rec["noisy"] = bool(len(v) > 1 and rec["rel_iqr"] > noise)
        if rate == "mib_s":
            rec["mib_s"] = med
            rec["mb_s"] = float(np.median(g["mb_s"])) if "mb_s" in g else med * 2**20 / 1e6
            rec["gb_s"] = med * 2**20 / 1e9
            rec["gb_q1"], rec["gb_q3"] = q1 * 2**20 / 1e9, q3 * 2**20 / 1e9
            # cycles of one core per byte: over the threads the batch ran on (threads_used),
            # not those asked for, which a small batch leaves idle
            per = runnable_threads(used if used is not None else int(rec.get("threads", 1)))
            rec["cycles_per_byte"] = cycles_per_byte(med * 2**20, hz) * per
            rec["cpb_q1"] = cycles_per_byte(q3 * 2**20, hz) * per
            rec["cpb_q3"] = cycles_per_byte(q1 * 2**20, hz) * per
        if "cpu_share" in g and g["cpu_share"].notna().any():
            rec["cpu_share"] = float(g["cpu_share"].astype(float).min())
            rec["contended"] = bool(rec["cpu_share"] < CONTENDED_BELOW)
        elif rate == "mib_s":
            rec["cpu_share"], rec["contended"] = math.nan, False
        if "cpu_stall" in g:
            rec["cpu_stall"] = float(np.nanmedian(g["cpu_stall"].astype(float))) \
                if g["cpu_stall"].notna().any() else math.nan
        for col in ("cpu_util", "iops", "clat_p50_us", "clat_p90_us", "clat_p99_us",
                    "clat_p99_9_us", "ok", "passed", "failed"):
            if col in g:
                rec[col] = float(np.median(g[col].astype(float)))
        if "cpu_seconds" in g and "bytes" in g and g["bytes"].sum():
            rec["cpu_s_per_gib"] = float(g["cpu_seconds"].sum() / g["bytes"].sum() * 2**30)
            # cycles per byte of CPU time actually received: far less sensitive to
            # contention than the wall-clock figure (a check on it, not a replacement)
            rec["cpu_cycles_per_byte"] = float(g["cpu_seconds"].sum() * hz / g["bytes"].sum()) \
                if hz else math.nan
        final = _final_ceiling(rec, ceilings)
        if final is not None:  # the run's final ceilings (median of every round)
            rec["ceiling_mib_s"] = final["bytes_per_s"] / 2**20
            rec["ceiling_source"] = final["source"]
            rec["ratio_to_ceiling"] = med / rec["ceiling_mib_s"] if rec["ceiling_mib_s"] \
                else math.nan
        elif "ceiling_mib_s" in g:
            ceiling = float(g["ceiling_mib_s"].iloc[0])
            rec["ceiling_mib_s"] = ceiling
            rec["ceiling_source"] = g["ceiling_source"].iloc[0] if "ceiling_source" in g else ""
            rec["ratio_to_ceiling"] = med / ceiling if ceiling and ceiling == ceiling else math.nan
        if "null_mib_s" in g:
            base = float(g["null_mib_s"].iloc[0])
            rec["null_mib_s"] = base
            rec["overhead_vs_null"] = base / med - 1 if med and base == base else math.nan
        out.append(rec)
    return pd.DataFrame(out)


def _threads_used(g: pd.DataFrame) -> int | None:
    """The threads a cell's batches ran on (the ``threads_used`` column), or None for a run
    that does not record them (made before it was kept, or a kind without threads)."""
    if "threads_used" not in g or not g["threads_used"].notna().any():
        return None
    return int(g["threads_used"].dropna().astype(int).max())


_OPS = {"encrypt": "encrypt", "decrypt": "decrypt", "write": "encrypt", "read": "decrypt"}


def _final_ceiling(rec: dict[str, Any], ceilings: dict[tuple[Any, ...], Any]) -> Any:
    """The run's ceiling for a cell: its cipher, unit and direction on the threads its batches
    ran on (``threads_used``: a batch too small to split runs on one thread whatever the cell
    asked for, and measured against two threads' ceiling it read as half as good as it is;
    the ``thr used`` column still shows the idle thread)."""
    if not ceilings or "cipher" not in rec or "sector_size" not in rec:
        return None
    asked = runnable_threads(int(rec.get("threads", 1)))
    op = _OPS.get(str(rec.get("op", "encrypt")), "encrypt")
    for threads in ceiling_threads(asked, rec.get("threads_used")):
        found = ceilings.get((rec.get("host"), rec["cipher"], int(rec["key_bits"]),
                              int(rec["sector_size"]), op, threads))
        if found is not None:
            rec["ceiling_threads"] = threads
            return found
    return None


def format_summary(summary: pd.DataFrame, kind: str, limit: int = 60) -> str:
    """A fixed-width text table of the summary, the way a terminal user wants to read it."""
    if summary.empty:
        return "(no completed cells)"
    df = summary.copy()
    runner = presenter_for(kind)
    own = runner.summary_table(df)
    rate_table = own is None and runner.rated
    if own is not None:
        show = own
    elif rate_table:
        cols = [c for c in ("cipher", "key_bits", "sector_size", "batch", "threads", "engine",
                            "op", "rw", "rwmixread", "bs", "iodepth") if c in df]
        varying = [c for c in cols if df[c].nunique() > 1 or c in ("cipher", "op")]
        show = pd.DataFrame({c: df[c] for c in varying})
        if "threads" in show and "threads_used" in df:
            used = df["threads_used"]
            if (used.notna() & (used != df["threads"])).any():  # a batch left threads idle
                show.insert(list(show.columns).index("threads") + 1, "thr used",
                            used.map(lambda x: "-" if x != x else f"{int(x)}"))
        show["MiB/s"] = df["median"].map("{:.1f}".format)
        if "gb_s" in df:
            show["GB/s"] = df["gb_s"].map("{:.2f}".format)
        if "cycles_per_byte" in df and df["cycles_per_byte"].notna().any():
            show["c/B"] = df["cycles_per_byte"].map("{:.2f}".format)
        if "cpu_cycles_per_byte" in df and df["cpu_cycles_per_byte"].notna().any():
            show["cpu c/B"] = df["cpu_cycles_per_byte"].map("{:.2f}".format)
        show["IQR%"] = (df["rel_iqr"] * 100).map("{:.1f}".format)
        if "cpu_share" in df:
            show["CPU/thr"] = df["cpu_share"].map("{:.2f}".format)
        elif "cpu_util" in df:
            show["CPU"] = df["cpu_util"].map("{:.2f}".format)
        if "iops" in df:
            show["IOPS"] = df["iops"].map("{:.0f}".format)
            show["p99 us"] = df["clat_p99_us"].map("{:.1f}".format)
        if "ratio_to_ceiling" in df:
            show["of ceiling"] = df["ratio_to_ceiling"].map(_pct)
        if "overhead_vs_null" in df:
            show["vs null"] = df["overhead_vs_null"].map(lambda x: _pct(x, sign=True))
        flags = df["noisy"].map({True: "NOISY", False: ""})
        if "contended" in df:
            flags = [" ".join(x for x in (("CONTENDED" if c else ""), n) if x)
                     for c, n in zip(df["contended"].fillna(False), flags, strict=True)]
        show["flags"] = flags
    else:
        show = df
    legend = LEGEND.get(kind, "")
    text = show.head(limit).to_string(index=False)
    if len(show) > limit:
        text += f"\n... {len(show) - limit} more rows"
    cols = [c for c in show.columns if c in _COLUMN_HELP]
    if rate_table and cols:
        legend = "columns: " + "; ".join(f"{c} = {_COLUMN_HELP[c]}" for c in cols)
    return (legend + "\n" if legend else "") + text


_COLUMN_HELP = {
    "MiB/s": "median of the repetitions, 2^20 B/s",
    "GB/s": "the same in 10^9 B/s",
    "thr used": "threads the batch ran on (the data path splits a batch only where it pays)",
    "c/B": "reference (TSC) cycles per byte per thread used, from wall time",
    "cpu c/B": "the same from the CPU time the threads received (robust to contention)",
    "IQR%": "spread of the repetitions (IQR / median)",
    "CPU/thr": "least CPU share a thread used got (1.00 = a core each)",
    "CPU": "CPU seconds per wall second",
    "IOPS": "I/Os per second",
    "p99 us": "99th percentile completion latency",
    "of ceiling": "MiB/s / the fastest implementation's own loop on the threads used",
    "vs null": "extra time per byte over a plain copy",
    "flags": "CONTENDED (< 0.9 CPU per thread), NOISY (IQR > noise)",
}
LEGEND: dict[str, str] = {}


def _pct(x: float, sign: bool = False) -> str:
    if x is None or x != x:
        return "-"
    return f"{x * 100:+.0f}%" if sign else f"{x * 100:.0f}%"
