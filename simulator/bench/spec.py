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
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simulator import inputs
from simulator.bench.datapath import ENGINE_NAMES
from simulator.bench.sizes import format_size, parse_size

KINDS = ("throughput", "volume", "capacity", "scenario")
ENGINES = ENGINE_NAMES
OPS = ("encrypt", "decrypt")
FIO_RW = ("read", "write", "randread", "randwrite", "rw", "randrw")
CEILINGS = ("auto", "openssl", "native", "none")

#: Key sizes each cipher configuration takes (bits); the first is the default.  Mirrors
#: simulator.crypt.CipherSpec, which is asked as well when it is importable.
CIPHER_KEY_BITS: dict[str, tuple[int, ...]] = {
    "aes-xts-plain64": (512, 256),
    "aes-gcm-random": (256, 128),
    "chacha20-poly1305-random": (256,),
    "null": (0,),
}
NULL = "null"
SECTOR_SIZES = (512, 1024, 2048, 4096)
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
    v = _Validator(path, check_cipher or _crypt_check)
    v.unknown("", data, TOP_KEYS)
    name = v.require(data, "name", str)
    if not _NAME.match(name):
        raise SpecError(path, "name", f"{name!r} cannot name a results directory",
                        "letters, digits, '_', '-', '.'")
    kind = v.require(data, "kind", str)
    if kind not in _GRIDS:
        _load_kinds()  # kinds registered by runner modules (simulator.bench.runners)
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
    """Ask simulator.crypt.CipherSpec too, when it is importable (it has the last word)."""
    try:
        from simulator.crypt import CipherSpec
    except ImportError:
        return
    CipherSpec.parse(cipher, key_bits=key_bits or None, sector_size=sector_size)


class _Validator:
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
            key_axis = self.axis(grid, "key_bits", None, _int, "key sizes in bits, e.g. 256, 512")
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


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("not an integer")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError("not a boolean")
    return value


def _choice(options: tuple[str, ...]) -> Callable[[Any], str]:
    def conv(value: Any) -> str:
        if value not in options:
            raise ValueError("not one of the choices")
        return value
    return conv


def _sector(value: Any) -> int:
    n = parse_size(value)
    if n not in SECTOR_SIZES:
        raise ValueError("not a sector size")
    return n


def _ranged(lo: int, hi: int) -> Callable[[Any], int]:
    def conv(value: Any) -> int:
        n = _int(value)
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
_SECTORS = ", ".join(map(str, SECTOR_SIZES))


def _grid_throughput(v: _Validator, g: dict[str, Any]) -> dict[str, list[Any]]:
    sectors = v.axis(g, "sector_size", [4096], _sector, _SECTORS)
    ciphers = v.ciphers(g, sectors, baseline=True)
    batch = v.axis(g, "batch", [2**20], parse_size, "bytes per engine call, e.g. '64k', '1m'")
    for b in batch:
        for ss in sectors:
            if b < ss or b % ss:
                raise v.err("grid.batch", f"a batch of {format_size(b)} is not a whole number "
                            f"of {ss}-byte sectors", "multiples of every sector_size")
        if b > 256 * 2**20:
            raise v.err("grid.batch", f"{format_size(b)} is too large", "up to 256m")
    threads = v.axis(g, "threads", [1], _ranged(1, 64), "1 to 64")
    engines = v.axis(g, "engine", ["auto"], _choice(ENGINES), ", ".join(ENGINES))
    ops = v.axis(g, "op", list(OPS), _choice(OPS), ", ".join(OPS))
    v.done(g, ("cipher", "key_bits", "sector_size", "batch", "threads", "engine", "op"))
    return {"cipher": ciphers, "sector_size": sectors, "batch": batch, "threads": threads,
            "engine": engines, "op": ops}


def _grid_volume(v: _Validator, g: dict[str, Any]) -> dict[str, list[Any]]:
    sectors = v.axis(g, "sector_size", [4096], _sector, _SECTORS)
    ciphers = v.ciphers(g, sectors, baseline=True)
    engines = v.axis(g, "engine", ["auto"], _choice(ENGINES), ", ".join(ENGINES))
    rw = v.axis(g, "rw", ["randread"], _choice(FIO_RW), ", ".join(FIO_RW))
    mix = v.axis(g, "rwmixread", [50], _ranged(0, 100), "0 to 100 (percent reads, as fio)")
    bs = v.axis(g, "bs", [4096], parse_size, "block sizes, e.g. '4k', '128k'")
    iodepth = v.axis(g, "iodepth", [1], _ranged(1, 4096), "1 to 4096 I/Os per engine call")
    size = v.axis(g, "size", [64 * 2**20], parse_size, "volume sizes, e.g. '64m'")
    for b in bs:
        if b < 512 or b % 512:
            raise v.err("grid.bs", f"{b}: fio-style direct I/O needs multiples of 512",
                        "multiples of 512 bytes")
    for s in size:
        for b in bs:
            for d in iodepth:
                if b * d > s:
                    raise v.err("grid.size", f"{format_size(s)} is smaller than bs {format_size(b)}"
                                f" x iodepth {d}", "size >= bs * iodepth")
        for ss in sectors:
            if s % ss:
                raise v.err("grid.size", f"{s} is not a whole number of {ss}-byte sectors",
                            "multiples of every sector_size")
        if s > 2**31:
            raise v.err("grid.size", f"{format_size(s)} is too large for memory", "up to 2g")
    v.done(g, ("cipher", "key_bits", "sector_size", "engine", "rw", "rwmixread", "bs",
               "iodepth", "size"))
    return {"cipher": ciphers, "sector_size": sectors, "engine": engines, "rw": rw,
            "rwmixread": mix, "bs": bs, "iodepth": iodepth, "size": size}


def _grid_capacity(v: _Validator, g: dict[str, Any]) -> dict[str, list[Any]]:
    sizes = v.axis(g, "size_gib", [20], _ranged(20, 200),
                   "20 to 200 GiB (Fargate platform 1.4.0+)")
    sectors = v.axis(g, "sector_size", [4096], _sector, _SECTORS)
    ciphers = v.ciphers(g, sectors, baseline=False)
    cmk = v.axis(g, "cmk", [False, True], _bool, "true, false")
    image = v.axis(g, "image", [0], parse_size, "image sizes, e.g. '500m'")
    used = v.axis(g, "used", [0], parse_size, "bytes written by the task, e.g. '1g'")
    v.done(g, ("size_gib", "cipher", "key_bits", "sector_size", "cmk", "image", "used"))
    return {"size_gib": sizes, "cipher": ciphers, "sector_size": sectors, "cmk": cmk,
            "image": image, "used": used}


def _grid_scenario(v: _Validator, g: dict[str, Any]) -> dict[str, list[Any]]:
    def path(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise TypeError("not a path string")
        base = v.path.parent if v.path else Path.cwd()
        cand = Path(value) if Path(value).is_absolute() else base / value
        if not cand.exists() and not Path(value).exists():
            raise ValueError("no such scenario file")
        return value

    scenarios = v.axis(g, "scenario", None, path, "scenario file paths (relative to the spec)")
    v.done(g, ("scenario",))
    return {"scenario": scenarios}


GridValidator = Callable[["_Validator", dict[str, Any]], dict[str, list[Any]]]


def register_grid(kind: str, validate: GridValidator) -> None:
    """Add a kind's [grid] validator (``simulator.bench.runners.register`` calls this)."""
    _GRIDS[kind] = validate


def _load_kinds() -> None:
    import importlib

    importlib.import_module("simulator.bench.runners")


_GRIDS: dict[str, GridValidator] = {
    "throughput": _grid_throughput,
    "volume": _grid_volume,
    "capacity": _grid_capacity,
    "scenario": _grid_scenario,
}
