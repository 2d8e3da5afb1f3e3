"""PNG plots of a run: the figures a reader looks at first.

Every figure is a :class:`matplotlib.figure.Figure` made here, never through pyplot: the
library does not touch matplotlib's global backend or state, so a notebook that imports it
keeps its inline charts (:func:`figures` hands the Figure objects to a notebook to show).

Throughput runs: GB/s and cycles per byte per cipher and engine, with the ceiling marked;
GB/s against sector size, batch size and threads; the capacity each cipher gives up.
Volume runs: bandwidth and completion latency per job.  Capacity runs: overhead and usable
space against the volume size.  Error bars are the IQR of the repetitions; bars are on linear
axes (a log bar's length means nothing).
"""

from __future__ import annotations

import contextlib
import io
import numbers
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from simulator.bench.runners import presenter_for
from simulator.bench.store import Run, atomic_write, load_run

DPI = 100
SIZE = (10.0, 5.0)  # 1000 x 500 px: a laptop screen's width, half its height
FONT, SMALL, TITLE = 11, 10, 13
SHORT = {"aes-xts-plain64": "aes-xts", "aes-gcm-random": "aes-gcm",
         "chacha20-poly1305-random": "chacha20-poly1305", "null": "null"}


def label(cipher: str, key_bits: Any) -> str:
    """``aes-xts 512b``: cipher configuration as cryptsetup benchmark names it."""
    short = SHORT.get(cipher, cipher)
    return short if cipher == "null" else f"{short} {int(key_bits)}b"


def _figure(size: tuple[float, float] = SIZE) -> Figure:
    return Figure(figsize=size, dpi=DPI, layout="constrained")


def figures(run: Run | str | Path) -> list[tuple[str, Figure]]:
    """The run's figures as (name, Figure), for a notebook to display inline."""
    run = run if isinstance(run, Run) else load_run(run)
    s = run.summary
    if s.empty:
        return []
    own = presenter_for(run.kind).figures(run)
    if own is not None:
        return own
    out = []
    for make in MAKERS.get(run.kind, ()):
        result = make(s, run)
        if result is not None:
            out.append(result)
    return out


def plot_run(run: Run | str | Path, out_dir: str | Path | None = None,
             progress: bool = False) -> list[Path]:
    """Write the run's PNG plots (into ``run/plots`` by default) and return their paths."""
    run = run if isinstance(run, Run) else load_run(run)
    out = Path(out_dir) if out_dir else run.path / "plots"
    out.mkdir(parents=True, exist_ok=True)
    figs = figures(run)
    bar: Any = None
    if progress and sys.stderr.isatty() and figs:
        with contextlib.suppress(ImportError):
            from tqdm import tqdm

            bar = tqdm(total=len(figs), desc="plots", unit="plot", leave=False,
                       file=sys.stderr)
    paths = []
    for name, fig in figs:
        path = out / f"{name}.png"
        _save_small(fig, path)
        paths.append(path)
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return paths


# ------------------------------------------------------------------ helpers


def _save_small(fig: Figure, path: Path) -> None:
    """Save a PNG with a 128-colour palette (a third of the bytes, same look), atomically."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    data = buf.getvalue()
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        atomic_write(path, data, "table")
        return
    buf.seek(0)
    small = io.BytesIO()
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=128).save(small, format="png", optimize=True)
    atomic_write(path, small.getvalue(), "table")


def _configs(s: pd.DataFrame) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    for c, k in zip(s["cipher"], s["key_bits"], strict=True):
        if (c, int(k)) not in seen:
            seen.append((c, int(k)))
    return seen


def _pin(s: pd.DataFrame, free: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """Hold the axes not plotted at one value (threads lowest, batch and sector largest)."""
    pinned = []
    for col, pick in (("threads", min), ("batch", max), ("sector_size", max)):
        if col in free or col not in s or s[col].nunique() <= 1:
            continue
        value = pick(s[col])
        s = s[s[col] == value]
        pinned.append(f"{_NAMES.get(col, col)} {_fmt(col, value)}")
    return s, ", ".join(pinned)


_NAMES = {"threads": "threads", "batch": "batch", "sector_size": "sector"}


def _fmt(col: str, v: Any) -> str:
    if col in ("batch", "bs", "size", "sector_size") and isinstance(v, numbers.Real):
        from simulator.bench.sizes import format_size

        return format_size(int(float(v)))  # numpy and pandas numbers too
    return str(v)


def _errbars(g: pd.DataFrame) -> list[Any]:
    return [(g["median"] - g["q1"]).clip(lower=0), (g["q3"] - g["median"]).clip(lower=0)]


def _gbs(g: pd.DataFrame) -> tuple[Any, list[Any]]:
    """Median GB/s and its IQR error bars."""
    k = 2**20 / 1e9
    return g["median"] * k, [x * k for x in _errbars(g)]


def _engines_of(s: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(s["engine"])) if "engine" in s else [""]


def _style(ax: Any) -> None:
    ax.tick_params(labelsize=SMALL)
    ax.grid(alpha=0.3, axis="y")


# ------------------------------------------------------------------ throughput


def _bars(s: pd.DataFrame, run: Run, value: str) -> tuple[str, Figure] | None:
    """Grouped bars: cipher on the axis, one bar per engine, a panel per direction."""
    s, pinned = _pin(s, ())
    configs = [c for c in _configs(s) if c[0] != "null"]  # the copy would dwarf the ciphers
    engines = _engines_of(s)
    ops = [o for o in ("encrypt", "decrypt") if o in set(s["op"])]
    if not configs or not ops:
        return None
    fig = _figure()
    axes = fig.subplots(1, len(ops), sharey=True, squeeze=False)[0]
    width = 0.8 / len(engines)
    for ax, op in zip(axes, ops, strict=True):
        for i, eng in enumerate(engines):
            xs, ys, lo, hi, ceil = [], [], [], [], []
            for j, (cipher, bits) in enumerate(configs):
                g = s[(s["cipher"] == cipher) & (s["key_bits"] == bits) & (s["op"] == op)]
                if eng:
                    g = g[g["engine"] == eng]
                if g.empty:
                    continue
                xs.append(j + (i - (len(engines) - 1) / 2) * width)
                if value == "cpb":
                    y = float(g["cycles_per_byte"].iloc[0])
                    ys.append(y)
                    lo.append(max(0.0, y - float(g["cpb_q1"].iloc[0])))
                    hi.append(max(0.0, float(g["cpb_q3"].iloc[0]) - y))
                else:
                    y, (e0, e1) = _gbs(g)
                    ys.append(float(y.iloc[0]))
                    lo.append(float(e0.iloc[0]))
                    hi.append(float(e1.iloc[0]))
                    c = g["ceiling_mib_s"].iloc[0] if "ceiling_mib_s" in g else None
                    if i == 0 and c is not None and c == c:
                        ceil.append((j, float(c) * 2**20 / 1e9))
            ax.bar(xs, ys, width * 0.95, yerr=[lo, hi], capsize=3, label=eng or None)
            if ceil:  # one line across the cipher's group: the fastest implementation
                ax.hlines([c for _, c in ceil], [j - 0.45 for j, _ in ceil],
                          [j + 0.45 for j, _ in ceil], colors="black", linestyles="--",
                          label="ceiling (fastest library loop)")
        ax.set_xticks(range(len(configs)), [label(c, k).replace(" ", "\n")
                                            for c, k in configs], fontsize=SMALL)
        ax.set_title(op, fontsize=FONT)
        _style(ax)
    what = ("reference cycles per byte (lower is better)" if value == "cpb"
            else "GB/s (10^9 B/s)")
    axes[0].set_ylabel(what, fontsize=FONT)
    _handles, labels = axes[-1].get_legend_handles_labels()
    if labels:
        axes[-1].legend(fontsize=SMALL, title="engine" if engines != [""] else None,
                        title_fontsize=SMALL)
    title = ("Cost per byte" if value == "cpb" else "Throughput") + " per cipher and engine"
    fig.suptitle(title + (f"  ({pinned})" if pinned else ""), fontsize=TITLE)
    return ("cycles_per_byte" if value == "cpb" else "throughput_by_engine"), fig


def _by_engine(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    return _bars(s, run, "gbs")


def _cpb(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    if "cycles_per_byte" not in s or not s["cycles_per_byte"].notna().any():
        return None
    return _bars(s, run, "cpb")


def _lines(s: pd.DataFrame, x: str, title: str, xlabel: str, logx: bool = True
           ) -> Figure | None:
    if x not in s or s[x].nunique() < 2:
        return None
    s, pinned = _pin(s, (x,))
    ops = [o for o in ("encrypt", "decrypt") if o in set(s["op"])]
    engines = _engines_of(s)
    dashes = ["-", "--", ":", "-."]
    rows = len(_configs(s)) if len(engines) > 1 else 1
    fig = _figure((SIZE[0], SIZE[1] + 0.25 * rows))
    axes = fig.subplots(1, len(ops), sharey=True, squeeze=False)[0]
    for ax, op in zip(axes, ops, strict=True):
        for ci, (cipher, bits) in enumerate(_configs(s)):
            for ei, eng in enumerate(engines):
                g = s[(s["cipher"] == cipher) & (s["key_bits"] == bits) & (s["op"] == op)]
                if eng:
                    g = g[g["engine"] == eng]
                if g.empty:
                    continue
                g = g.sort_values(x)
                y, err = _gbs(g)
                name = label(cipher, bits) + (f", {eng}" if len(engines) > 1 else "")
                ax.errorbar(g[x], y, yerr=err, marker="o", ms=4, capsize=3,
                            color="0.5" if cipher == "null" else f"C{ci}",
                            linestyle=dashes[ei % len(dashes)], label=name)
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(s[x].unique()), [_fmt(x, v) for v in sorted(s[x].unique())])
        ax.set_title(op, fontsize=FONT)
        ax.set_xlabel(xlabel, fontsize=FONT)
        ax.set_ylim(bottom=0)
        _style(ax)
    axes[0].set_ylabel("GB/s (median, IQR bars)", fontsize=FONT)
    handles, labels = axes[0].get_legend_handles_labels()
    # below the panels, one row per cipher and a column per engine: it hides no data
    fig.legend(handles, labels, loc="outside lower center", fontsize=SMALL - 1,
               ncols=max(1, len(engines)) if len(engines) > 1 else min(4, len(labels)))
    fig.suptitle(title + (f"  ({pinned})" if pinned else ""), fontsize=TITLE)
    return fig


def _vs_sector(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    fig = _lines(s, "sector_size", "Throughput vs sector size", "sector size")
    return None if fig is None else ("throughput_vs_sector", fig)


def _vs_batch(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    fig = _lines(s, "batch", "Throughput vs batch size", "bytes per engine call")
    return None if fig is None else ("throughput_vs_batch", fig)


def _threads(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    fig = _lines(s, "threads", "Scaling with threads", "threads per engine call", logx=False)
    return None if fig is None else ("thread_scaling", fig)


def _capacity_static(s: pd.DataFrame, run: Run) -> tuple[str, Figure] | None:
    """Metadata overhead per cipher and sector size (28 bytes a sector for AEAD)."""
    try:
        from simulator.crypt import CipherSpec
    except ImportError:
        return None
    sectors = sorted(set(int(x) for x in s["sector_size"]))
    configs = [(c, k) for c, k in _configs(s) if c != "null"]
    fig = _figure((SIZE[0], SIZE[1] * 0.8))
    ax = fig.subplots()
    width = 0.8 / max(1, len(sectors))
    for i, ss in enumerate(sectors):
        ys = [CipherSpec(c, k, ss).capacity_overhead(20 * 2**30) * 100 for c, k in configs]
        ax.bar([j + i * width for j in range(len(configs))], ys, width,
               label=f"{_fmt('sector_size', ss)} sectors")
    ax.set_xticks([j + width * (len(sectors) - 1) / 2 for j in range(len(configs))],
                  [label(c, k) for c, k in configs], fontsize=SMALL)
    ax.set_ylabel("% of a 20 GiB device", fontsize=FONT)
    ax.set_title("Capacity given up (AEAD: 28 B per sector + journal)", fontsize=TITLE)
    ax.legend(fontsize=SMALL)
    _style(ax)
    return "capacity_overhead", fig


# ------------------------------------------------------------------ volume


def _jobs(s: pd.DataFrame) -> pd.Series:
    from simulator.bench.sizes import format_size

    return (s["rw"] + " bs=" + s["bs"].map(lambda v: format_size(int(v))) + " qd="
            + s["iodepth"].astype(str) + " " + s["op"])


def _volume_bw(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    s = s.assign(job=_jobs(s))
    jobs = list(dict.fromkeys(s["job"]))
    configs = _configs(s)
    fig, ax = _subplots((SIZE[0], SIZE[1] + 0.3 * len(jobs) / 4))
    width = 0.8 / max(1, len(configs))
    for i, (c, k) in enumerate(configs):
        g = s[(s["cipher"] == c) & (s["key_bits"] == k)].set_index("job").reindex(jobs)
        ax.barh([j + i * width for j in range(len(jobs))], g["median"], width,
                xerr=[(g["median"] - g["q1"]).clip(lower=0).fillna(0),
                      (g["q3"] - g["median"]).clip(lower=0).fillna(0)],
                capsize=2, label=label(c, k))
    ax.set_yticks([j + width * (len(configs) - 1) / 2 for j in range(len(jobs))], jobs,
                  fontsize=SMALL)
    ax.set_xlabel("bandwidth, MiB/s (median, IQR bars)", fontsize=FONT)
    ax.legend(fontsize=SMALL)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Volume jobs: bandwidth", fontsize=TITLE)
    return "volume_bandwidth", fig


def _volume_clat(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    if "clat_p99_us" not in s:
        return None
    s = s.assign(job=_jobs(s))
    jobs = list(dict.fromkeys(s["job"]))
    configs = _configs(s)
    fig, ax = _subplots((SIZE[0], SIZE[1] + 0.3 * len(jobs) / 4))
    width = 0.8 / max(1, len(configs))
    for i, (c, k) in enumerate(configs):
        g = s[(s["cipher"] == c) & (s["key_bits"] == k)].set_index("job").reindex(jobs)
        ys = [j + i * width for j in range(len(jobs))]
        bars = ax.barh(ys, g["clat_p50_us"], width, label=label(c, k))
        ax.scatter(g["clat_p99_us"], ys, marker="|", s=60, color=bars.patches[0].get_facecolor()
                   if bars.patches else None)
    ax.set_yticks([j + width * (len(configs) - 1) / 2 for j in range(len(jobs))], jobs,
                  fontsize=SMALL)
    ax.set_xscale("log")
    ax.set_xlabel("completion latency, µs (bar p50, tick p99)", fontsize=FONT)
    ax.legend(fontsize=SMALL)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Volume jobs: completion latency", fontsize=TITLE)
    return "volume_latency", fig


# ------------------------------------------------------------------ capacity, scenario


def _capacity(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig = _figure()
    axes = fig.subplots(1, 2)
    pinned, held = s, []
    for col, pick in (("image", min), ("used", min), ("sector_size", max)):
        if col in pinned and pinned[col].nunique() > 1:
            value = pick(pinned[col])
            pinned = pinned[pinned[col] == value]
            held.append(f"{col}={_fmt(col, value)}")
    for (c, k), g in pinned.groupby(["cipher", "key_bits"], sort=False):
        for cmk, h in g.groupby("cmk") if "cmk" in g else [(None, g)]:
            h = h.sort_values("size_gib")
            tag = label(c, k) + ("" if cmk is None else (" CMK" if cmk else " AWS key"))
            style = "-" if cmk in (None, True) else "--"
            axes[0].plot(h["size_gib"], h["capacity_overhead"] * 100, style, marker="o", ms=3,
                         label=tag)
            y = (h["df_avail_bytes"] if "df_avail_bytes" in h and h["df_avail_bytes"].notna().all()
                 else h["data_bytes"]) / 2**30
            axes[1].plot(h["size_gib"], y, style, marker="o", ms=3, label=tag)
    axes[0].set_ylabel("overhead, % of device", fontsize=FONT)
    axes[1].set_ylabel("df avail (or usable), GiB", fontsize=FONT)
    for ax in axes:
        ax.set_xlabel("ephemeral storage, GiB", fontsize=FONT)
        ax.tick_params(labelsize=SMALL)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=SMALL - 1)
    fig.suptitle("Capacity by size and cipher" + (f"  ({', '.join(held)})" if held else ""),
                 fontsize=TITLE)
    return "capacity_overhead", fig


def _scenario(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig, ax = _subplots(SIZE)
    names = [Path(str(x)).stem for x in s["scenario"]]
    ax.barh(names, s["median"], xerr=_errbars(s), capsize=2)
    ax.set_xlabel("seconds per run (median, IQR bars)", fontsize=FONT)
    ax.set_title("Scenario run time", fontsize=TITLE)
    return "scenario_time", fig


def _subplots(size: tuple[float, float]) -> tuple[Figure, Any]:
    fig = _figure(size)
    return fig, fig.subplots()


MAKERS: dict[str, tuple[Callable[[pd.DataFrame, Run], tuple[str, Figure] | None], ...]] = {
    "throughput": (_by_engine, _cpb, _vs_sector, _vs_batch, _threads, _capacity_static),
    "volume": (_volume_bw, _volume_clat),
    "capacity": (_capacity,),
    "scenario": (_scenario,),
}
