"""The parameter grid: a spec's axes expanded into cells, each with a stable id."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from simulator.bench.spec import ExperimentSpec

#: Axes a cell does not carry because another axis makes them meaningless.
_MIXED = ("rw", "randrw")


@dataclass(frozen=True)
class Cell:
    """One point of the grid: its parameters in axis order and an id that names it on disk."""

    params: tuple[tuple[str, Any], ...]

    @property
    def id(self) -> str:
        """``cipher=aes-xts-plain64,key_bits=512,...``: stable across runs, used by resume."""
        return cell_id(list(self.params))

    @property
    def key(self) -> str:
        """A short digest of the id, what cells.jsonl records (resume compares it)."""
        return cell_key(self.id)

    def as_dict(self) -> dict[str, Any]:
        """The parameters as a dict (column values of the tidy table)."""
        return dict(self.params)

    def __getitem__(self, key: str) -> Any:
        return dict(self.params)[key]


def cell_key(cell_id: str) -> str:
    """16 hex digits of SHA-256 of a cell id."""
    return hashlib.sha256(cell_id.encode()).hexdigest()[:16]


def cell_id(params: list[tuple[str, Any]]) -> str:
    """The id of a cell from its (axis, value) pairs, numpy scalars included."""
    return ",".join(f"{k}={_fmt(v.item() if hasattr(v, 'item') else v)}" for k, v in params)


def _fmt(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def expand(spec: ExperimentSpec) -> list[Cell]:
    """All cells of a spec in run order, without duplicates.

    The cipher axis varies fastest, null first: each cipher cell runs right after the null
    cell it is compared with, so slow drifts of the machine (other load, clocks) fall on both.
    """
    seen: set[str] = set()
    cells: list[Cell] = []
    for cell in _product(spec):
        if cell.id not in seen:
            seen.add(cell.id)
            cells.append(cell)
    return cells


def _product(spec: ExperimentSpec) -> Iterator[Cell]:
    grid = spec.grid
    axes = [k for k in grid if k != "cipher"]
    ciphers = grid.get("cipher", [None])
    for combo in itertools.product(*(grid[k] for k in axes)):
        for cipher in ciphers:
            params: list[tuple[str, Any]] = []
            if cipher is not None:
                params += [("cipher", cipher["cipher"]), ("key_bits", cipher["key_bits"])]
            params += list(zip(axes, combo, strict=True))
            yield Cell(tuple(_collapse(spec.kind, params)))


def _collapse(kind: str, params: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Pin axes that do not apply to this cell, so equivalent cells share one id."""
    d = dict(params)
    if kind == "volume" and d.get("rw") not in _MIXED:
        d["rwmixread"] = 0 if "write" in d["rw"] else 100
    return [(k, d[k]) for k, _ in params]
