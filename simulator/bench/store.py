"""The results store: ``results/<experiment>/<UTC timestamp>/`` with a tidy table and meta.json.

Layout of a run directory::

    meta.json        machine, versions, git, the spec and its hash, ceilings, status
    spec.toml        the spec file as it was run
    results.csv      the tidy table, one row per cell and repetition, appended per cell
    results.parquet  the same table, written when the run stops (pyarrow installed)
    cells.jsonl      one line per completed cell: what --resume skips
    summary.txt      the summary table printed at the end
    plots/*.png      the plots

Rows are appended (and flushed to disk) after each cell, so an interrupted run keeps every
completed cell; ``--resume DIR`` reads cells.jsonl and continues.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from simulator.bench.spec import ExperimentSpec

META = "meta.json"
SPEC = "spec.toml"
CSV = "results.csv"
PARQUET = "results.parquet"
CELLS = "cells.jsonl"
SUMMARY = "summary.txt"
PLOTS = "plots"
DEFAULT_ROOT = Path("results")


class ResumeError(RuntimeError):
    """A run directory that cannot be resumed with this spec (missing, or the hash differs)."""


def utc_stamp(now: datetime | None = None) -> str:
    """``20261129T001530Z``: sortable, filesystem-safe, UTC."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


class RunStore:
    """One run directory: create or reopen it, append cells, keep meta.json current."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    # ---------------------------------------------------------------- create / reopen
    @classmethod
    def create(cls, root: str | Path, spec: ExperimentSpec) -> RunStore:
        """A new, empty run directory under ``root/<experiment>/<UTC timestamp>``."""
        base = Path(root) / spec.name
        stamp = utc_stamp()
        path = base / stamp
        n = 1
        while path.exists():
            n += 1
            path = base / f"{stamp}-{n}"
        path.mkdir(parents=True)
        store = cls(path)
        text = spec.path.read_text() if spec.path and spec.path.is_file() else None
        (path / SPEC).write_text(text or _spec_as_toml(spec))
        return store

    @classmethod
    def reopen(cls, path: str | Path, spec: ExperimentSpec | None = None) -> RunStore:
        """An existing run directory to resume; refuses if ``spec``'s hash differs."""
        store = cls(path)
        if not (store.path / META).is_file():
            raise ResumeError(f"{path}: not a run directory (no {META})")
        meta = store.read_meta()
        if spec is not None and meta.get("spec_hash") != spec.hash:
            raise ResumeError(
                f"{path}: the spec changed since this run started (hash "
                f"{str(meta.get('spec_hash'))[:12]} in {META}, {spec.hash[:12]} now); "
                "resume with the spec it was started with, or start a new run")
        store.drop_unrecorded_rows()
        return store

    def drop_unrecorded_rows(self) -> int:
        """Cut results.csv back to the rows of the cells in cells.jsonl.

        A cell's rows are appended before the cell is recorded; a run stopped in between
        leaves rows that --resume would measure again (duplicates).  Cells are appended in
        order, so the recorded cells' rows are the first ``sum(rows)`` records.  Returns how
        many records were dropped.
        """
        p = self.path / CSV
        if not p.is_file():
            return 0
        keep = sum(int(rec.get("rows", 0)) for rec in self.completed().values())
        with p.open(newline="") as fh:
            records = list(csv.reader(fh))
        if not records or len(records) - 1 <= keep:
            return 0
        dropped = len(records) - 1 - keep
        tmp = p.with_suffix(".csv.tmp")
        with tmp.open("w", newline="") as fh:
            csv.writer(fh).writerows(records[: keep + 1])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
        (self.path / PARQUET).unlink(missing_ok=True)  # stale: rebuilt when the run stops
        return dropped

    # ---------------------------------------------------------------- meta
    def read_meta(self) -> dict[str, Any]:
        """meta.json as a dict ({} when missing)."""
        p = self.path / META
        return json.loads(p.read_text()) if p.is_file() else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace meta.json atomically."""
        _atomic_write(self.path / META, json.dumps(meta, indent=2, default=str) + "\n")

    def update_meta(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into meta.json and return the result."""
        meta = self.read_meta()
        meta.update(fields)
        self.write_meta(meta)
        return meta

    # ---------------------------------------------------------------- cells
    def completed(self) -> dict[str, dict[str, Any]]:
        """Completed cells by key (grid.Cell.key), from cells.jsonl; a torn line is ignored."""
        p = self.path / CELLS
        out: dict[str, dict[str, Any]] = {}
        if not p.is_file():
            return out
        for line in p.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            out[rec["cell"]] = rec
        return out

    def append(self, cell_key: str, rows: Sequence[dict[str, Any]], columns: Sequence[str],
               **info: Any) -> None:
        """Append a finished cell's rows to results.csv, then record it in cells.jsonl."""
        p = self.path / CSV
        new = not p.is_file() or p.stat().st_size == 0
        if not new:
            with p.open(newline="") as fh:
                columns = next(csv.reader(fh))
        with p.open("a", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
            if new:
                w.writeheader()
            for row in rows:
                w.writerow({k: _csv_value(v) for k, v in row.items()})
            fh.flush()
            os.fsync(fh.fileno())
        rec = {"cell": cell_key, "rows": len(rows), **info}
        with (self.path / CELLS).open("a") as fh:
            fh.write(json.dumps(rec, default=str) + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    # ---------------------------------------------------------------- table
    def read_rows(self) -> pd.DataFrame:
        """The tidy table (Parquet when it is current, else CSV); empty when nothing ran."""
        return read_table(self.path)

    def write_parquet(self) -> Path | None:
        """results.parquet from results.csv; None when pyarrow is missing or nothing ran."""
        df = read_table(self.path, prefer_parquet=False)
        if df.empty:
            return None
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return None
        out = self.path / PARQUET
        df.to_parquet(out, index=False, compression="zstd")
        return out

    def write_text(self, name: str, text: str) -> Path:
        """A text file in the run directory (summary.txt)."""
        p = self.path / name
        p.write_text(text)
        return p

    @property
    def plots_dir(self) -> Path:
        """Where the PNG plots go."""
        return self.path / PLOTS


def read_table(path: str | Path, prefer_parquet: bool = True) -> pd.DataFrame:
    """The tidy table of a run directory, with the cells that completed."""
    path = Path(path)
    pq, cs = path / PARQUET, path / CSV
    if prefer_parquet and pq.is_file() and (not cs.is_file() or
                                            pq.stat().st_mtime >= cs.stat().st_mtime):
        try:
            return pd.read_parquet(pq)
        except ImportError:
            pass
    if cs.is_file() and cs.stat().st_size:
        # "null" is a cipher name here, not a missing value
        return _fix_dtypes(pd.read_csv(cs, keep_default_na=False, na_values=[""]))
    return pd.DataFrame()


def _fix_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if df[col].dtype == object:
            vals = set(df[col].dropna().unique())
            if vals and vals <= {"True", "False", True, False}:
                df[col] = df[col].map({"True": True, "False": False, True: True, False: False})
    return df


def _csv_value(v: Any) -> Any:
    """Floats to 6 significant digits (timings are not better than that), NaN as empty."""
    if isinstance(v, float):
        return "" if v != v else f"{v:.6g}"
    return v


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _spec_as_toml(spec: ExperimentSpec) -> str:
    """A readable TOML rendering of a spec given without a file (tests, notebooks)."""
    lines = [f"name = {json.dumps(spec.name)}", f"kind = {json.dumps(spec.kind)}"]
    if spec.description:
        lines.append(f"description = {json.dumps(spec.description)}")
    lines.append("\n[measure]")
    for k, v in spec.measure.to_dict().items():
        lines.append(f"{k} = {json.dumps(v)}")
    lines.append("\n[grid]")
    for k, v in spec.grid.items():
        if k == "cipher":
            items = ", ".join(f'{{ name = "{c["cipher"]}", key_bits = {c["key_bits"]} }}'
                              if c["cipher"] != "null" else '"null"' for c in v)
            lines.append(f"cipher = [{items}]")
        else:
            lines.append(f"{k} = {json.dumps(v).lower() if isinstance(v[0], bool) else v!r}"
                         .replace("'", '"'))
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ loading runs


@dataclass
class Run:
    """A loaded run: its directory, meta.json and tidy table (plus the per-cell summary)."""

    path: Path
    meta: dict[str, Any]
    rows: pd.DataFrame
    _summary: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        """The experiment's name."""
        return str(self.meta.get("experiment", self.path.parent.name))

    @property
    def kind(self) -> str:
        """The experiment's kind."""
        return str(self.meta.get("kind", ""))

    @property
    def status(self) -> str:
        """running, interrupted, failed or complete."""
        return str(self.meta.get("status", "unknown"))

    @property
    def summary(self) -> pd.DataFrame:
        """One row per cell (and op): median, IQR, min/max, ratios, noisy flag."""
        if self._summary is None:
            from simulator.bench.summary import summarize

            self._summary = summarize(self.rows, self.meta)
        return self._summary

    @property
    def ceilings(self) -> pd.DataFrame:
        """The ceilings measured in the run."""
        return pd.DataFrame(self.meta.get("ceilings", []))

    def plots(self) -> list[Path]:
        """The PNG plots saved with the run."""
        return sorted((self.path / PLOTS).glob("*.png"))

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, {self.name}, {self.status}, rows={len(self.rows)})"


def load_run(path: str | Path | None = None, root: str | Path = DEFAULT_ROOT) -> Run:
    """Load a run directory (default: the newest under ``root``)."""
    p = Path(path) if path else latest_run(root)
    if p is None:
        raise FileNotFoundError(f"no runs under {root}")
    if not (p / META).is_file():
        runs = list_runs(p)
        if not runs:
            raise FileNotFoundError(f"{p}: not a run directory (no {META})")
        p = runs[-1]
    store = RunStore(p)
    meta = store.read_meta()
    return Run(path=p, meta=meta, rows=_with_ids(store.read_rows(), meta, p))


def _with_ids(rows: pd.DataFrame, meta: dict[str, Any], path: Path) -> pd.DataFrame:
    """Prefix the columns the files leave out: experiment, run and the cell id."""
    if rows.empty or "cell" in rows.columns:
        return rows
    from simulator.bench.grid import cell_id

    params = [c for c in meta.get("params", []) if c in rows.columns]
    ids = [cell_id(list(zip(params, vals, strict=True)))
           for vals in rows[params].itertuples(index=False, name=None)]
    rows.insert(0, "cell", ids)
    rows.insert(0, "run", path.name)
    rows.insert(0, "experiment", meta.get("experiment", path.parent.name))
    return rows


def list_runs(root: str | Path = DEFAULT_ROOT, experiment: str | None = None) -> list[Path]:
    """Run directories under ``root`` (or ``root/experiment``), oldest first by start time."""
    root = Path(root)
    if not root.is_dir():
        return []
    base = root / experiment if experiment else root
    found = [m.parent for m in base.rglob(META)]
    return sorted(found, key=_started)


def latest_run(
    root: str | Path = DEFAULT_ROOT, experiment: str | None = None, kind: str | None = None
) -> Path | None:
    """The newest run directory under ``root`` (optionally of one experiment or one kind,
    e.g. ``"throughput"``), or None."""
    runs = list_runs(root, experiment)
    if kind is not None:
        runs = [r for r in runs if _kind(r) == kind]
    return runs[-1] if runs else None


def _kind(path: Path) -> str:
    try:
        return str(json.loads((path / META).read_text()).get("kind", ""))
    except (OSError, json.JSONDecodeError):
        return ""


def _started(path: Path) -> tuple[str, float]:
    try:
        started = json.loads((path / META).read_text()).get("started", "")
    except (OSError, json.JSONDecodeError):
        started = ""
    return (str(started), (path / META).stat().st_mtime)

