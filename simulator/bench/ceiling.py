"""The ceiling: how fast OpenSSL itself runs a cipher on one data unit, measured in the run.

``openssl speed -evp aes-256-xts -bytes 4096 -seconds N -mr`` when the binary exists (its
machine-readable ``+F:`` line gives bytes per second), else the native extension's
whole-buffer loop (the same EVP_CipherUpdate loop openssl speed runs), and a plain memory copy
for ``null``.  The loop is also measured beside openssl speed as a cross-check; when openssl
speed comes out well below it (:data:`SPEED_GAP`: its AEAD loop re-initialises each message in
OpenSSL >= 3.0.16), the loop is the ceiling and openssl's figure is kept beside it.  Every
throughput row is divided by the ceiling of its cipher and data unit, so a reader sees how
close the per-sector path runs to the limit.
"""

from __future__ import annotations

import contextlib
import math
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from simulator.bench.datapath import DataPath
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

#: openssl speed below the one-key EVP loop on the same library by more than this factor
#: measured something else, not the ceiling: OpenSSL >= 3.0.16 (and 3.1.8, 3.2.4, 3.3.3,
#: openssl/openssl#25823) runs ``-evp aes-*-gcm`` as whole AEAD messages, re-initialising the
#: context every data unit, about 3x below the streaming loop at 512 B on this machine.  With
#: ``ceiling = "auto"`` the loop is the ceiling then; ``"openssl"`` keeps openssl's figure.
SPEED_GAP = 1.15


@dataclass(frozen=True)
class Ceiling:
    """A measured ceiling for one cipher, data unit and direction."""

    cipher: str
    key_bits: int
    unit: int
    op: str
    source: str  # "openssl speed", "native loop", "memcpy" or "none"
    bytes_per_s: float
    detail: str = ""
    #: The native whole-buffer loop measured beside openssl speed, as a cross-check.
    native_loop_bytes_per_s: float | None = None
    #: What ``openssl speed`` reported, also when it was not taken as the ceiling.
    openssl_bytes_per_s: float | None = None

    @property
    def mib_s(self) -> float:
        """The ceiling in MiB/s."""
        return self.bytes_per_s / MIB

    def to_dict(self) -> dict[str, Any]:
        """Plain values for meta.json."""
        d = asdict(self)
        d["mib_s"] = self.mib_s
        return d


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

    ``+H:16:64:...`` lists the block sizes; ``+F:<n>:<NAME>:<b/s>:<b/s>...`` the results.
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


def openssl_speed(evp_name: str, unit: int, seconds: int, decrypt: bool = False,
                  binary: str | None = None) -> float:
    """Bytes/s of ``openssl speed -evp NAME -bytes UNIT -seconds S -mr`` (one core)."""
    binary = binary or openssl_binary()
    if not binary:
        raise RuntimeError("no openssl binary on PATH")
    cmd = [binary, "speed", "-evp", evp_name, "-bytes", str(unit), "-seconds", str(seconds),
           "-mr"]
    if decrypt:
        cmd.insert(2, "-decrypt")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds * 10 + 30)
    results = parse_speed_mr(proc.stdout)
    for values in results.values():
        if unit in values:
            return values[unit]
        if values:
            return next(iter(values.values()))
    raise RuntimeError(f"`{' '.join(cmd)}` gave no +F line: {proc.stderr.strip()[:200]}")


def native_loop(datapath: DataPath, cipher: str, key_bits: int, unit: int, seconds: float,
                decrypt: bool = False) -> float:
    """Bytes/s of the native engine's EVP loop over one hot data unit (as openssl speed)."""
    if datapath.native_ceiling is None:
        raise RuntimeError("the native extension (and its ceiling loop) is not built")
    spec = datapath.cipher_spec(cipher, key_bits, unit)
    return datapath.native_ceiling(spec, unit, seconds, decrypt)


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


def measure_ceilings(
    keys: Iterable[CeilingKey],
    how: str,
    seconds: int,
    datapath: DataPath | None,
    progress: Any = None,
) -> dict[CeilingKey, Ceiling]:
    """Measure a ceiling for each (cipher, key_bits, unit, op); ``how`` is a Measure.ceiling."""
    binary = openssl_binary() if how in ("auto", "openssl") else None
    version = openssl_version(binary) if binary else None
    out: dict[CeilingKey, Ceiling] = {}
    for key in sorted(set(keys)):
        cipher, key_bits, unit, op = key
        if progress is not None:
            progress(f"ceiling {cipher} {key_bits}b {unit} {op}")
        out[key] = _one(key, how, seconds, datapath, binary, version)
    return out


def _one(key: CeilingKey, how: str, seconds: int, datapath: DataPath | None,
         binary: str | None, version: str | None) -> Ceiling:
    cipher, key_bits, unit, op = key
    decrypt = op in ("decrypt", "read")
    if how == "none":
        return Ceiling(cipher, key_bits, unit, op, "none", math.nan)
    if cipher == "null":
        return Ceiling(cipher, key_bits, unit, op, "memcpy",
                       memcpy_speed(unit, min(seconds, 0.3)), "numpy.copyto, 1 MiB")
    evp = OPENSSL_EVP_NAMES.get((cipher, key_bits))
    errors = []
    if binary and evp:
        try:
            bps = openssl_speed(evp, unit, seconds, decrypt=decrypt, binary=binary)
            cmd = (f"openssl speed {'-decrypt ' if decrypt else ''}-evp {evp} -bytes {unit} "
                   f"-seconds {seconds} -mr ({version})")
            cross = None
            if datapath is not None and datapath.native_ceiling:
                try:
                    cross = native_loop(datapath, cipher, key_bits, unit, 0.25, decrypt)
                except (RuntimeError, ValueError):
                    cross = None
            if how == "auto" and cross and bps > 0 and cross > bps * SPEED_GAP:
                with contextlib.suppress(RuntimeError, ValueError):  # a longer look
                    cross = max(cross, native_loop(datapath, cipher, key_bits, unit,
                                                   min(float(seconds), 0.5), decrypt))
                return Ceiling(
                    cipher, key_bits, unit, op, "native loop", cross,
                    f"`{cmd}` gave {bps / MIB:.0f} MiB/s, {cross / bps:.1f}x below the one-key "
                    "EVP loop on the same library (its per-message set-up dominates), "
                    "so that loop is the ceiling", cross, bps)
            return Ceiling(cipher, key_bits, unit, op, "openssl speed", bps, cmd, cross, bps)
        except (RuntimeError, OSError, subprocess.SubprocessError, ValueError) as exc:
            errors.append(str(exc))
    if how in ("auto", "native") and datapath is not None and datapath.native_ceiling:
        try:
            bps = native_loop(datapath, cipher, key_bits, unit, min(float(seconds), 0.5), decrypt)
            return Ceiling(cipher, key_bits, unit, op, "native loop", bps,
                           "NativeEngine.ceiling: one hot data unit, as openssl speed")
        except (RuntimeError, ValueError) as exc:
            errors.append(str(exc))
    return Ceiling(cipher, key_bits, unit, op, "none", math.nan, "; ".join(errors))
