"""What every kind's runner provides, and the context a run hands it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from simulator.bench.ceiling import Ceiling, SampleKey
from simulator.bench.datapath import DataPath
from simulator.bench.grid import Cell
from simulator.bench.spec import ExperimentSpec, GridValidator

if TYPE_CHECKING:
    import pandas as pd


class RunError(RuntimeError):
    """An experiment that cannot run here (missing engine or module): refused before any cell."""


@dataclass
class RunContext:
    """What a runner needs for one cell: the spec, the data path and the run's ceilings."""

    spec: ExperimentSpec
    datapath: DataPath | None
    ceilings: dict[SampleKey, Ceiling] = field(default_factory=dict)
    note: Callable[[str], None] = lambda _msg: None
    cache: dict[str, Any] = field(default_factory=dict)
    #: The run directory (kinds that keep files beside the table: fleet timelines).
    run_dir: Path | None = None
    #: A distributed run's ceilings by host (each host measures its own); empty otherwise.
    host_ceilings: dict[str, dict[SampleKey, Ceiling]] = field(default_factory=dict)


class Runner:
    """Base class: a kind's cells become rows of the tidy table, one per repetition."""

    kind: str = ""
    #: Measurement columns, after the grid's parameter columns, in table order.
    columns: tuple[str, ...] = ()
    #: Column whose median is compared against the null baseline and the ceiling.
    rate_column: str | None = None
    #: Column telling apart rows of one cell that measure different things (op, direction).
    split_column: str | None = None
    #: The kind's [grid] axes (a ``simulator.bench.spec.Grid``), what a spec is checked with.
    grid: GridValidator | None = None
    #: Whether the cells go through the data path (``simulator.crypt``): it is made for them.
    uses_datapath: bool = True
    #: Whether rows are rates set beside the null baseline and the ceiling (DERIVED columns).
    rated: bool = False
    #: Whether each row is already a cell's summary (no median over repetitions is taken).
    rows_are_summaries: bool = False
    #: Whether a cell splits into shards a distributed run sends to the workers one by one
    #: (``ctx.cache["shard_map"]``) rather than running the cell as one task.
    runs_shards: bool = False
    #: The name of compare's cipher table for this kind (``simulator.bench.compare``'s
    #: ``CIPHER_TABLES``), or None: compare prints the summary as it is.
    cipher_table: str | None = None

    # Presenting a loaded run: compare.py, plots.py and summary.py ask the registry for the
    # runner of a run's kind and call these; None means "the generic presentation".

    def summary_table(self, summary: pd.DataFrame) -> pd.DataFrame | None:
        """The table ``format_summary`` prints for this kind's summary, or None."""
        return None

    def compare_rows(self, run: Any) -> list[str] | None:
        """The lines ``compare`` prints under a run's heading, or None (the cipher table)."""
        return None

    def compare_change(self, base: Any, other: Any) -> list[str] | None:
        """The lines ``compare`` prints for what changed from ``base`` to ``other``, or None."""
        return None

    def figures(self, run: Any) -> list[tuple[str, Any]] | None:
        """The run's (name, Figure) pairs, or None (plots.py's figures for the kind)."""
        return None

    def check(self, spec: ExperimentSpec, cells: list[Cell], datapath: DataPath | None) -> None:
        """Raise RunError when this experiment cannot run here (nothing has run yet)."""

    def unsupported(self, cells: list[Cell], datapath: DataPath | None) -> dict[str, str]:
        """Cells (by key) that cannot run as combined here, each with why: a grid is a
        product, and not every backend runs every cipher (IPP has no ChaCha20-Poly1305)."""
        return {}

    def ceiling_keys(self, cells: list[Cell]) -> set[SampleKey]:
        """The (cipher, key_bits, unit, op, threads) ceilings this run needs."""
        return set()

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Measure one cell; return its rows (without the parameter columns)."""
        raise NotImplementedError


def check_engines(cells: list[Cell], datapath: DataPath | None) -> None:
    """Refuse engine names that mean nothing here, before anything runs.  A known engine that
    this machine lacks (no IPP Crypto, not x86-64) only skips its cells (engine_cannot_run):
    a grid over every backend still runs the others, the default experiment included."""
    if datapath is None:
        raise RunError("the data path (simulator.crypt) is not importable")
    for name in sorted({c["engine"] for c in cells}):
        if not datapath.knows_engine(name):
            raise RunError(f"engine {name!r} is not available here: "
                           f"{datapath.check_engine(name)} "
                           "(use engine = \"cryptography\" or \"auto\")")


def engine_cannot_run(cells: list[Cell], datapath: DataPath | None) -> dict[str, str]:
    """Cells whose engine is not available on this machine, or says (``supports``) it does
    not run their cipher, each with why."""
    out: dict[str, str] = {}
    if datapath is None:
        return out
    absent = {name: why for name in {c["engine"] for c in cells}
              if (why := datapath.check_engine(name))}
    for cell in cells:
        p = cell.as_dict()
        if p["engine"] in absent:
            out[cell.key] = absent[p["engine"]]  # the engine's own words: it names itself
            continue
        try:
            engine = datapath.get_engine(p["engine"])
            spec = datapath.cipher_spec(p["cipher"], p["key_bits"], p["sector_size"])
        except Exception:  # reported by the cell itself
            continue
        supports = getattr(engine, "supports", None)
        if callable(supports) and not supports(spec):
            out[cell.key] = f"engine {p['engine']} does not run {p['cipher']}"
    return out
