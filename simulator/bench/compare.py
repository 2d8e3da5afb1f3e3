"""Comparisons: cipher configurations side by side and ranked, and the change between runs.

``cipher_table`` ranks the cipher configurations of one run (throughput both ways, how close
to the ceiling, overhead over a plain copy, capacity given up, tamper detection, nonce limit).
``diff_runs`` lines up the cells two runs share and calls a change "within noise" when it is no
larger than the noise band, the mean of the two runs' IQRs relative to the first median (the
"noise ±" column): a difference smaller than the spread of the repetitions is not evidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.bench.plots import label
from simulator.bench.runners import presenter_for
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


def check_where(run: Run, where: dict[str, Any] | None) -> None:
    """Refuse a filter on a parameter the run lacks, or a value it never took, listing what
    exists (a typo must not silently filter everything out, nor nothing)."""
    s = run.summary
    params = [c for c in param_columns(run.rows, run.meta) if c in s] if not s.empty else []
    for k, v in (where or {}).items():
        if k not in params:
            raise ValueError(f"--where {k}={v}: {run.path} has no parameter {k!r} "
                             f"(parameters: {', '.join(params) or 'none'})")
        values = sorted({str(x) for x in s[k].dropna().unique()})
        if str(v) not in values:
            raise ValueError(f"--where {k}={v}: no cell of {run.path} has {k}={v} "
                             f"({k} takes: {', '.join(values)})")


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
    table = _table_of(run)
    return s if table is None else table.rank(s)


def _pin_lowest_threads_largest_batch(s: pd.DataFrame) -> pd.DataFrame:
    if "threads" in s and s["threads"].nunique() > 1:
        s = s[s["threads"] == s["threads"].min()]
    if "batch" in s and s["batch"].nunique() > 1:
        s = s[s["batch"] == s["batch"].max()]
    return s


def assign_ranks(t: pd.DataFrame, speed: str, noise: str, contended: str,
                 group: list[str], higher_better: bool = True) -> pd.DataFrame:
    """Rank rows per group, best first, refusing to order what the data cannot tell apart.

    A row whose threads were CONTENDED is not ranked ("-"): its figure measured the
    neighbours.  Among the rest, a row within noise of the first row of the current tier (the
    difference no larger than the wider of their spreads) ties with it ("=N").  ``tie_with``
    says which configuration a tie is with.
    """
    t = t.copy()
    t["_null"] = t["cipher"] == "null"
    t = t.sort_values([*group, "_null", speed],
                      ascending=[True] * len(group) + [True, not higher_better])
    ranks, ties = [], []
    groups = t.groupby(group, sort=False) if group else [((), t)]
    for _key, g in groups:
        pos, tier_rank, tier = 0, 0, None
        for _, row in g.iterrows():
            if row["_null"]:
                ranks.append("base")
                ties.append("")
                continue
            if bool(row.get(contended, False)):
                ranks.append("-")
                ties.append("CONTENDED: not ranked")
                continue
            pos += 1
            if tier is not None:
                a, b = float(tier[speed]), float(row[speed])
                band = max(float(tier.get(noise, 0) or 0), float(row.get(noise, 0) or 0))
                diff = abs(a - b) / max(abs(a), abs(b), 1e-12)
                if diff <= band:
                    ranks.append(f"={tier_rank}")
                    ties.append(f"tie: within noise ({diff:.1%} <= {band:.1%}) of "
                                f"{config_label(tier)}")
                    continue
            tier, tier_rank = row, pos
            ranks.append(str(pos))
            ties.append("")
    t["rank"] = ranks
    t["tie_with"] = ties
    return t.drop(columns=["_null"]).reset_index(drop=True)


def human(cipher: str, key_bits: Any) -> str:
    """``AES-256-XTS``: a configuration as a person names it (XTS key bits are K1 ‖ K2)."""
    bits = int(key_bits)
    if cipher == "aes-xts-plain64":
        return f"AES-{bits // 2}-XTS"
    if cipher == "aes-gcm-random":
        return f"AES-{bits}-GCM"
    if cipher == "chacha20-poly1305-random":
        return "ChaCha20-Poly1305"
    return label(cipher, key_bits)


def config_label(row: Any, people: bool = False) -> str:
    """``aes-xts 512b via native-ipp`` (or ``AES-256-XTS via native-ipp`` for people)."""
    name = (human if people else label)(row["cipher"], row["key_bits"])
    engine = row.get("engine") if hasattr(row, "get") else None
    return f"{name} via {engine}" if engine and engine == engine else name


def _throughput_table(s: pd.DataFrame, noise_floor: float = 0.0) -> pd.DataFrame:
    s = _pin_lowest_threads_largest_batch(s)
    group = [c for c in ("sector_size", "threads", "batch") if c in s]
    per = [c for c in ("engine",) if c in s]
    rows = []
    for key, g in s.groupby([*group, *per, "cipher", "key_bits"], sort=False):
        rec = dict(zip([*group, *per, "cipher", "key_bits"], key, strict=True))
        spreads, contended = [noise_floor], False
        for op in ("encrypt", "decrypt"):
            o = g[g["op"] == op]
            if o.empty:
                continue
            rec[f"{op}_mib_s"] = float(o["median"].iloc[0])
            rec[f"{op}_gb_s"] = float(o["median"].iloc[0]) * 2**20 / 1e9
            rec[f"{op}_iqr_pct"] = float(o["rel_iqr"].iloc[0]) * 100
            spreads.append(float(o["rel_iqr"].iloc[0]))
            if "cycles_per_byte" in o:
                rec[f"{op}_cpb"] = float(o["cycles_per_byte"].iloc[0])
            if "ratio_to_ceiling" in o:
                rec[f"{op}_of_ceiling"] = float(o["ratio_to_ceiling"].iloc[0])
                rec[f"{op}_ceiling_source"] = o["ceiling_source"].iloc[0] \
                    if "ceiling_source" in o else ""
            if "overhead_vs_null" in o:
                rec[f"{op}_vs_null"] = float(o["overhead_vs_null"].iloc[0])
            if "contended" in o and bool(o["contended"].fillna(False).any()):
                contended = True
            if "cpu_share" in o:
                rec[f"{op}_cpu_share"] = float(o["cpu_share"].iloc[0])
        rec["noise"] = max(x for x in spreads if x == x)
        rec["contended"] = contended
        rec.update(cipher_properties(rec["cipher"], rec["key_bits"], rec["sector_size"]))
        rows.append(rec)
    t = pd.DataFrame(rows)
    t["speed_mib_s"] = t[[c for c in ("encrypt_mib_s", "decrypt_mib_s") if c in t]].mean(axis=1)
    return assign_ranks(t, "speed_mib_s", "noise", "contended", group)


def _volume_table(s: pd.DataFrame) -> pd.DataFrame:
    group = [c for c in ("rw", "rwmixread", "bs", "iodepth", "size", "engine", "sector_size",
                         "op") if c in s]
    cols = [*group, "cipher", "key_bits", "median", "rel_iqr", "iops", "clat_p50_us",
            "clat_p99_us", "clat_p99_9_us", "ratio_to_ceiling", "overhead_vs_null"]
    t = s[[c for c in [*cols, "contended"] if c in s]].rename(columns={"median": "mib_s"})
    t = t.copy()
    if "contended" not in t:
        t["contended"] = False
    return assign_ranks(t, "mib_s", "rel_iqr", "contended", group)


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
    cols = ["median", "q1", "q3", "rel_iqr", "noisy", "contended"]
    sa, sb = sa.copy(), sb.copy()
    for x in (sa, sb):
        if "contended" not in x:
            x["contended"] = False
    m = sa[keys + cols].merge(sb[keys + cols], on=keys, suffixes=("_a", "_b"))
    if m.empty:
        return m
    higher_better = (a.meta.get("rate_column") or "mib_s") != "seconds"
    m["change"] = m["median_b"] / m["median_a"] - 1
    m["noise_band"] = ((m["q3_a"] - m["q1_a"]) + (m["q3_b"] - m["q1_b"])) / 2 / m["median_a"]

    def verdict(row: pd.Series) -> str:
        if bool(row["contended_a"]) or bool(row["contended_b"]):
            return "tie (contended)"
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
    table = _table_of(run)
    return t.to_string(index=False) if table is None else table.text(t)


def _format_rates_by_op(t: pd.DataFrame) -> str:
    """Throughput: rank, sector size, cipher, GB/s and c/B per op, share of the ceiling."""
    show = pd.DataFrame({"rank": t["rank"]})
    for c in ("sector_size", "threads", "engine"):
        if c in t and (t[c].nunique() > 1 or c == "sector_size"):
            show[c] = t[c].map(lambda v, c=c: format_size(int(v)) if c == "sector_size"
                               else v)
    show["cipher"] = [label(c, k) for c, k in zip(t["cipher"], t["key_bits"], strict=True)]
    for op, short in (("encrypt", "enc"), ("decrypt", "dec")):
        if f"{op}_gb_s" in t:
            show[f"{short} GB/s"] = [f"{g:.2f} ±{i:.0f}%" for g, i in
                                     zip(t[f"{op}_gb_s"], t[f"{op}_iqr_pct"], strict=True)]
        if f"{op}_cpb" in t and t[f"{op}_cpb"].notna().any():
            show[f"{short} c/B"] = t[f"{op}_cpb"].map("{:.2f}".format)
        if f"{op}_of_ceiling" in t:
            show[f"{short}/ceil"] = t[f"{op}_of_ceiling"].map(_pct)
    if "capacity_overhead" in t:
        show["capacity"] = t["capacity_overhead"].map(lambda x: f"{x * 100:.2f}%")
        show["meta B"] = t["metadata_B"].map(lambda x: "-" if x != x else f"{int(x)}")
        show["tamper"] = t["tamper_detection"].map({True: "yes", False: "no"})
        show["nonce limit"] = [
            "-" if n is None or n != n else f"{_nonce(n)} writes ({_bytes(b)})"
            for n, b in zip(t["nonce_limit_writes"], t["nonce_limit_bytes"], strict=True)]
    show["note"] = t["tie_with"]
    legend = ("columns: rank (=N ties with N: within noise; - CONTENDED, not ranked); "
              "GB/s median ±IQR of the repetitions; c/B reference cycles per byte; "
              "/ceil of the fastest implementation's own loop; meta B per-sector metadata")
    return legend + "\n" + show.to_string(index=False)


def _format_io_rates(t: pd.DataFrame) -> str:
    """Volume (fio): each cell's MiB/s, IOPS and latency percentiles, beside the ceiling."""
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
    return show.to_string(index=False)


def _format_usable_space(t: pd.DataFrame) -> str:
    """Capacity: usable GiB and overhead per cipher configuration."""
    show = t.copy()
    show["cipher"] = [label(c, k) for c, k in zip(t["cipher"], t["key_bits"], strict=True)]
    show["usable GiB"] = (t["data_bytes"] / 2**30).map("{:.2f}".format)
    show["overhead"] = t["capacity_overhead"].map(lambda x: f"{x * 100:.2f}%")
    drop = [c for c in ("key_bits", "data_bytes", "capacity_overhead") if c in show]
    return show.drop(columns=drop).to_string(index=False)


@dataclass(frozen=True)
class CipherTable:
    """How compare ranks and prints a run's cipher configurations; a runner names its own
    (``Runner.cipher_table``), a kind without one gets its summary as it is."""

    rank: Callable[[pd.DataFrame], pd.DataFrame]
    text: Callable[[pd.DataFrame], str]
    #: Whether :func:`answer` gives the one-line answer (the fastest configuration) for it.
    answers: bool = False


CIPHER_TABLES: dict[str, CipherTable] = {
    "rates_by_op": CipherTable(_throughput_table, _format_rates_by_op, answers=True),
    "io_rates": CipherTable(_volume_table, _format_io_rates),
    "usable_space": CipherTable(_capacity_table, _format_usable_space),
}


def _table_of(run: Run) -> CipherTable | None:
    """The cipher table the runner of the run's kind names, if any."""
    name = presenter_for(run.kind).cipher_table
    return None if name is None else CIPHER_TABLES[name]


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
    summary = ", ".join(f"{tally.get(k, 0)} {k}" for k in ("faster", "slower", "within noise",
                                                            "tie (contended)"))
    if tally.get("tie (contended)"):
        summary += ("; a contended cell (threads got < 0.9 of a CPU) is never called faster "
                    "or slower")
    summary += ("\nnoise ±: the spread of each run's repetitions, seconds apart; runs made "
                "apart differ by more on a busy machine (python -m simulator.bench.interleaved "
                "measures that spread)")
    return "\n".join([head, *[f"note: {w}" for w in warn], text, summary])


def ceiling_notes(run: Run) -> list[str]:
    """Which implementation set each ceiling, and how far the others were from it."""
    best: dict[str, dict[str, Any]] = {}
    for c in run.meta.get("ceilings", []):
        if c.get("cipher") == "null" or not c.get("by_source") or c.get("threads", 1) != 1:
            continue
        name = label(c["cipher"], c["key_bits"])
        if c.get("host"):  # a distributed run: each host measured its own
            name += f" on {c['host']}"
        if name not in best or c["unit"] > best[name]["unit"] or (
                c["unit"] == best[name]["unit"] and c["op"] == "encrypt"):
            best[name] = c
    notes = []
    for name, c in best.items():
        others = ", ".join(f"{src} {v / 1e9:.2f}" for src, v in
                           sorted(c["by_source"].items(), key=lambda kv: -kv[1]))
        spread = c.get("spread")
        notes.append(
            f"ceiling {name} ({format_size(int(c['unit']))} {c['op']}): {c['source']} "
            f"{c['bytes_per_s'] / 1e9:.2f} GB/s ({c.get('library', '')} "
            f"{c.get('version', '')}; median of {c.get('samples', '?')}"
            + (f", spread {spread:.0%}" if spread is not None and spread == spread else "")
            + f"); all sources, GB/s: {others}")
    return notes


def reliability_notes(run: Run) -> list[str]:
    """The run's plain statement about contention, if any."""
    rel = run.meta.get("reliability") or {}
    if rel.get("verdict"):
        return [str(rel["verdict"])]
    s = run.summary
    if not s.empty and "contended" in s and s["contended"].fillna(False).any():
        n = int(s["contended"].fillna(False).sum())
        return [f"UNRELIABLE: {n} of {len(s)} cells were CONTENDED (threads got < 0.9 of a "
                "CPU): their figures measure the competition for the CPU, not the cipher"]
    return []


def answer(run: Run, t: pd.DataFrame | None = None) -> str | None:
    """The one-line answer: the fastest configuration at the largest sector size, one thread,
    and what each other cipher costs beside it (per byte and per sector)."""
    table = _table_of(run)
    if table is None or not table.answers:
        return None
    t = cipher_table(run) if t is None else t
    if t.empty or "sector_size" not in t:
        return None
    ss = int(t["sector_size"].max())
    g = t[(t["sector_size"] == ss) & (t["cipher"] != "null")]
    ranked = g[~g["rank"].isin(["-", "base"])]
    head = f"at {format_size(ss)} sectors on this CPU"
    if ranked.empty:
        return (f"{head}: no answer — every configuration was CONTENDED (threads got < 0.9 "
                "of a CPU); rerun on a quiet machine")
    top = ranked.iloc[0]
    ties = ranked[ranked["rank"] == f"={top['rank']}"]
    gbs = float(top["speed_mib_s"]) * 2**20 / 1e9
    who = config_label(top, people=True)
    unranked = len(g) - len(ranked)
    if unranked:  # never let a contended configuration's absence read as a verdict
        head += (f", of the {len(ranked)} configurations not contended ({unranked} CONTENDED, "
                 "not ranked)")
    text = f"{head}, {who} is fastest: {gbs:.2f} GB/s"
    if not ties.empty:
        text = (f"{head}, {who} ({gbs:.2f} GB/s) ties with "
                + ", ".join(config_label(r, people=True) for _, r in ties.iterrows())
                + " (within noise): no single fastest")
    costs = []
    same = g[g["engine"] == top["engine"]] if "engine" in g and "engine" in top else g
    for cipher in dict.fromkeys(same["cipher"]):
        if cipher == top["cipher"]:
            continue
        o = same[same["cipher"] == cipher].sort_values("speed_mib_s", ascending=False)
        best = o.iloc[0]
        name = human(cipher, best["key_bits"])
        if best["rank"] == "-":
            costs.append(f"{name}: not compared (CONTENDED)")
            continue
        more = float(top["speed_mib_s"]) / float(best["speed_mib_s"]) - 1
        meta_b = best.get("metadata_B")
        band = max(float(best.get("noise", 0)), float(top.get("noise", 0)))
        cost = ("nothing measurable per byte (within noise)" if abs(more) <= band
                else f"{abs(more):.0%} {'more' if more > 0 else 'less'} per byte")
        if meta_b is not None and meta_b == meta_b and int(meta_b):
            cost += f" and {int(meta_b)} bytes per sector"
        costs.append(f"{name} costs {cost}")
    if costs:
        text += "; " + "; ".join(costs)
    if reliability_notes(run):
        text += " (UNRELIABLE: contended cells, see above)"
    return text


def describe(run: Run) -> str:
    """One line naming a run: experiment, time, status, machine and the engines."""
    e = run.meta.get("env", {})
    engines = e.get("openssl", {}).get("engines", {})
    shown = []
    for name, d in engines.items():
        if isinstance(d, dict) and name not in ("auto", "native"):
            shown.append(f"{name}: {d.get('library', '')} {d.get('version', '')}".strip())
    return (f"== {run.name} @ {run.path} ({run.status}; {run.kind}; "
            f"{e.get('cpu', {}).get('model', '?')}"
            + (f"; {'; '.join(shown)}" if shown else "") + ")")


def resolve_runs(paths: Sequence[str | Path]) -> tuple[list[Run], list[str]]:
    """Load each path; an experiment directory means its newest run, and says so."""
    from simulator.bench.store import META, list_runs

    runs, notes = [], []
    for p in paths:
        p = Path(p)
        if p.is_dir() and not (p / META).is_file():
            found = list_runs(p)
            if len(found) > 1:
                notes.append(f"note: {p} holds {len(found)} runs; using the newest, "
                             f"{found[-1].name} (name a run directory to choose)")
        runs.append(load_run(p))
    return runs, notes


def compare(paths: Sequence[str | Path], where: dict[str, Any] | None = None) -> str:
    """The text ``fargate-sim compare`` prints for one or more run directories."""
    runs, notes = resolve_runs(paths)
    own = _own_comparison(runs)
    if own is not None:
        return "".join(n + "\n" for n in notes) + own
    for run in runs:
        check_where(run, where)
    parts = list(notes)
    for run in runs:
        t = cipher_table(run, where)
        parts += [describe(run), *reliability_notes(run), format_cipher_table(run, t),
                  *ceiling_notes(run)]
        line = answer(run, t)
        if line:
            parts.append("answer: " + line)
        parts.append("")
    base = runs[0]
    for other in runs[1:]:
        if other.kind != base.kind:
            parts.append(f"(not diffing {other.path}: kind {other.kind} != {base.kind})")
            continue
        parts += [format_diff(base, other, diff_runs(base, other)), ""]
    return "\n".join(parts).rstrip() + "\n"


def _own_comparison(runs: list[Run]) -> str | None:
    """Runs of one kind whose runner compares its own runs (``compare_rows`` and
    ``compare_change``): each run's lines under its heading, then what changed from the first;
    None when the kind has no such hooks (the cipher table and the diff)."""
    if not runs or len({r.kind for r in runs}) != 1:
        return None
    runner = presenter_for(runs[0].kind)
    parts: list[str] = []
    for run in runs:
        lines = runner.compare_rows(run)
        if lines is None:
            return None
        parts += [describe(run), *lines, ""]
    for other in runs[1:]:
        parts += runner.compare_change(runs[0], other) or []
    return "\n".join(parts).rstrip() + "\n"


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(df.to_json(orient="records")) if not df.empty else []


def compare_json(paths: Sequence[str | Path], where: dict[str, Any] | None = None
                 ) -> dict[str, Any]:
    """What ``compare --json`` prints: per run the ranked table, ceilings, answer, diffs."""
    runs, notes = resolve_runs(paths)
    for run in runs:
        check_where(run, where)
    out: dict[str, Any] = {"notes": notes, "runs": [], "diffs": []}
    for run in runs:
        t = cipher_table(run, where)
        out["runs"].append({"path": str(run.path), "experiment": run.name,
                            "status": run.status, "kind": run.kind,
                            "reliability": reliability_notes(run), "table": _records(t),
                            "ceilings": run.meta.get("ceilings", []),
                            "answer": answer(run, t)})
    for other in runs[1:]:
        if other.kind == runs[0].kind:
            out["diffs"].append({"a": str(runs[0].path), "b": str(other.path),
                                 "cells": _records(diff_runs(runs[0], other))})
    return out
