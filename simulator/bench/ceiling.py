"""Ceilings: how fast every implementation on this machine runs a cipher, measured in the run.

A ceiling is the speed of a library's own tight loop over one hot buffer with one key — the
limit a per-sector data path can approach.  Every implementation present is measured, as a
*source*:

- ``openssl speed``: the system binary, ``openssl speed -elapsed -evp NAME -bytes UNIT
  -seconds S -mr`` (``-elapsed``: wall time, as every cell is timed; without it openssl
  divides by user CPU time), ``-multi N`` for N threads (the sum of N processes);
- each native engine's loop (``engine.ceiling``: OpenSSL EVP, Intel IPP Crypto, ...), in N
  Python threads at once for N threads (the loop releases the GIL);
- ``cryptography``: the OpenSSL inside pyca/cryptography over one large buffer (1 MiB per
  call: no per-unit set-up, so the library's peak for the cipher);
- ``memcpy`` for the null cipher.

Every sample is kept (``ceilings.jsonl``, appended as measured) with the library, version and
code path that produced it.  Samples are taken in rounds spread through the run; a ceiling is
the median of its source's samples, and "of ceiling" divides by the fastest source for that
cipher, data unit, direction and thread count, naming it.
"""

from __future__ import annotations

import math
import os
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from simulator.bench.sizes import MIB

#: (cipher, key_bits) -> the name ``openssl speed -evp`` takes (XTS key bits are K1 ‖ K2).
OPENSSL_EVP_NAMES = {
    ("aes-xts-plain64", 256): "aes-128-xts",
    ("aes-xts-plain64", 512): "aes-256-xts",
    ("aes-gcm-random", 128): "aes-128-gcm",
    ("aes-gcm-random", 256): "aes-256-gcm",
    ("chacha20-poly1305-random", 256): "chacha20-poly1305",
}

CeilingKey = tuple[str, int, int, str]  # cipher, key_bits, data unit, op
LARGE_BUFFER = MIB
#: Seconds per sample of an in-process loop (openssl speed takes whole seconds).
LOOP_SECONDS = 0.2


@dataclass(frozen=True)
class Source:
    """One implementation that can be measured: a name, what it is, and its loop."""

    name: str
    library: str
    version: str
    code_path: str
    #: (cipher, key_bits, unit, seconds, decrypt, threads) -> bytes/s; raises if it cannot.
    run: Callable[[str, int, int, float, bool, int], float] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Ceiling:
    """The ceiling of one cipher, data unit, direction and thread count: the fastest source."""

    cipher: str
    key_bits: int
    unit: int
    op: str
    source: str
    bytes_per_s: float
    threads: int = 1
    library: str = ""
    version: str = ""
    code_path: str = ""
    samples: int = 0
    low: float = math.nan
    high: float = math.nan
    #: Median bytes/s of every source measured for this key (the fastest is the ceiling).
    by_source: dict[str, float] = field(default_factory=dict)
    detail: str = ""

    @property
    def mib_s(self) -> float:
        """The ceiling in MiB/s."""
        return self.bytes_per_s / MIB

    @property
    def spread(self) -> float:
        """(max - min) / median of the samples."""
        return (self.high - self.low) / self.bytes_per_s if self.bytes_per_s else math.nan

    def to_dict(self) -> dict[str, Any]:
        """Plain values for meta.json."""
        d = asdict(self)
        d["mib_s"] = self.mib_s
        d["gb_s"] = self.bytes_per_s / 1e9
        d["spread"] = self.spread
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Ceiling:
        """The inverse of to_dict (unknown keys ignored)."""
        names = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in names}
        kw["bytes_per_s"] = math.nan if kw.get("bytes_per_s") is None else kw["bytes_per_s"]
        return cls(**kw)


# ------------------------------------------------------------------ openssl speed


def openssl_binary() -> str | None:
    """Path of the ``openssl`` binary, or None."""
    return shutil.which("openssl")


def openssl_version(binary: str | None = None) -> str | None:
    """``openssl version`` of the binary the ceilings come from."""
    binary = binary or openssl_binary()
    if not binary:
        return None
    try:
        out = subprocess.run([binary, "version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def parse_speed_mr(text: str) -> dict[str, dict[int, float]]:
    """Parse ``openssl speed -mr`` output: cipher name -> {block size: bytes per second}.

    ``+H:16:64:...`` lists the block sizes; ``+F:<n>:<NAME>:<b/s>:<b/s>...`` the results
    (with ``-multi`` the children's lines start ``Got:`` and the last ``+F`` is their sum).
    """
    sizes: list[int] = []
    out: dict[str, dict[int, float]] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("+H:"):
            sizes = [int(x) for x in line[3:].split(":") if x]
        elif line.startswith("+F:"):
            parts = line.split(":")
            if len(parts) < 4:
                continue
            name = parts[2]
            values = [float(x) for x in parts[3:] if x]
            out[name.lower()] = dict(zip(sizes or range(len(values)), values, strict=False))
    return out


def speed_command(evp_name: str, unit: int, seconds: int, decrypt: bool = False,
                  threads: int = 1, binary: str = "openssl") -> list[str]:
    """The ``openssl speed`` command line for one sample (wall time: ``-elapsed``)."""
    cmd = [binary, "speed", "-elapsed"]
    if threads > 1:
        cmd += ["-multi", str(threads)]
    if decrypt:
        cmd.append("-decrypt")
    return [*cmd, "-evp", evp_name, "-bytes", str(unit), "-seconds", str(seconds), "-mr"]


def openssl_speed(evp_name: str, unit: int, seconds: int, decrypt: bool = False,
                  binary: str | None = None, threads: int = 1) -> float:
    """Bytes/s of ``openssl speed -elapsed ...`` (the sum over ``threads`` processes)."""
    binary = binary or openssl_binary()
    if not binary:
        raise RuntimeError("no openssl binary on PATH")
    cmd = speed_command(evp_name, unit, seconds, decrypt, threads, binary)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 10 + 30)
    results = parse_speed_mr(proc.stdout)
    for values in results.values():
        if unit in values:
            return values[unit]
        if values:
            return next(iter(values.values()))
    raise RuntimeError(f"`{' '.join(cmd)}` gave no +F line: {proc.stderr.strip()[:200]}")


def openssl_source(seconds: int = 1) -> Source | None:
    """The system ``openssl speed``, or None without the binary."""
    binary = openssl_binary()
    if not binary:
        return None
    version = openssl_version(binary) or "?"

    def run(cipher: str, key_bits: int, unit: int, _s: float, decrypt: bool,
            threads: int) -> float:
        evp = OPENSSL_EVP_NAMES.get((cipher, key_bits))
        if evp is None:
            raise ValueError(f"openssl speed has no -evp name for {cipher} {key_bits}b")
        return openssl_speed(evp, unit, seconds, decrypt, binary, threads)

    return Source("openssl speed", "OpenSSL (system binary)", version,
                  " ".join(speed_command("NAME", 0, seconds, binary="openssl"))
                  .replace("-bytes 0", "-bytes UNIT"), run)


# ------------------------------------------------------------------ in-process loops


def in_threads(fn: Callable[[], float], threads: int) -> float:
    """Run ``fn`` (returns bytes/s) in ``threads`` threads at once; the sum of their rates."""
    if threads <= 1:
        return fn()
    results: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def work() -> None:
        try:
            start.wait()
            results.append(fn())
        except BaseException as exc:  # re-raised in the caller
            errors.append(exc)

    pool = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if errors:
        raise errors[0]
    return float(sum(results))


def engine_source(name: str, engine: Any, describe: dict[str, str],
                  cipher_spec: Callable[[str, int, int], Any]) -> Source:
    """A native engine's own one-key loop (``engine.ceiling``) as a source."""

    def run(cipher: str, key_bits: int, unit: int, seconds: float, decrypt: bool,
            threads: int) -> float:
        spec = cipher_spec(cipher, key_bits, unit)
        return in_threads(lambda: float(engine.ceiling(spec, unit_bytes=unit, seconds=seconds,
                                                       decrypt=decrypt)), threads)

    return Source(name, describe.get("library", "?"), describe.get("version", "?"),
                  describe.get("code_path", "engine.ceiling: one key, one hot data unit"), run)


def cryptography_loop(cipher: str, key_bits: int, seconds: float, decrypt: bool = False,
                      size: int = LARGE_BUFFER) -> float:
    """Bytes/s of pyca/cryptography over one ``size``-byte buffer per call, one key."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

    key = os.urandom(key_bits // 8)
    if cipher == "aes-xts-plain64":
        while key[: len(key) // 2] == key[len(key) // 2:]:  # pragma: no cover
            key = os.urandom(key_bits // 8)
    src = bytearray(os.urandom(size))
    dst = bytearray(size + 16)
    if cipher in ("aes-xts-plain64", "aes-gcm-random"):
        mode = modes.XTS(bytes(16)) if cipher == "aes-xts-plain64" else modes.GCM(bytes(12))
        c = Cipher(algorithms.AES(key), mode)
        ctx = c.decryptor() if decrypt else c.encryptor()

        def call() -> None:
            ctx.update_into(src, dst)
    elif cipher == "chacha20-poly1305-random":
        aead, nonce = ChaCha20Poly1305(key), bytes(12)
        sealed = bytearray(aead.encrypt(nonce, bytes(src), None))
        plain = bytearray(size)

        def call() -> None:
            if decrypt:
                aead.decrypt_into(nonce, sealed, None, plain)
            else:
                aead.encrypt_into(nonce, src, None, dst)
    else:
        raise ValueError(f"no cryptography loop for {cipher}")
    call()
    n, t0 = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or n == 0:
        call()
        n += 1
    return size * n / elapsed


def cryptography_source() -> Source | None:
    """The OpenSSL inside pyca/cryptography, or None when it is not importable."""
    try:
        import cryptography
        from cryptography.hazmat.backends.openssl.backend import backend
    except ImportError:  # pragma: no cover
        return None
    def run(cipher: str, key_bits: int, unit: int, seconds: float, decrypt: bool,
            threads: int) -> float:
        # one large buffer per call: the figure does not depend on the data unit
        return in_threads(lambda: cryptography_loop(cipher, key_bits, seconds, decrypt), threads)

    return Source("cryptography", f"pyca/cryptography {cryptography.__version__}",
                  backend.openssl_version_text(),
                  "Cipher(AES, XTS|GCM).update_into / ChaCha20Poly1305.encrypt_into over one "
                  "1 MiB buffer per call, one key (no per-unit set-up)", run)


def memcpy_speed(unit: int, seconds: float) -> float:
    """Bytes/s of a plain memory copy of a 1 MiB buffer: the ceiling of the null spec."""
    n = max(unit, MIB)
    src = np.ones(n, dtype=np.uint8)
    dst = np.empty_like(src)
    copies = 0
    t0 = time.perf_counter()
    while (elapsed := time.perf_counter() - t0) < seconds or copies == 0:
        np.copyto(dst, src)
        copies += 1
    return n * copies / elapsed


def memcpy_source() -> Source:
    """numpy.copyto over 1 MiB: the ceiling of the null cipher."""
    return Source("memcpy", "numpy", np.__version__, "numpy.copyto, 1 MiB buffer",
                  lambda _c, _k, unit, s, _d, threads: in_threads(
                      lambda: memcpy_speed(unit, min(s, 0.1)), threads))


# ------------------------------------------------------------------ sampling


def sources_for(how: str, engine_sources: Iterable[Source], seconds: int) -> list[Source]:
    """The sources a ``Measure.ceiling`` setting asks for: auto (all), openssl, native, none."""
    if how == "none":
        return []
    out: list[Source] = []
    if how in ("auto", "openssl"):
        s = openssl_source(seconds)
        if s:
            out.append(s)
    if how in ("auto", "native"):
        out += list(engine_sources)
    if how == "auto":
        s = cryptography_source()
        if s:
            out.append(s)
    return out


SampleKey = tuple[str, int, int, str, int]  # cipher, key_bits, unit, op, threads


def sample_round(keys: Iterable[SampleKey], sources: list[Source], round_no: int,
                 record: Callable[[dict[str, Any]], None],
                 progress: Callable[[str], None] | None = None) -> int:
    """Measure every (key, source) once; ``record`` each sample as it is taken."""
    n = 0
    for cipher, key_bits, unit, op, threads in sorted(set(keys)):
        todo = [memcpy_source()] if cipher == "null" else sources
        for src in todo:
            if progress is not None:
                progress(f"ceiling round {round_no + 1}: {src.name} {cipher} {key_bits}b "
                         f"{unit} B {op} x{threads}")
            base = {"cipher": cipher, "key_bits": key_bits, "unit": unit, "op": op,
                    "threads": threads, "source": src.name, "library": src.library,
                    "version": src.version, "code_path": src.code_path, "round": round_no,
                    "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            try:
                bps = src.run(cipher, key_bits, unit, LOOP_SECONDS,
                              op in ("decrypt", "read"), threads)
                record({**base, "bytes_per_s": float(bps)})
            except (RuntimeError, ValueError, OSError, subprocess.SubprocessError,
                    TypeError) as exc:
                record({**base, "bytes_per_s": None, "error": f"{type(exc).__name__}: {exc}"})
            n += 1
    return n


def aggregate(samples: Iterable[dict[str, Any]]) -> dict[SampleKey, Ceiling]:
    """The ceiling per key: median of each source's samples, the fastest source kept."""
    by: dict[SampleKey, dict[str, list[dict[str, Any]]]] = {}
    for s in samples:
        if s.get("bytes_per_s") is None:
            continue
        key = (s["cipher"], int(s["key_bits"]), int(s["unit"]), s["op"], int(s["threads"]))
        by.setdefault(key, {}).setdefault(s["source"], []).append(s)
    out: dict[SampleKey, Ceiling] = {}
    for key, srcs in by.items():
        medians = {name: statistics.median(x["bytes_per_s"] for x in xs)
                   for name, xs in srcs.items()}
        best = max(medians, key=lambda n: medians[n])
        xs = srcs[best]
        values = [x["bytes_per_s"] for x in xs]
        c, kb, unit, op, threads = key
        out[key] = Ceiling(c, kb, unit, op, best, medians[best], threads, xs[-1]["library"],
                           xs[-1]["version"], xs[-1]["code_path"], len(values), min(values),
                           max(values), medians)
    return out


def ceiling_threads(asked: int, used: Any) -> tuple[int, ...]:
    """The thread counts whose ceiling a cell is held to, in order: those its batches ran on
    (``threads_used``: a batch too small to split runs on one thread whatever the cell asked
    for), then, for a run from before threads_used was measured, those it asked for."""
    if used is None or used != used:  # missing, or NaN in a DataFrame
        return (asked,)
    return tuple(dict.fromkeys((max(1, min(asked, int(used))), asked)))


def lookup(ceilings: dict[SampleKey, Ceiling], cipher: str, key_bits: int, unit: int, op: str,
           threads: int) -> Ceiling | None:
    """The ceiling for a cell: measured at its thread count, else None."""
    return ceilings.get((cipher, key_bits, unit, op, threads))
