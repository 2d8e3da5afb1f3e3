"""Capacity: what a task's ephemeral storage shows in df, and what each cipher costs in space.

No timing: each cell is computed once.  With ``simulator.fargate.storage`` the figures come
from its model of the task's device (configured size + Fargate's hidden reserve, the CMK
slice, the cipher's metadata and journal, the filesystem, what df shows); without it, from the
cipher spec over the configured size.  ``capacity_overhead`` is the cipher's share only
(metadata + journal over the device it spreads on); ``lost_bytes`` is everything below the
filesystem.
"""

from __future__ import annotations

import inspect
from typing import Any

import pandas as pd

from simulator.bench.datapath import DataPath
from simulator.bench.grid import Cell
from simulator.bench.runners.base import RunContext, RunError, Runner
from simulator.bench.sizes import parse_size
from simulator.bench.spec import (
    SECTORS,
    Axis,
    CipherAxis,
    ExperimentSpec,
    Grid,
    boolean,
    ranged,
    sector_size,
)

GIB = 2**30

GRID = Grid((
    Axis("size_gib", ranged(20, 200), (20,), "20 to 200 GiB (Fargate platform 1.4.0+)"),
    CipherAxis(baseline=False),
    Axis("sector_size", sector_size, (4096,), SECTORS),
    Axis("cmk", boolean, (False, True), "true, false"),
    Axis("image", parse_size, (0,), "image sizes, e.g. '500m'"),
    Axis("used", parse_size, (0,), "bytes written by the task, e.g. '1g'"),
))

#: df-model fields copied into the table when the storage model provides them.
DF_FIELDS = ("cmk_slice_bytes", "reserved_bytes", "df_size_bytes", "df_used_bytes",
             "df_avail_bytes", "fs_reserve_bytes", "image_bytes_on_disk", "full",
             "metrics_reserved_mib", "metrics_utilized_mib")


class CapacityRunner(Runner):
    """One row per (size, cipher, CMK, image, used): bytes usable, lost, and what df shows."""

    kind = "capacity"
    columns = ("rep", "device_bytes", "data_bytes", "metadata_bytes", "journal_bytes",
               "capacity_overhead", "lost_bytes", "detects_tampering", "nonce_limit",
               "nonce_limit_bytes", *DF_FIELDS, "df_text")
    rate_column = "capacity_overhead"
    rows_are_summaries = True
    cipher_table = "usable_space"
    grid = GRID

    def summary_table(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Per cell: the parameters that vary, usable GiB, the overhead, what df shows."""
        df = summary
        cols = [c for c in ("size_gib", "cipher", "key_bits", "sector_size", "cmk", "image",
                            "used") if c in df and (df[c].nunique() > 1 or c == "cipher")]
        show = df[cols].copy()
        show["usable GiB"] = (df["data_bytes"] / 2**30).map("{:.2f}".format)
        show["overhead"] = df["capacity_overhead"].map(lambda x: f"{x * 100:.2f}%")
        if "df_avail_bytes" in df:
            show["df avail GiB"] = (df["df_avail_bytes"] / 2**30).map("{:.1f}".format)
        return show

    def check(self, spec: ExperimentSpec, cells: list[Cell], datapath: DataPath | None) -> None:
        """Refuse without the cipher specs."""
        if datapath is None:
            raise RunError("kind 'capacity' needs simulator.crypt (CipherSpec)")

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Compute the cell's figures (deterministic, so one repetition)."""
        dp = ctx.datapath
        assert dp is not None
        p = cell.as_dict()
        spec = dp.cipher_spec(p["cipher"], p["key_bits"], p["sector_size"])
        if dp.storage is not None:
            row = _df_model(dp.storage, p, spec)
        else:  # the cipher layer alone, over the configured size
            device = p["size_gib"] * GIB
            row = {"device_bytes": device, "crypt_device_bytes": device,
                   "data_bytes": spec.data_bytes(device),
                   "metadata_bytes": spec.metadata_bytes(device),
                   "journal_bytes": spec.journal_bytes(device)}
        row.update(
            rep=0,
            capacity_overhead=spec.capacity_overhead(row.pop("crypt_device_bytes")),
            lost_bytes=row["device_bytes"] - row["data_bytes"],
            detects_tampering=bool(spec.detects_tampering),
            nonce_limit=spec.nonce_limit,
            nonce_limit_bytes=spec.nonce_limit_bytes,
        )
        return [row]


def _df_model(storage_cls: Any, p: dict[str, Any], spec: Any) -> dict[str, Any]:
    """The storage model's layers and what df shows, for this cell."""
    wanted = {"size_gib": p["size_gib"], "cmk": p["cmk"], "cipher": spec,
              "image_bytes": p["image"], "used_bytes": p["used"]}
    try:
        params = inspect.signature(storage_cls).parameters
        kwargs = {k: v for k, v in wanted.items() if k in params}
    except (TypeError, ValueError):
        kwargs = wanted
    st = storage_cls(**kwargs)
    d = st.to_dict()
    out: dict[str, Any] = {k: d[k] for k in DF_FIELDS if k in d}
    out.update(device_bytes=d["device_bytes"],
               crypt_device_bytes=getattr(st, "crypt_device_bytes", d["device_bytes"]),
               data_bytes=d.get("fs_device_bytes", d["device_bytes"]),
               metadata_bytes=d.get("aead_metadata_bytes", 0),
               journal_bytes=d.get("journal_bytes", 0),
               df_text="\n".join(st.df_lines()) if hasattr(st, "df_lines") else "")
    return out
