"""Experiment specs: TOML files under ``experiments/``, parsed with tomllib and validated.

A spec names the experiment, its kind, a parameter grid and the measurement settings.  Every
mistake (unknown key, wrong type, impossible combination such as ChaCha20 with a 128-bit key)
is refused here, before anything runs, with the file, the key and what is allowed.

```toml
name = "quick"
kind = "throughput"            # throughput | volume | capacity | scenario
description = "..."

[measure]
warmup = 0.1                   # seconds run (and discarded) before the repetitions
repetitions = 5
min_time = 0.05                # seconds per repetition, at least
noise = 0.10                   # a cell whose IQR/median exceeds this is flagged noisy
ceiling = "auto"               # auto (every implementation) | openssl | native | none
ceiling_seconds = 1            # openssl speed -seconds
ceiling_rounds = 3             # ceiling samples, spread through the run (median kept)

[grid]
cipher = ["aes-xts-plain64", { name = "aes-gcm-random", key_bits = [128, 256] }]
sector_size = [512, 4096]
batch = ["64k", "1m"]
threads = [1, 2]
engine = ["native"]
```

Each kind's runner declares its [grid] as data, a :class:`Grid` of :class:`Axis` (name,
parser, default, help) and one :class:`CipherAxis`; :func:`validate_spec` reads every kind's
table the same way.  Cipher names, key sizes and sector sizes are simulator.crypt's.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from simulator import inputs
from simulator.bench.datapath import ENGINE_NAMES
from simulator.bench.sizes import parse_size
from simulator.crypt.spec import SECTOR_SIZES, CipherSpec, cipher_key_bits

ENGINES = ENGINE_NAMES
OPS = ("encrypt", "decrypt")
FIO_RW = ("read", "write", "randread", "randwrite", "rw", "randrw")
CEILINGS = ("auto", "openssl", "native", "none")

NULL = "null"
#: Key sizes each cipher configuration takes (bits), the default first, as simulator.crypt
#: has them; the null baseline is listed last.
CIPHER_KEY_BITS: dict[str, tuple[int, ...]] = dict(
    sorted(cipher_key_bits().items(), key=lambda item: item[0] == NULL))
TOP_KEYS = ("name", "kind", "description", "measure", "grid")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class SpecError(ValueError):
    """A spec that cannot run: names the file, the key and what is allowed."""

    def __init__(self, file: str | Path | None, key: str, problem: str, allowed: str = "") -> None:
        self.file = str(file) if file else "<spec>"
        self.key = key
        self.problem = problem
        self.allowed = allowed
        text = f"{self.file}: {key}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


@dataclass(frozen=True)
class Measure:
    """How each cell is timed: warm-up, repetitions, minimum time, noise flag, ceiling source."""

    warmup: float = 0.1
    repetitions: int = 5
    min_time: float = 0.05
    noise: float = 0.10
    ceiling: str = "auto"
    ceiling_seconds: int = 1
    #: How many times each ceiling is sampled, spread through the run (median kept).
    ceiling_rounds: int = 3

    def to_dict(self) -> dict[str, Any]:
        """Plain values for meta.json and the spec hash."""
        return {
            "warmup": self.warmup,
            "repetitions": self.repetitions,
            "min_time": self.min_time,
            "noise": self.noise,
            "ceiling": self.ceiling,
            "ceiling_seconds": self.ceiling_seconds,
            "ceiling_rounds": self.ceiling_rounds,
        }


@dataclass(frozen=True)
class ExperimentSpec:
    """A validated experiment: its grid is normalised (every axis a list, sizes in bytes)."""

    name: str
    kind: str
    grid: dict[str, list[Any]]
    measure: Measure = field(default_factory=Measure)
    description: str = ""
    path: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        """The normalised spec as plain data (what the hash covers)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "measure": self.measure.to_dict(),
            "grid": self.grid,
        }

    @property
    def hash(self) -> str:
        """SHA-256 of the normalised spec: comments and spelling of sizes do not change it."""
        canon = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canon.encode()).hexdigest()


# ------------------------------------------------------------------ loading


def resolve_spec_path(arg: str | Path | None, root: Path | None = None) -> Path:
    """The spec file for a CLI argument: a path, or a bare name looked up in experiments/."""
    arg = arg or "quick"
    p = Path(arg)
    if p.is_file():
        return p
    roots = [root] if root else []
    roots += [Path.cwd(), Path(__file__).resolve().parents[2]]
    names = [str(arg)] if str(arg).endswith(".toml") else [f"{arg}.toml", str(arg)]
    for base in roots:
        for name in names:
            for cand in (base / name, base / "experiments" / name):
                if cand.is_file():
                    return cand
    known = sorted({q.stem for base in roots for q in (base / "experiments").glob("*.toml")})
    raise SpecError(arg, "file", "no such experiment spec", ", ".join(known) or "a TOML path")


def load_spec(path: str | Path) -> ExperimentSpec:
    """Parse and validate one experiment TOML file (raises SpecError)."""
    path = Path(path)
    try:  # bounded, UTF-8, nesting-limited reading (simulator.inputs)
        data = inputs.parse_toml(inputs.read_text(path, what="experiment spec"), str(path))
    except inputs.InputError as exc:
        problem = str(exc).removeprefix(f"{path}: ")
        raise SpecError(path, "toml" if "TOML" in problem else "file", problem) from None
    return validate_spec(data, path=path)


def parse_spec_text(text: str, path: str | Path | None = None) -> ExperimentSpec:
    """Parse and validate a spec given as TOML text (tests, notebooks)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, "toml", f"not valid TOML: {exc}") from None
    return validate_spec(data, path=Path(path) if path else None)


# ------------------------------------------------------------------ validation


def validate_spec(
    data: Mapping[str, Any],
    path: Path | None = None,
    check_cipher: Callable[[str, int, int], None] | None = None,
) -> ExperimentSpec:
    """Validate a parsed spec and normalise its grid; refuses with SpecError."""
    v = Validator(path, check_cipher or _crypt_check)
    v.unknown("", data, TOP_KEYS)
    name = v.require(data, "name", str)
    if not _NAME.match(name):
        raise SpecError(path, "name", f"{name!r} cannot name a results directory",
                        "letters, digits, '_', '-', '.'")
    kind = v.require(data, "kind", str)
    if kind not in _GRIDS:
        raise SpecError(path, "kind", f"unknown kind {kind!r}", ", ".join(_GRIDS))
    description = v.optional(data, "description", str, "")
    measure = v.measure(data.get("measure", {}))
    grid_in = data.get("grid")
    if not isinstance(grid_in, Mapping):
        raise SpecError(path, "grid", "missing [grid] table" if grid_in is None else
                        "must be a table", "a [grid] table of parameter lists")
    grid = _GRIDS[kind](v, dict(grid_in))
    return ExperimentSpec(name=name, kind=kind, grid=grid, measure=measure,
                          description=description, path=path)


def _crypt_check(cipher: str, key_bits: int, sector_size: int) -> None:
    """Ask simulator.crypt.CipherSpec too (it has the last word on a combination)."""
    CipherSpec.parse(cipher, key_bits=key_bits or None, sector_size=sector_size)


class Validator:
    """Type checks that name the file, the dotted key and what is allowed."""

    def __init__(self, path: Path | None, check_cipher: Callable[[str, int, int], None]) -> None:
        self.path = path
        self.check_cipher = check_cipher

    def err(self, key: str, problem: str, allowed: str = "") -> SpecError:
        return SpecError(self.path, key, problem, allowed)

    def unknown(self, prefix: str, table: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
        for key in table:
            if key not in allowed:
                where = f"{prefix}.{key}" if prefix else key
                raise self.err(where, "unknown key", ", ".join(allowed))

    def require(self, table: Mapping[str, Any], key: str, typ: type) -> Any:
        if key not in table:
            raise self.err(key, "missing", _TYPE_NAMES.get(typ, typ.__name__))
        return self.optional(table, key, typ, None)

    def optional(self, table: Mapping[str, Any], key: str, typ: type, default: Any,
                 prefix: str = "") -> Any:
        if key not in table:
            return default
        value = table[key]
        ok = isinstance(value, typ) and not (typ in (int, float) and isinstance(value, bool))
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            where = f"{prefix}.{key}" if prefix else key
            raise self.err(where, f"{value!r} has the wrong type",
                           _TYPE_NAMES.get(typ, typ.__name__))
        return value

    def measure(self, table: Any) -> Measure:
        if not isinstance(table, Mapping):
            raise self.err("measure", "must be a table", "[measure] with " + ", ".join(_MEASURE))
        self.unknown("measure", table, tuple(_MEASURE))
        d = Measure()
        values = {k: self.optional(table, k, typ, getattr(d, k), "measure")
                  for k, typ in _MEASURE.items()}
        limits = {"warmup": (0, 60), "repetitions": (1, 1000), "min_time": (1e-4, 60),
                  "noise": (0, 10), "ceiling_seconds": (1, 60),
                  "ceiling_rounds": (1, 20)}
        for key, (lo, hi) in limits.items():
            if not lo <= values[key] <= hi:
                raise self.err(f"measure.{key}", f"{values[key]!r} is out of range",
                               f"{lo} to {hi}")
        if values["ceiling"] not in CEILINGS:
            raise self.err("measure.ceiling", f"unknown ceiling {values['ceiling']!r}",
                           ", ".join(CEILINGS))
        return Measure(**values)

    def axis(self, grid: dict[str, Any], key: str, default: list[Any] | None,
             conv: Callable[[Any], Any], allowed: str) -> list[Any]:
        """A grid axis as a list (a scalar is a one-element list), each value converted."""
        if key not in grid:
            if default is None:
                raise self.err(f"grid.{key}", "missing", allowed)
            return list(default)
        raw = grid.pop(key)
        values = raw if isinstance(raw, list) else [raw]
        if not values:
            raise self.err(f"grid.{key}", "empty list", allowed)
        out = []
        for value in values:
            try:
                out.append(conv(value))
            except (ValueError, TypeError) as exc:
                raise self.err(f"grid.{key}", f"{value!r}: {exc}", allowed) from None
        return _dedupe(out)

    def ciphers(self, grid: dict[str, Any], sector_sizes: list[int], baseline: bool
                ) -> list[dict[str, Any]]:
        """The cipher configurations: (cipher, key_bits) pairs, each possible, null first."""
        allowed_names = ", ".join(CIPHER_KEY_BITS)
        raw = grid.pop("cipher", None)
        if raw is None:
            raise self.err("grid.cipher", "missing", allowed_names)
        entries = raw if isinstance(raw, list) else [raw]
        if not entries:
            raise self.err("grid.cipher", "empty list", allowed_names)
        key_axis = None
        if "key_bits" in grid:
            key_axis = self.axis(grid, "key_bits", None, integer,
                                 "key sizes in bits, e.g. 256, 512")
        configs: list[dict[str, Any]] = []
        for entry in entries:
            name: Any  # a string entry's name, or what a table entry gives: checked below
            if isinstance(entry, str):
                name, bits_list, where = entry, key_axis, "grid.key_bits"
            elif isinstance(entry, Mapping):
                self.unknown("grid.cipher", entry, ("name", "key_bits"))
                name = entry.get("name")
                kb = entry.get("key_bits", key_axis)
                bits_list = None if kb is None else (kb if isinstance(kb, list) else [kb])
                where = "grid.cipher.key_bits"
            else:
                raise self.err("grid.cipher", f"{entry!r} has the wrong type",
                               "a cipher name or { name = ..., key_bits = [...] }")
            if name not in CIPHER_KEY_BITS:
                raise self.err("grid.cipher", f"unknown cipher {name!r}", allowed_names)
            takes = CIPHER_KEY_BITS[name]
            if name == NULL:
                bits_list = [0]
            elif bits_list is None:
                bits_list = [takes[0]]
            elif not bits_list:
                raise self.err(where, f"empty list of key sizes for {name}",
                               f"{name}: " + ", ".join(map(str, sorted(takes))))
            for bits in bits_list:
                if not isinstance(bits, int) or isinstance(bits, bool):
                    raise self.err(where, f"{bits!r} has the wrong type", "an integer (bits)")
                if bits not in takes:
                    raise self.err(where, f"{name} cannot take a {bits}-bit key",
                                   f"{name}: " + ", ".join(map(str, sorted(takes))))
                for ss in sector_sizes:
                    try:
                        self.check_cipher(name, bits, ss)
                    except (ValueError, TypeError) as exc:
                        raise self.err(where, f"{name} with {bits}-bit key, sector {ss}: {exc}",
                                       ", ".join(map(str, sorted(takes)))) from None
                configs.append({"cipher": name, "key_bits": bits})
        if baseline and not any(c["cipher"] == NULL for c in configs):
            configs.append({"cipher": NULL, "key_bits": 0})
        configs = _dedupe(configs)
        configs.sort(key=lambda c: c["cipher"] != NULL)  # the baseline runs first
        return configs

    def done(self, grid: dict[str, Any], allowed: tuple[str, ...]) -> None:
        for key in grid:
            raise self.err(f"grid.{key}", "unknown key", ", ".join(allowed))


def integer(value: Any) -> int:
    """A grid value that must be an integer (not a bool)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def boolean(value: Any) -> bool:
    """A grid value that must be true or false."""
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    """A parser taking one of ``options``."""
    def conv(value: Any) -> str:
        if value not in options:
            raise ValueError("not one of the choices")
        return value
    return conv


def sector_size(value: Any) -> int:
    """A sector size dm-crypt takes (simulator.crypt's SECTOR_SIZES), as a size or bytes."""
    n = parse_size(value)
    if n not in SECTOR_SIZES:
        raise ValueError("not a sector size")
    return n


def ranged(lo: int, hi: int) -> Callable[[Any], int]:
    """A parser taking an integer from ``lo`` to ``hi``."""
    def conv(value: Any) -> int:
        n = integer(value)
        if not lo <= n <= hi:
            raise ValueError(f"out of range {lo}..{hi}")
        return n
    return conv


def _dedupe(values: list[Any]) -> list[Any]:
    out: list[Any] = []
    for v in values:
        if v not in out:
            out.append(v)
    return out


_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
_MEASURE = {"warmup": float, "repetitions": int, "min_time": float, "noise": float,
            "ceiling": str, "ceiling_seconds": int, "ceiling_rounds": int}
#: The allowed text of a sector_size axis.
SECTORS = ", ".join(map(str, SECTOR_SIZES))

#: ``check(v, axes)``: refuses (``raise v.err(...)``) a combination of an axis's values with
#: those of the axes read before it; ``axes`` holds every axis read so far.
AxisCheck = Callable[["Validator", dict[str, list[Any]]], None]


@dataclass(frozen=True)
class Axis:
    """One [grid] axis of a kind: its key, how one value is read (``parse`` raises ValueError
    or TypeError), its default (None: the spec must give it), and the help that errors show
    as what is allowed."""

    name: str
    parse: Callable[[Any], Any]
    default: tuple[Any, ...] | None
    help: str
    check: AxisCheck | None = None


@dataclass(frozen=True)
class CipherAxis:
    """The cipher configurations: ``cipher`` (names, or ``{ name, key_bits }`` tables) with
    the optional ``key_bits`` axis for every name; each pair is checked by simulator.crypt at
    every sector size, so it is read after the kind's ``sector_size`` axis.  ``baseline``
    adds the null cipher (run first)."""

    baseline: bool
    name: ClassVar[str] = "cipher"
    keys: ClassVar[tuple[str, ...]] = ("cipher", "key_bits")


@dataclass(frozen=True)
class Grid:
    """A kind's [grid] table as data: its axes in the order of the normalised grid.

    Calling it validates one table (the :data:`GridValidator` shape): axes are read in
    order (a cipher axis right after ``sector_size``), each axis's ``check`` runs once it is
    read, and any key no axis names is refused.
    """

    axes: tuple[Axis | CipherAxis, ...]

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key the table may hold, in order (what an unknown key's error lists)."""
        return tuple(k for a in self.axes
                     for k in (a.keys if isinstance(a, CipherAxis) else (a.name,)))

    def _reading_order(self) -> list[Axis | CipherAxis]:
        axes: list[Axis | CipherAxis] = [a for a in self.axes if not isinstance(a, CipherAxis)]
        for a in self.axes:
            if isinstance(a, CipherAxis):
                after = next((i + 1 for i, b in enumerate(axes) if b.name == "sector_size"),
                             len(axes))
                axes.insert(after, a)
        return axes

    def __call__(self, v: Validator, g: dict[str, Any]) -> dict[str, list[Any]]:
        read: dict[str, list[Any]] = {}
        for a in self._reading_order():
            if isinstance(a, CipherAxis):
                read[a.name] = v.ciphers(g, read.get("sector_size", [4096]), a.baseline)
                continue
            default = None if a.default is None else list(a.default)
            read[a.name] = v.axis(g, a.name, default, a.parse, a.help)
            if a.check is not None:
                a.check(v, read)
        v.done(g, self.keys)
        return {a.name: read[a.name] for a in self.axes}


GridValidator = Callable[["Validator", dict[str, Any]], dict[str, list[Any]]]


def register_grid(kind: str, validate: GridValidator) -> None:
    """Add a kind's [grid] validator, a :class:`Grid` or a function of the same shape
    (``simulator.bench.runners.register`` calls this)."""
    _GRIDS[kind] = validate


#: Every kind's [grid] validator, filled by the runners (simulator.bench.runners), which
#: the package ``simulator.bench`` imports before anyone can reach this module.
_GRIDS: dict[str, GridValidator] = {}
