"""The results store: ``<root>/<experiment>/<UTC timestamp>/``, as durable as a database's files.

Layout of a run directory::

    meta.json        machine, versions, git, the spec and its hash, ceilings, contention, status
    spec.toml        the spec file as it was run
    cells.jsonl      one line per completed cell, with its rows: the source of truth
    results.csv      the tidy table, one row per cell and repetition (rebuilt from cells.jsonl)
    results.parquet  the same table (pyarrow installed)
    ceilings.jsonl   every ceiling sample, appended as it is measured
    summary.txt      the summary table printed at the end
    plots/*.png      the plots
    .lock            held (fcntl.flock) by the process running the run; names it

Durability: a cell is done when its line (rows included) is appended to cells.jsonl and
fsynced; every other file is written to a temporary name, flushed, fsynced and renamed over
the old one (then the directory is fsynced), so a crash or a full disk leaves either the old or
the new file, never a torn one.  A torn last line of cells.jsonl (power cut mid-append) is cut
off on resume; a results.csv or results.parquet that disagrees with cells.jsonl is rebuilt from
it.  One process at a time: :meth:`RunStore.lock` takes an exclusive lock and a second
``--resume`` is refused with the holder's pid, host and command.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import io
import json
import math
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

import pandas as pd

from simulator.bench import faults
from simulator.bench.spec import ExperimentSpec

META = "meta.json"
SPEC = "spec.toml"
CSV = "results.csv"
PARQUET = "results.parquet"
CELLS = "cells.jsonl"
CEILINGS = "ceilings.jsonl"
SUMMARY = "summary.txt"
PLOTS = "plots"
LOCK = ".lock"
#: Where ``fargate-sim run`` writes users' runs; the committed reference runs live apart, under
#: REFERENCE_ROOT, so a user's run never stands in for a reference (nor the reverse).
DEFAULT_ROOT = Path("results") / "local"
REFERENCE_ROOT = Path("results") / "reference"
#: Rewrite the tables at most this often during a run (cells.jsonl is the record meanwhile).
TABLE_EVERY_S = 2.0


class ResumeError(RuntimeError):
    """A run directory that cannot be resumed with this spec (missing, or the hash differs)."""


class RunLocked(ResumeError):
    """Another process holds the run directory's lock."""

    def __init__(self, path: Path, holder: dict[str, Any]) -> None:
        self.path, self.holder = path, holder
        cmd = holder.get("command")
        cmd = " ".join(cmd) if isinstance(cmd, list) else cmd
        super().__init__(
            f"{path} is in use by pid {holder.get('pid', '?')} on host "
            f"{holder.get('host', '?')} since {holder.get('since', '?')} "
            f"(command: {cmd or '?'}); only one process may write a run directory — wait for "
            "it to finish or stop it, then resume")


def utc_stamp(now: datetime | None = None) -> str:
    """``20261129T001530Z``: sortable, filesystem-safe, UTC."""
    return (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")


def is_disk_error(exc: BaseException) -> TypeGuard[OSError]:
    """A full, over-quota or read-only file system (the run can resume once it is fixed)."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                      errno.EACCES, errno.EPERM, errno.EIO)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def atomic_write(path: Path, data: bytes | str, point: str = "meta") -> None:
    """Write ``data`` to a temporary name beside ``path``, fsync, rename over ``path``."""
    raw = data.encode() if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        faults.reach(point, tmp)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_dir(path.parent)


def _holder(path: Path) -> dict[str, Any]:
    try:
        return json.loads((path / LOCK).read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def is_locked(path: str | Path) -> bool:
    """True when a live process holds the run directory's lock (reads only)."""
    p = Path(path) / LOCK
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
    return False


class RunStore:
    """One run directory: create or reopen it, append cells, keep the tables and meta current."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock_fd: int | None = None
        self._table_written = 0.0

    # ---------------------------------------------------------------- lock
    def lock(self, command: list[str] | None = None) -> None:
        """Take the directory's exclusive lock, or raise RunLocked naming its holder."""
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunLocked(self.path, _holder(self.path)) from None
        info = {"pid": os.getpid(), "host": socket.gethostname(),
                "since": datetime.now(UTC).isoformat(timespec="seconds"),
                "command": command if command is not None else sys.argv}
        with contextlib.suppress(OSError):  # informational; the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(info).encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        """Release the lock (also released by the kernel when the process dies)."""
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)
            self._lock_fd = None

    # ---------------------------------------------------------------- create / reopen
    @classmethod
    def create(cls, root: str | Path, spec: ExperimentSpec,
               command: list[str] | None = None) -> RunStore:
        """A new, empty, locked run directory under ``root/<experiment>/<UTC timestamp>``."""
        base = Path(root) / spec.name
        stamp = utc_stamp()
        path = base / stamp
        n = 1
        while True:
            try:
                path.mkdir(parents=True)
                break
            except FileExistsError:
                n += 1
                path = base / f"{stamp}-{n}"
        store = cls(path)
        store.lock(command)
        text = spec.path.read_text() if spec.path and spec.path.is_file() else None
        atomic_write(path / SPEC, text or _spec_as_toml(spec))
        return store

    @classmethod
    def reopen(cls, path: str | Path, spec: ExperimentSpec | None = None,
               command: list[str] | None = None) -> RunStore:
        """An existing run directory to resume, locked and repaired; refuses if ``spec``'s
        hash differs or another process holds it."""
        store = cls(path)
        if not (store.path / META).is_file():
            raise ResumeError(f"{path}: not a run directory (no {META})")
        meta = store.read_meta()
        if spec is not None and meta.get("spec_hash") != spec.hash:
            raise ResumeError(
                f"{path}: the spec changed since this run started (hash "
                f"{str(meta.get('spec_hash'))[:12]} in {META}, {spec.hash[:12]} now); "
                "resume with the spec it was started with, or start a new run")
        store.lock(command)
        store.repair()
        return store

    def repair(self) -> list[str]:
        """Cut a torn last line off cells.jsonl; rebuild damaged tables. Returns what it did."""
        done = []
        p = self.path / CELLS
        if p.is_file():
            raw = p.read_bytes()
            if raw and not raw.endswith(b"\n"):
                keep = raw.rfind(b"\n") + 1
                with open(p, "r+b") as fh:
                    fh.truncate(keep)
                    fh.flush()
                    os.fsync(fh.fileno())
                done.append(f"cut a torn record ({len(raw) - keep} bytes) off {CELLS}")
        why = table_problem(self.path)
        if why:
            self.write_tables()
            done.append(f"rebuilt the tables from {CELLS} ({why})")
        return done

    # ---------------------------------------------------------------- meta
    def read_meta(self) -> dict[str, Any]:
        """meta.json as a dict ({} when missing)."""
        p = self.path / META
        return json.loads(p.read_text()) if p.is_file() else {}

    def write_meta(self, meta: dict[str, Any]) -> None:
        """Replace meta.json atomically."""
        atomic_write(self.path / META, json.dumps(_plain(meta), indent=2, default=str) + "\n",
                     "meta")

    def update_meta(self, **fields: Any) -> dict[str, Any]:
        """Merge fields into meta.json and return the result."""
        meta = self.read_meta()
        meta.update(fields)
        self.write_meta(meta)
        return meta

    # ---------------------------------------------------------------- cells
    def completed(self) -> dict[str, dict[str, Any]]:
        """Completed cells by key, from cells.jsonl (first record wins; torn lines ignored)."""
        return {rec["cell"]: rec for rec in read_cells(self.path)}

    def append(self, cell_key: str, rows: Sequence[dict[str, Any]], columns: Sequence[str],
               **info: Any) -> None:
        """Record a finished cell (its rows included) in cells.jsonl, fsynced: then it is done.

        The tables are rewritten from cells.jsonl at most every TABLE_EVERY_S seconds and
        when the run stops.
        """
        data = [{c: _plain(row.get(c)) for c in columns} for row in rows]
        rec = {"cell": cell_key, "rows": len(rows), **_plain(info), "data": data}
        line = (json.dumps(rec, default=str, allow_nan=True) + "\n").encode()
        fd = os.open(self.path / CELLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if os.environ.get(faults.ENV):  # a fault may land between the two halves
                half = len(line) // 2
                os.write(fd, line[:half])
                os.fsync(fd)
                faults.reach("jsonl", self.path / CELLS)
                os.write(fd, line[half:])
            else:
                os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        faults.reach("cell", self.path / CELLS)
        if not (self.path / CSV).exists() or \
                _monotonic() - self._table_written >= TABLE_EVERY_S:
            self.write_tables()

    # ---------------------------------------------------------------- table
    def read_rows(self) -> pd.DataFrame:
        """The tidy table, from the first of parquet, CSV, cells.jsonl that agrees with it."""
        return read_table(self.path)

    def columns(self) -> list[str]:
        """The table's columns, in order (meta.json, else the first record's)."""
        cols = self.read_meta().get("columns")
        if cols:
            return list(cols)
        for rec in read_cells(self.path):
            if rec.get("data"):
                return list(rec["data"][0])
        return []

    def write_tables(self) -> None:
        """results.csv and results.parquet from cells.jsonl, each written atomically."""
        df = rows_from_cells(self.path, self.columns())
        if df is None:
            return  # a run from before cells.jsonl kept rows: its CSV is the record
        buf = io.StringIO()
        if not df.empty:
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(list(df.columns))
            for rec in df.itertuples(index=False, name=None):
                w.writerow([_csv_value(v) for v in rec])
        atomic_write(self.path / CSV, buf.getvalue(), "table")
        self._table_written = _monotonic()
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            return
        if df.empty:
            (self.path / PARQUET).unlink(missing_ok=True)
            return
        out = io.BytesIO()
        df.to_parquet(out, index=False, compression="zstd")
        atomic_write(self.path / PARQUET, out.getvalue(), "table")

    def write_parquet(self) -> Path | None:
        """Both tables from cells.jsonl (kept for callers of the old name)."""
        self.write_tables()
        p = self.path / PARQUET
        return p if p.is_file() else None

    def write_text(self, name: str, text: str) -> Path:
        """A text file in the run directory (summary.txt), written atomically."""
        p = self.path / name
        atomic_write(p, text, "meta")
        return p

    def append_ceiling(self, sample: dict[str, Any]) -> None:
        """One ceiling sample, appended and fsynced as soon as it is measured."""
        line = json.dumps(_plain(sample), default=str) + "\n"
        with open(self.path / CEILINGS, "a") as fh:
            fh.write(line)
            fh.flush()
            os.fsync(fh.fileno())

    def ceiling_samples(self) -> list[dict[str, Any]]:
        """Every ceiling sample measured so far (torn lines ignored)."""
        return list(_jsonl(self.path / CEILINGS))

    @property
    def plots_dir(self) -> Path:
        """Where the PNG plots go."""
        return self.path / PLOTS


def _monotonic() -> float:
    import time

    return time.monotonic()


def _jsonl(p: Path) -> list[dict[str, Any]]:
    if not p.is_file():
        return []
    out = []
    for line in p.read_text(errors="replace").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(rec, dict):
            out.append(rec)
    return out


def read_cells(path: str | Path) -> list[dict[str, Any]]:
    """cells.jsonl's records in order, each cell once (the first), torn lines skipped."""
    seen: set[str] = set()
    out = []
    for rec in _jsonl(Path(path) / CELLS):
        key = rec.get("cell")
        if isinstance(key, str) and key not in seen:
            seen.add(key)
            out.append(rec)
    return out


def rows_from_cells(path: str | Path, columns: Sequence[str] = ()) -> pd.DataFrame | None:
    """The tidy table rebuilt from cells.jsonl; None for a run whose records carry no rows."""
    recs = read_cells(path)
    if any("data" not in r for r in recs):
        return None
    rows = [row for r in recs for row in r["data"]]
    if not rows:
        return pd.DataFrame(columns=list(columns))
    df = pd.DataFrame(rows)
    if columns:
        df = df[[c for c in columns if c in df.columns] +
                [c for c in df.columns if c not in columns]]
    return _fix_dtypes(df)


def _expected_rows(path: Path) -> int | None:
    recs = read_cells(path)
    if any("data" not in r for r in recs):
        return None
    return sum(len(r["data"]) for r in recs)


def table_problem(path: str | Path) -> str | None:
    """Why results.csv or results.parquet disagrees with cells.jsonl, or None."""
    path = Path(path)
    want = _expected_rows(path)
    if want is None:
        return None
    problems = []
    if want and not (path / CSV).is_file():
        problems.append(f"{CSV} missing")
    for name, reader in ((CSV, _read_csv), (PARQUET, pd.read_parquet)):
        p = path / name
        if not p.is_file():
            continue
        try:
            n = len(reader(p))
        except ImportError:
            continue
        except Exception as exc:  # any damage: truncated, garbled
            problems.append(f"{name} unreadable: {type(exc).__name__}")
            continue
        if n != want:
            problems.append(f"{name} has {n} rows, {CELLS} {want}")
    return "; ".join(problems) or None


def _read_csv(p: Path) -> pd.DataFrame:
    if not p.stat().st_size:
        return pd.DataFrame()
    # "null" is a cipher name here, not a missing value
    return _fix_dtypes(pd.read_csv(p, keep_default_na=False, na_values=[""]))


def read_table(path: str | Path, prefer_parquet: bool = True) -> pd.DataFrame:
    """The tidy table of a run directory, with the cells that completed.

    Parquet, then CSV, whichever agrees with cells.jsonl; else rebuilt from cells.jsonl.
    """
    path = Path(path)
    want = _expected_rows(path)
    names = [PARQUET, CSV] if prefer_parquet else [CSV]
    for name in names:
        p = path / name
        if not p.is_file():
            continue
        try:
            df = pd.read_parquet(p) if name == PARQUET else _read_csv(p)
        except ImportError:
            continue
        except Exception:  # damaged: fall through to the next source
            continue
        if want is None or len(df) == want:
            return df
    if want is None:
        return pd.DataFrame()
    meta_p = path / META
    cols: list[str] = []
    with contextlib.suppress(OSError, json.JSONDecodeError):
        cols = json.loads(meta_p.read_text()).get("columns") or []
    df = rows_from_cells(path, cols)
    return pd.DataFrame() if df is None else df


def _fix_dtypes(df: pd.DataFrame) -> pd.DataFrame:
    for col in df.columns:
        if df[col].dtype == object:
            vals = set(df[col].dropna().unique())
            if vals and vals <= {"True", "False", True, False}:
                df[col] = df[col].map({"True": True, "False": False, True: True, False: False})
    return df


def _plain(v: Any) -> Any:
    """numpy scalars to Python, recursively (json and CSV want plain values)."""
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if hasattr(v, "item") and not isinstance(v, str | bytes):
        try:
            return v.item()
        except (TypeError, ValueError):
            return v
    return v


def _csv_value(v: Any) -> Any:
    """Floats to 6 significant digits (timings are not better than that), NaN as empty."""
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.6g}"
    return v


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
        """running, interrupted, failed or complete.

        "running" in meta.json with nobody holding the lock means the process died without
        a word (SIGKILL, power cut, a full disk that refused even meta.json): interrupted.
        """
        status = str(self.meta.get("status", "unknown"))
        if status == "running" and not is_locked(self.path):
            return "interrupted"
        return status

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
    if table_problem(p) and not is_locked(p) and os.access(p, os.W_OK):
        with contextlib.suppress(OSError, ResumeError):  # best effort: rows come from
            store.lock()                                 # cells.jsonl either way
            try:
                store.write_tables()
            finally:
                store.unlock()
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

