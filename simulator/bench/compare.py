"""Comparisons: cipher configurations side by side and ranked, and the change between runs.

``cipher_table`` ranks the cipher configurations of one run (throughput both ways, how close
to the ceiling, overhead over a plain copy, capacity given up, tamper detection, nonce limit).
``diff_runs`` lines up the cells two runs share and calls a change "within noise" when it is no
larger than the noise band, the mean of the two runs' IQRs relative to the first median (the
"noise ±" column): a difference smaller than the spread of the repetitions is not evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.bench.plots import label
from simulator.bench.sizes import format_size
from simulator.bench.store import Run, load_run
from simulator.bench.summary import param_columns

REFERENCE_DEVICE = 20 * 2**30  # Fargate's default ephemeral storage, for capacity figures


def cipher_properties(cipher: str, key_bits: int, sector_size: int) -> dict[str, Any]:
    """Tamper detection, metadata, capacity overhead (20 GiB) and nonce limit of a config."""
    try:
        from simulator.crypt import CipherSpec
    except ImportError:
        return {}
    spec = CipherSpec(cipher, int(key_bits), int(sector_size))
    return {
        "tamper_detection": spec.detects_tampering,
        "metadata_B": spec.metadata_size,
        "capacity_overhead": spec.capacity_overhead(REFERENCE_DEVICE),
        "nonce_limit_writes": spec.nonce_limit,
        "nonce_limit_bytes": spec.nonce_limit_bytes,
    }


def _where(s: pd.DataFrame, where: dict[str, Any] | None) -> pd.DataFrame:
    for k, v in (where or {}).items():
        if k in s:
            s = s[s[k].astype(str) == str(v)]
    return s


def cipher_table(run: Run, where: dict[str, Any] | None = None) -> pd.DataFrame:
    """The run's cipher configurations side by side, ranked (best first) per group."""
    s = _where(run.summary, where)
    if s.empty:
        return s
    if run.kind == "throughput":
        return _throughput_table(s)
    if run.kind == "volume":
        return _volume_table(s)
    if run.kind == "capacity":
        return _capacity_table(s)
    return s


def _pin_lowest_threads_largest_batch(s: pd.DataFrame) -> pd.DataFrame:
    if "threads" in s and s["threads"].nunique() > 1:
        s = s[s["threads"] == s["threads"].min()]
    if "batch" in s and s["batch"].nunique() > 1:
        s = s[s["batch"] == s["batch"].max()]
    return s


def _throughput_table(s: pd.DataFrame) -> pd.DataFrame:
    s = _pin_lowest_threads_largest_batch(s)
    group = [c for c in ("sector_size", "engine", "threads", "batch") if c in s]
    rows = []
    for key, g in s.groupby([*group, "cipher", "key_bits"], sort=False):
        rec = dict(zip([*group, "cipher", "key_bits"], key, strict=True))
        for op in ("encrypt", "decrypt"):
            o = g[g["op"] == op]
            if o.empty:
                continue
            rec[f"{op}_mib_s"] = float(o["median"].iloc[0])
            rec[f"{op}_iqr_pct"] = float(o["rel_iqr"].iloc[0]) * 100
            if "ratio_to_ceiling" in o:
                rec[f"{op}_of_ceiling"] = float(o["ratio_to_ceiling"].iloc[0])
            if "overhead_vs_null" in o:
                rec[f"{op}_vs_null"] = float(o["overhead_vs_null"].iloc[0])
        rec.update(cipher_properties(rec["cipher"], rec["key_bits"], rec["sector_size"]))
        rows.append(rec)
    t = pd.DataFrame(rows)
    speed = t[[c for c in ("encrypt_mib_s", "decrypt_mib_s") if c in t]].mean(axis=1)
    t["_null"] = t["cipher"] == "null"
    t["_speed"] = speed
    t = t.sort_values([*group, "_null", "_speed"], ascending=[True] * len(group) + [True, False])
    t["rank"] = t.groupby(group, sort=False).cumcount() + 1 if group else range(1, len(t) + 1)
    t.loc[t["_null"], "rank"] = 0
    return t.drop(columns=["_null", "_speed"]).reset_index(drop=True)


def _volume_table(s: pd.DataFrame) -> pd.DataFrame:
    group = [c for c in ("rw", "rwmixread", "bs", "iodepth", "size", "engine", "sector_size",
                         "op") if c in s]
    cols = [*group, "cipher", "key_bits", "median", "rel_iqr", "iops", "clat_p50_us",
            "clat_p99_us", "clat_p99_9_us", "ratio_to_ceiling", "overhead_vs_null"]
    t = s[[c for c in cols if c in s]].rename(columns={"median": "mib_s"}).copy()
    t["_null"] = t["cipher"] == "null"
    t = t.sort_values([*group, "_null", "mib_s"], ascending=[True] * len(group) + [True, False])
    t["rank"] = t.groupby(group, sort=False).cumcount() + 1
    t.loc[t["_null"], "rank"] = 0
    return t.drop(columns=["_null"]).reset_index(drop=True)


def _capacity_table(s: pd.DataFrame) -> pd.DataFrame:
    group = [c for c in ("size_gib", "cmk", "image", "used", "sector_size") if c in s]
    cols = [*group, "cipher", "key_bits", "data_bytes", "capacity_overhead", "detects_tampering",
            "nonce_limit", "df_avail_bytes"]
    t = s[[c for c in cols if c in s]].copy()
    t = t.sort_values([*group, "capacity_overhead"])
    t["rank"] = t.groupby(group, sort=False).cumcount() + 1
    return t.reset_index(drop=True)


# ------------------------------------------------------------------ two runs


def diff_runs(a: Run, b: Run) -> pd.DataFrame:
    """Cells both runs measured: medians, change, noise band and a verdict per cell."""
    sa, sb = a.summary, b.summary
    if sa.empty or sb.empty or "median" not in sa or "median" not in sb:
        return pd.DataFrame()
    keys = [k for k in param_columns(a.rows, a.meta) if k in sb.columns]
    cols = ["median", "q1", "q3", "rel_iqr", "noisy"]
    m = sa[keys + cols].merge(sb[keys + cols], on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return m
    higher_better = (a.meta.get("rate_column") or "mib_s") != "seconds"
    m["change"] = m["median_b"] / m["median_a"] - 1
    m["noise_band"] = ((m["q3_a"] - m["q1_a"]) + (m["q3_b"] - m["q1_b"])) / 2 / m["median_a"]

    def verdict(row: pd.Series) -> str:
        if abs(row["change"]) <= row["noise_band"]:
            return "within noise"
        better = row["change"] > 0 if higher_better else row["change"] < 0
        return "faster" if better else "slower"

    m["verdict"] = [verdict(r) for _, r in m.iterrows()]
    return m


# ------------------------------------------------------------------ rendering


def _pct(x: Any, sign: bool = False) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x * 100:+.1f}%" if sign else f"{x * 100:.0f}%"


def _nonce(n: Any) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    n = int(n)
    return f"2^{n.bit_length() - 1}" if n & (n - 1) == 0 else f"{n:.3g}"


def _bytes(n: Any) -> str:
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "-"
    n = float(n)
    for unit, div in (("EiB", 2**60), ("PiB", 2**50), ("TiB", 2**40), ("GiB", 2**30)):
        if n >= div:
            return f"{n / div:.0f} {unit}"
    return f"{n:.0f} B"


def format_cipher_table(run: Run, t: pd.DataFrame) -> str:
    """The ranked cipher table as fixed-width text."""
    if t.empty:
        return "(no cells)"
    if run.kind == "throughput":
        show = pd.DataFrame({"rank": t["rank"].map(lambda r: "base" if r == 0 else str(r))})
        for c in ("sector_size", "engine"):
            if c in t and (t[c].nunique() > 1 or c == "sector_size"):
                show[c] = t[c]
        show["cipher"] = [label(c, k) for c, k in zip(t["cipher"], t["key_bits"], strict=True)]
        for op, short in (("encrypt", "enc"), ("decrypt", "dec")):
            if f"{op}_mib_s" in t:
                show[f"{short} MiB/s"] = t[f"{op}_mib_s"].map("{:.1f}".format)
                show[f"{short} IQR"] = t[f"{op}_iqr_pct"].map("{:.1f}%".format)
            if f"{op}_of_ceiling" in t:
                show[f"{short}/ceil"] = t[f"{op}_of_ceiling"].map(_pct)
        if "encrypt_vs_null" in t:
            show["enc vs null"] = t["encrypt_vs_null"].map(lambda x: _pct(x, True))
        if "capacity_overhead" in t:
            show["capacity"] = t["capacity_overhead"].map(lambda x: f"{x * 100:.2f}%")
            show["tamper"] = t["tamper_detection"].map({True: "yes", False: "no"})
            show["nonce limit"] = [
                "-" if n is None or n != n else f"{_nonce(n)} writes ({_bytes(b)})"
                for n, b in zip(t["nonce_limit_writes"], t["nonce_limit_bytes"], strict=True)]
        return show.to_string(index=False)
    if run.kind == "volume":
        show = t.copy()
        show["cipher"] = [label(c, k) for c, k in zip(t["cipher"], t["key_bits"], strict=True)]
        show = show.drop(columns=["key_bits"])
        for c in ("bs", "size"):
            if c in show:
                show[c] = show[c].map(lambda v: format_size(int(v)))
        for c in ("mib_s", "iops", "clat_p50_us", "clat_p99_us", "clat_p99_9_us"):
            if c in show:
                show[c] = show[c].map("{:.1f}".format)
        show["rel_iqr"] = show["rel_iqr"].map(lambda x: _pct(x))
        for c in ("ratio_to_ceiling",):
            if c in show:
                show[c] = show[c].map(_pct)
        if "overhead_vs_null" in show:
            show["overhead_vs_null"] = show["overhead_vs_null"].map(lambda x: _pct(x, True))
        show["rank"] = show["rank"].map(lambda r: "base" if r == 0 else str(r))
        return show.to_string(index=False)
    if run.kind == "capacity":
        show = t.copy()
        show["cipher"] = [label(c, k) for c, k in zip(t["cipher"], t["key_bits"], strict=True)]
        show["usable GiB"] = (t["data_bytes"] / 2**30).map("{:.2f}".format)
        show["overhead"] = t["capacity_overhead"].map(lambda x: f"{x * 100:.2f}%")
        drop = [c for c in ("key_bits", "data_bytes", "capacity_overhead") if c in show]
        return show.drop(columns=drop).to_string(index=False)
    return t.to_string(index=False)


def format_diff(a: Run, b: Run, d: pd.DataFrame, limit: int = 40) -> str:
    """The change between two runs, with a verdict per cell and a tally."""
    head = f"change {a.path} -> {b.path}"
    warn = []
    ea, eb = a.meta.get("env", {}), b.meta.get("env", {})
    if ea.get("cpu", {}).get("model") != eb.get("cpu", {}).get("model"):
        warn.append("different CPUs: the change is the machine's as much as the code's")
    if ea.get("openssl") != eb.get("openssl"):
        warn.append("different OpenSSL builds")
    if a.meta.get("spec_hash") != b.meta.get("spec_hash"):
        warn.append("different specs: only the cells both measured are compared")
    if d.empty:
        return "\n".join([head, *[f"note: {w}" for w in warn], "(no cells in common)"])
    keys = [k for k in param_columns(a.rows, a.meta) if k in d and d[k].nunique() > 1]
    show = pd.DataFrame({k: d[k] for k in keys})
    rate = a.meta.get("rate_column") or "mib_s"
    unit = "MiB/s" if rate == "mib_s" else rate
    show[f"A {unit}"] = d["median_a"].map("{:.1f}".format)
    show[f"B {unit}"] = d["median_b"].map("{:.1f}".format)
    show["change"] = d["change"].map(lambda x: _pct(x, True))
    show["noise ±"] = d["noise_band"].map(lambda x: f"{x * 100:.1f}%")
    show["verdict"] = d["verdict"]
    tally = d["verdict"].value_counts().to_dict()
    text = show.head(limit).to_string(index=False)
    if len(show) > limit:
        text += f"\n... {len(show) - limit} more cells"
    summary = ", ".join(f"{tally.get(k, 0)} {k}" for k in ("faster", "slower", "within noise"))
    return "\n".join([head, *[f"note: {w}" for w in warn], text, summary])


def ceiling_notes(run: Run, factor: float = 1.15) -> list[str]:
    """Where openssl speed measured well below the native EVP loop on the same library.

    Rows above 100 % of such a ceiling are above openssl speed's figure, not above what the
    library can do; one note per cipher configuration says so, with the widest gap.
    """
    worst: dict[str, tuple[float, float, float, dict[str, Any]]] = {}
    replaced: dict[str, tuple[float, float, float, dict[str, Any]]] = {}
    for c in run.meta.get("ceilings", []):
        if c.get("source") == "openssl speed":  # runs made before the loop took over
            loop, bps, into = c.get("native_loop_bytes_per_s"), c.get("bytes_per_s"), worst
        elif c.get("source") == "native loop" and c.get("openssl_bytes_per_s"):
            loop, bps, into = c.get("bytes_per_s"), c.get("openssl_bytes_per_s"), replaced
        else:
            continue
        if not loop or not bps or loop != loop or bps != bps:
            continue
        gap = loop / bps
        name = label(c["cipher"], c["key_bits"])
        if gap > factor and gap > into.get(name, (0.0,))[0]:
            into[name] = (gap, bps, loop, c)
    notes = [
        f"note: {name}: openssl speed measured below the native EVP loop on the same library "
        f"(up to {gap:.1f}x: {c['unit']} B {c['op']}, {bps / 2**20:.0f} vs "
        f"{loop / 2**20:.0f} MiB/s); above 100% of its ceiling means "
        "faster than openssl speed's figure, not faster than OpenSSL"
        for name, (gap, bps, loop, c) in worst.items()]
    notes += [
        f"note: {name}: ceiling is the native EVP loop, not openssl speed, which measured up "
        f"to {gap:.1f}x lower ({c['unit']} B {c['op']}: {bps / 2**20:.0f} vs "
        f"{loop / 2**20:.0f} MiB/s): its per-message set-up dominates at this size"
        for name, (gap, bps, loop, c) in replaced.items()]
    return notes


def describe(run: Run) -> str:
    """One line naming a run: experiment, time, status, machine and OpenSSL."""
    e = run.meta.get("env", {})
    ossl = e.get("openssl", {}).get("engines", {}).get("native", "")
    return (f"== {run.name} @ {run.path.name} ({run.status}; {run.kind}; "
            f"{e.get('cpu', {}).get('model', '?')}; native: {ossl})")


def compare(paths: Sequence[str | Path], where: dict[str, Any] | None = None) -> str:
    """The text ``fargate-sim compare`` prints for one or more run directories."""
    runs = [load_run(p) for p in paths]
    if runs and all(r.kind == "fleet" for r in runs):
        from simulator.bench.runners.fleet import compare_fleet

        return compare_fleet(runs)
    parts = []
    for run in runs:
        parts += [describe(run), format_cipher_table(run, cipher_table(run, where)),
                  *ceiling_notes(run), ""]
    base = runs[0]
    for other in runs[1:]:
        if other.kind != base.kind:
            parts.append(f"(not diffing {other.path}: kind {other.kind} != {base.kind})")
            continue
        parts += [format_diff(base, other, diff_runs(base, other)), ""]
    return "\n".join(parts).rstrip() + "\n"
