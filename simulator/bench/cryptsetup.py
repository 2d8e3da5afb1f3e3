"""``cryptsetup benchmark``'s table for our cipher configurations, to set side by side.

cryptsetup times 1 MiB buffers through the kernel crypto API and prints MiB/s (2^20 bytes);
this does the same through a simulator engine, sector by sector as dm-crypt would, so the two
tables line up row for row (aes-xts 256b/512b appear in both).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from simulator.bench.contention import CONTENDED_BELOW
from simulator.bench.datapath import (
    DataPath,
    backend_description,
    default_datapath,
    threads_used,
)
from simulator.bench.measure import measure, stats
from simulator.bench.plots import SHORT

BUFFER = 1 << 20  # cryptsetup benchmark's buffer size
HEADER = "#     Algorithm |       Key |      Encryption |      Decryption"
#: The configurations the table lists, in cryptsetup's order (XTS first as it is dm-crypt's).
CONFIGS: tuple[tuple[str, int], ...] = (
    ("aes-xts-plain64", 256),
    ("aes-xts-plain64", 512),
    ("aes-gcm-random", 128),
    ("aes-gcm-random", 256),
    ("chacha20-poly1305-random", 256),
)


@dataclass(frozen=True)
class BenchRow:
    """One line of the table: MiB/s each way (None when it could not run)."""

    algorithm: str
    key_bits: int
    encrypt_mib_s: float | None
    decrypt_mib_s: float | None
    #: IQR / median of the repetitions, each way.
    encrypt_spread: float | None = None
    decrypt_spread: float | None = None
    repetitions: int = 0
    #: The least CPU share a thread got in any repetition (< 0.9: contended).
    cpu_share: float | None = None
    #: What ran the row: the backend, its library, version and CPU code path ("" for N/A).
    engine: str = ""
    library: str = ""
    version: str = ""
    code_path: str = ""
    #: Threads the 1 MiB buffer ran on (the data path splits a batch only where it pays).
    threads_used: int = 0

    def format(self) -> str:
        """The line as cryptsetup prints it (``%15s  %9zub  %10.1f MiB/s  %10.1f MiB/s``),
        each figure followed by the spread of its repetitions."""
        def cell(v: float | None, spread: float | None) -> str:
            if v is None:
                return f"{'N/A':>24}"
            return f"{v:10.1f} MiB/s ±{(spread or 0) * 100:4.1f}%"
        line = f"{self.algorithm:>15}  {self.key_bits:>9}b  " \
               f"{cell(self.encrypt_mib_s, self.encrypt_spread)}  " \
               f"{cell(self.decrypt_mib_s, self.decrypt_spread)}"
        return f"{line}  [{self.engine}, {self.code_path}]" if self.engine else line

    def to_dict(self) -> dict[str, Any]:
        """Plain values for ``bench --json``."""
        return asdict(self)


def bench(
    configs: Sequence[tuple[str, int]] = CONFIGS,
    *,
    engine: str = "auto",
    sector_size: int = 4096,
    seconds: float = 0.5,
    threads: int = 1,
    datapath: DataPath | None = None,
    repetitions: int = 5,
) -> list[BenchRow]:
    """Time each configuration both ways over 1 MiB buffers (median of ``repetitions``)."""
    dp = datapath or default_datapath()
    eng = dp.get_engine(engine)
    rows = []
    for cipher, bits in configs:
        spec = dp.cipher_spec(cipher, bits, sector_size)
        supports = getattr(eng, "supports", None)
        if callable(supports) and not supports(spec):  # cryptsetup prints N/A as well
            rows.append(BenchRow(SHORT.get(cipher, cipher), bits, None, None, None, None, 0))
            continue
        (enc, es, s1), (dec, ds, s2) = _both_ways(eng, spec, dp.key_for(spec), sector_size,
                                                  seconds, threads, repetitions)
        ran = ran_on(eng, spec)
        rows.append(BenchRow(SHORT.get(cipher, cipher), bits, enc, dec, es, ds, repetitions,
                             min(s1, s2), ran.get("engine", ""), ran.get("library", ""),
                             ran.get("version", ""), ran.get("code_path", ""),
                             threads_used(eng, spec, BUFFER, threads)))
    return rows


def ran_on(eng: Any, spec: Any) -> dict[str, str]:
    """The backend that runs ``spec`` on ``eng`` (a selecting engine's choice for it), as
    describe() gives it: engine, library, version, code_path."""
    return backend_description(eng, spec)


def _both_ways(eng: Any, spec: Any, key: bytes, sector_size: int, seconds: float,
               threads: int, repetitions: int = 5) -> list[tuple[float, float, float]]:
    """(median MiB/s, IQR/median, least CPU share) encrypting, then decrypting, one 1 MiB
    buffer (round trip checked)."""
    src = bytearray(os.urandom(BUFFER))
    ct = bytearray(BUFFER)
    out = bytearray(BUFFER)
    meta_size = int(getattr(spec, "metadata_size", 0))
    meta = bytearray(BUFFER // sector_size * meta_size) if meta_size else None
    eng.encrypt_sectors(spec, key, src, ct, 0, metadata=meta, threads=threads)
    used = threads_used(eng, spec, BUFFER, threads)  # CPU share per thread the buffer ran on
    results = []
    for fn in (
        lambda: eng.encrypt_sectors(spec, key, src, ct, 0, metadata=meta, threads=threads),
        lambda: eng.decrypt_sectors(spec, key, ct, out, 0, metadata=meta, threads=threads),
    ):
        reps = measure(fn, bytes_per_call=BUFFER, warmup=min(0.1, seconds / 4),
                       repetitions=repetitions, min_time=seconds / repetitions,
                       threads=used)
        st = stats([r.mib_s for r in reps])
        results.append((st.median, st.rel_iqr, min(r.cpu_share for r in reps)))
    if out != src:
        raise RuntimeError(f"{spec}: decrypt(encrypt(x)) != x")
    return results


def format_table(rows: Sequence[BenchRow], engine_note: str = "",
                 notes: Sequence[str] = ()) -> str:
    """cryptsetup's header and rows (each naming the backend and code path that ran it),
    after comments saying what was measured and ``notes`` (e.g. why IPP is not in use)."""
    lines = ["# Tests are approximate using memory only (no storage IO)."]
    if engine_note:
        lines.append(f"# {engine_note}")
    lines += [f"# {n}" for n in notes]
    lines.append("# each figure: median of the repetitions, ± their IQR / median")
    lines.append(HEADER)
    lines += [r.format() for r in rows]
    if any(r.encrypt_mib_s is None for r in rows):
        lines.append("# N/A: this engine does not run that cipher")
    shares = [r.cpu_share for r in rows if r.cpu_share is not None]
    if shares and min(shares) < CONTENDED_BELOW:
        lines.append(f"# CONTENDED: a thread got as little as {min(shares):.2f} of a CPU "
                     f"(below {CONTENDED_BELOW}): other processes took the cores and these "
                     "figures are unreliable; rerun on a quiet machine")
    return "\n".join(lines)
