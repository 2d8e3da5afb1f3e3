"""PNG plots of a run (matplotlib, Agg backend): the figures a reader looks at first.

Throughput runs: MiB/s against sector size and against batch size per cipher, encrypt vs
decrypt with the ceiling marked, scaling with threads, and the capacity each cipher gives up.
Volume runs: bandwidth and completion latency per job.  Capacity runs: overhead and usable
space against the volume size.  Error bars are the IQR of the repetitions.
"""

from __future__ import annotations

import io
import numbers
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display here, and none wanted
import matplotlib.pyplot as plt
import pandas as pd

from simulator.bench.store import Run, load_run

DPI = 80
SIZE = (7.0, 3.6)
SHORT = {"aes-xts-plain64": "aes-xts", "aes-gcm-random": "aes-gcm",
         "chacha20-poly1305-random": "chacha20-poly1305", "null": "null"}


def label(cipher: str, key_bits: Any) -> str:
    """``aes-xts 512b``: cipher configuration as cryptsetup benchmark names it."""
    short = SHORT.get(cipher, cipher)
    return short if cipher == "null" else f"{short} {int(key_bits)}b"


def plot_run(run: Run | str | Path, out_dir: str | Path | None = None) -> list[Path]:
    """Write the run's PNG plots (into ``run/plots`` by default) and return their paths."""
    run = run if isinstance(run, Run) else load_run(run)
    out = Path(out_dir) if out_dir else run.path / "plots"
    out.mkdir(parents=True, exist_ok=True)
    s = run.summary
    if s.empty:
        return []
    if run.kind == "fleet":
        from simulator.bench.runners.fleet import plot_fleet

        return plot_fleet(run, out)
    makers = {"throughput": (_vs_sector, _vs_batch, _enc_dec, _threads, _engines,
                             _capacity_static),
              "volume": (_volume_bw, _volume_clat),
              "capacity": (_capacity,),
              "scenario": (_scenario,)}.get(run.kind, ())
    paths = []
    for make in makers:
        result = make(s, run)
        if result is None:
            continue
        name, fig = result
        path = out / f"{name}.png"
        _save_small(fig, path)
        plt.close(fig)
        paths.append(path)
    return paths


# ------------------------------------------------------------------ helpers


def _save_small(fig: Any, path: Path) -> None:
    """Save a PNG with a 128-colour palette: a third of the bytes, same look, for git."""
    buf = io.BytesIO()
    fig.savefig(buf, dpi=DPI, bbox_inches="tight")
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - Pillow comes with matplotlib
        path.write_bytes(buf.getvalue())
        return
    buf.seek(0)
    with Image.open(buf) as im:
        im.convert("RGB").quantize(colors=128).save(path, optimize=True)


def _configs(s: pd.DataFrame) -> list[tuple[str, int]]:
    seen: list[tuple[str, int]] = []
    for c, k in zip(s["cipher"], s["key_bits"], strict=True):
        if (c, int(k)) not in seen:
            seen.append((c, int(k)))
    return seen


def _pin(s: pd.DataFrame, free: tuple[str, ...]) -> tuple[pd.DataFrame, str]:
    """Hold the axes not plotted at one value (threads lowest, batch and sector largest)."""
    pinned = []
    for col, pick in (("threads", min), ("batch", max), ("sector_size", max), ("engine", None)):
        if col in free or col not in s or s[col].nunique() <= 1:
            continue
        value = pick(s[col]) if pick else s[col].iloc[0]
        s = s[s[col] == value]
        pinned.append(f"{col}={_fmt(col, value)}")
    return s, ", ".join(pinned)


def _fmt(col: str, v: Any) -> str:
    if col in ("batch", "bs", "size", "sector_size") and isinstance(v, numbers.Real):
        from simulator.bench.sizes import format_size

        return format_size(int(v))
    return str(v)


def _errbars(g: pd.DataFrame) -> list[Any]:
    return [(g["median"] - g["q1"]).clip(lower=0), (g["q3"] - g["median"]).clip(lower=0)]


def _lines(s: pd.DataFrame, x: str, title: str, xlabel: str, logx: bool = True) -> Any:
    if x not in s or s[x].nunique() < 2:
        return None
    s, pinned = _pin(s, (x,))
    ops = [o for o in ("encrypt", "decrypt") if o in set(s["op"])]
    fig, axes = plt.subplots(1, len(ops), figsize=SIZE, sharey=True, squeeze=False)
    for ax, op in zip(axes[0], ops, strict=True):
        for cipher, bits in _configs(s):
            g = s[(s["cipher"] == cipher) & (s["key_bits"] == bits) & (s["op"] == op)]
            g = g.sort_values(x)
            style = {"color": "0.5", "linestyle": "--"} if cipher == "null" else {}
            ax.errorbar(g[x], g["median"], yerr=_errbars(g), marker="o", ms=3, capsize=2,
                        label=label(cipher, bits) + (" (copy)" if cipher == "null" else ""),
                        **style)
        ax.set_yscale("log")
        if logx:
            ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(s[x].unique()), [_fmt(x, v) for v in sorted(s[x].unique())])
        ax.set_title(op, fontsize=9)
        ax.set_xlabel(xlabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("MiB/s (median, IQR bars, log)", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"{title}" + (f"  ({pinned})" if pinned else ""), fontsize=9)
    return fig


# ------------------------------------------------------------------ throughput


def _vs_sector(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig = _lines(s, "sector_size", "Throughput vs sector size", "sector size (bytes)")
    return None if fig is None else ("throughput_vs_sector", fig)


def _vs_batch(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig = _lines(s, "batch", "Throughput vs batch size", "bytes per engine call")
    return None if fig is None else ("throughput_vs_batch", fig)


def _enc_dec(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    s, pinned = _pin(s, ())
    configs = _configs(s)
    fig, ax = plt.subplots(figsize=SIZE)
    width = 0.38
    for i, op in enumerate(o for o in ("encrypt", "decrypt") if o in set(s["op"])):
        xs, ys, errs, ceil = [], [], [[], []], []
        for j, (cipher, bits) in enumerate(configs):
            g = s[(s["cipher"] == cipher) & (s["key_bits"] == bits) & (s["op"] == op)]
            if g.empty:
                continue
            xs.append(j + (i - 0.5) * width)
            ys.append(float(g["median"].iloc[0]))
            lo, hi = _errbars(g)
            errs[0].append(float(lo.iloc[0]))
            errs[1].append(float(hi.iloc[0]))
            ceil.append(float(g["ceiling_mib_s"].iloc[0]) if "ceiling_mib_s" in g else None)
        ax.bar(xs, ys, width, yerr=errs, capsize=2, label=op)
        cx = [x for x, c in zip(xs, ceil, strict=True) if c and c == c]
        cy = [c for c in ceil if c and c == c]
        ax.scatter(cx, cy, marker="_", s=200, color="black",
                   label="ceiling (openssl speed or native loop; memcpy for null)"
                   if i == 0 and cx else None)
    ax.set_xticks(range(len(configs)), [label(c, k) for c, k in configs], fontsize=7)
    ax.set_ylabel("MiB/s", fontsize=8)
    ax.set_yscale("log")
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    ax.set_title("Encrypt vs decrypt, with the ceiling" + (f"  ({pinned})" if pinned else ""),
                 fontsize=9)
    return "encrypt_vs_decrypt", fig


def _threads(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig = _lines(s, "threads", "Scaling with threads", "threads per engine call", logx=False)
    return None if fig is None else ("thread_scaling", fig)


def _engines(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    """Native OpenSSL loop against pyca/cryptography, per cipher, both directions."""
    if "engine_impl" not in s or s["engine_impl"].nunique() < 2:
        return None
    s, pinned = _pin(s, ("engine",))
    engines = list(dict.fromkeys(s["engine_impl"]))
    configs = _configs(s)
    ops = [o for o in ("encrypt", "decrypt") if o in set(s["op"])]
    fig, axes = plt.subplots(1, len(ops), figsize=SIZE, sharey=True, squeeze=False)
    width = 0.8 / len(engines)
    for ax, op in zip(axes[0], ops, strict=True):
        for i, eng in enumerate(engines):
            ys, errs = [], [[], []]
            for cipher, bits in configs:
                g = s[(s["cipher"] == cipher) & (s["key_bits"] == bits) & (s["op"] == op)
                      & (s["engine_impl"] == eng)]
                ys.append(float(g["median"].iloc[0]) if len(g) else float("nan"))
                lo, hi = _errbars(g) if len(g) else ([0.0], [0.0])
                errs[0].append(float(next(iter(lo))))
                errs[1].append(float(next(iter(hi))))
            ax.bar([j + i * width for j in range(len(configs))], ys, width, yerr=errs,
                   capsize=2, label=eng)
        ax.set_xticks([j + width * (len(engines) - 1) / 2 for j in range(len(configs))],
                      [label(c, k) for c, k in configs], rotation=30, ha="right", fontsize=7)
        ax.set_yscale("log")
        ax.set_title(op, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    axes[0][0].set_ylabel("MiB/s (log)", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Engines: native OpenSSL loop vs pyca/cryptography"
                 + (f"  ({pinned})" if pinned else ""), fontsize=9)
    return "engines", fig


def _capacity_static(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    """Metadata overhead per cipher and sector size (28 bytes a sector for AEAD)."""
    try:
        from simulator.crypt import CipherSpec
    except ImportError:
        return None
    sectors = sorted(set(int(x) for x in s["sector_size"]))
    configs = [(c, k) for c, k in _configs(s) if c != "null"]
    fig, ax = plt.subplots(figsize=(SIZE[0], SIZE[1] * 0.8))
    width = 0.8 / max(1, len(sectors))
    for i, ss in enumerate(sectors):
        ys = [CipherSpec(c, k, ss).capacity_overhead(20 * 2**30) * 100 for c, k in configs]
        ax.bar([j + i * width for j in range(len(configs))], ys, width, label=f"{ss} B sectors")
    ax.set_xticks([j + width * (len(sectors) - 1) / 2 for j in range(len(configs))],
                  [label(c, k) for c, k in configs], fontsize=7)
    ax.set_ylabel("% of a 20 GiB device", fontsize=8)
    ax.set_title("Capacity overhead (AEAD: 28 B per sector + journal)", fontsize=9)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="y")
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
    fig, ax = plt.subplots(figsize=(SIZE[0], SIZE[1] + 0.3 * len(jobs) / 4))
    width = 0.8 / max(1, len(configs))
    for i, (c, k) in enumerate(configs):
        g = s[(s["cipher"] == c) & (s["key_bits"] == k)].set_index("job").reindex(jobs)
        ax.barh([j + i * width for j in range(len(jobs))], g["median"], width,
                xerr=[(g["median"] - g["q1"]).clip(lower=0).fillna(0),
                      (g["q3"] - g["median"]).clip(lower=0).fillna(0)],
                capsize=2, label=label(c, k))
    ax.set_yticks([j + width * (len(configs) - 1) / 2 for j in range(len(jobs))], jobs,
                  fontsize=7)
    ax.set_xlabel("bandwidth, MiB/s (median, IQR bars)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Volume jobs: bandwidth", fontsize=9)
    return "volume_bandwidth", fig


def _volume_clat(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    if "clat_p99_us" not in s:
        return None
    s = s.assign(job=_jobs(s))
    jobs = list(dict.fromkeys(s["job"]))
    configs = _configs(s)
    fig, ax = plt.subplots(figsize=(SIZE[0], SIZE[1] + 0.3 * len(jobs) / 4))
    width = 0.8 / max(1, len(configs))
    for i, (c, k) in enumerate(configs):
        g = s[(s["cipher"] == c) & (s["key_bits"] == k)].set_index("job").reindex(jobs)
        ys = [j + i * width for j in range(len(jobs))]
        bars = ax.barh(ys, g["clat_p50_us"], width, label=label(c, k))
        ax.scatter(g["clat_p99_us"], ys, marker="|", s=60, color=bars.patches[0].get_facecolor()
                   if bars.patches else None)
    ax.set_yticks([j + width * (len(configs) - 1) / 2 for j in range(len(jobs))], jobs,
                  fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("completion latency, µs (bar p50, tick p99)", fontsize=8)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3, axis="x")
    ax.set_title("Volume jobs: completion latency", fontsize=9)
    return "volume_latency", fig


# ------------------------------------------------------------------ capacity, scenario


def _capacity(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig, axes = plt.subplots(1, 2, figsize=SIZE)
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
    axes[0].set_ylabel("overhead, % of device", fontsize=8)
    axes[1].set_ylabel("df avail (or usable), GiB", fontsize=8)
    for ax in axes:
        ax.set_xlabel("ephemeral storage, GiB", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=6)
    fig.suptitle("Capacity by size and cipher" + (f"  ({', '.join(held)})" if held else ""),
                 fontsize=9)
    return "capacity_overhead", fig


def _scenario(s: pd.DataFrame, run: Run) -> tuple[str, Any] | None:
    fig, ax = plt.subplots(figsize=SIZE)
    names = [Path(str(x)).stem for x in s["scenario"]]
    ax.barh(names, s["median"], xerr=_errbars(s), capsize=2)
    ax.set_xlabel("seconds per run (median, IQR bars)", fontsize=8)
    ax.set_title("Scenario run time", fontsize=9)
    return "scenario_time", fig
