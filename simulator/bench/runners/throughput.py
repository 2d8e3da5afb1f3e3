"""Throughput: an engine's encrypt/decrypt of a batch of sectors, as cryptsetup benchmark does.

Each cell fixes cipher, key size, sector size, batch (bytes per engine call), threads, engine
and direction.  An engine that can bind a key (``engine.bind``) is timed through the bound
cipher, keyed once, as EncryptedVolume uses it.  Before timing, the batch is encrypted and
decrypted once through that same path and compared with the plaintext, so a fast but wrong
path cannot produce a number.

``threads`` is what a cell asks the engine for; ``threads_used`` is how many the batch really
runs on (``engine.threads_used``: the data path splits a batch only where it pays), and the CPU
share and cycles per byte per thread are taken over those.

The batch's buffers sit at fixed places in memory, the same in every process: page-aligned,
with each call's source and destination half a page apart (:func:`sector_buffers`). Where
``malloc`` puts a megabyte depends on the process: a plain Python process takes it from the heap
at whatever offset earlier allocations left, a Dask worker (whose nanny sets
``MALLOC_TRIM_THRESHOLD_``, which stops glibc raising its mmap threshold) maps each one afresh,
so all three started 16 bytes into a page. With source and destination at one offset within a
page, IPP's AES-XTS at 4 KiB sectors measured 7-11 % slower (paired medians 0.89-0.93 in three
sets of alternated runs on one busy machine; the other cells within noise): a difference
between a local and a distributed run of one cell that was about placement, not the cipher.
"""

from __future__ import annotations

import mmap
import os
from typing import Any

from simulator.bench.ceiling import SampleKey
from simulator.bench.contention import runnable_threads
from simulator.bench.datapath import DataPath, provenance, threads_used
from simulator.bench.grid import Cell
from simulator.bench.measure import measure
from simulator.bench.runners.base import RunContext, Runner, check_engines, engine_cannot_run
from simulator.bench.sizes import format_size, parse_size
from simulator.bench.spec import (
    ENGINES,
    OPS,
    SECTORS,
    Axis,
    CipherAxis,
    ExperimentSpec,
    Grid,
    Validator,
    choice,
    ranged,
    sector_size,
)

FIRST_SECTOR = 1 << 20  # a sector index past the first few, so tweaks are not trivially small
#: Where in its page each buffer starts: the plaintext and the decrypted copy at the start, the
#: ciphertext half a page on, so every call's source and destination are half a page apart.
PAGE_OFFSETS = {"plain": 0, "cipher": mmap.PAGESIZE // 2, "out": 0}


def sector_buffers(size: int) -> dict[str, memoryview]:
    """Writable ``size``-byte buffers at ``PAGE_OFFSETS`` (zeroed anonymous mappings, so where
    they sit does not depend on the allocator or on what the process allocated before)."""
    out = {}
    for name, offset in PAGE_OFFSETS.items():
        area = mmap.mmap(-1, size + offset)  # page-aligned; the view keeps it alive
        out[name] = memoryview(area)[offset:offset + size]
    return out


def _whole_sectors(v: Validator, axes: dict[str, list[Any]]) -> None:
    """Every batch is a whole number of sectors of every sector size, at most 256m."""
    for b in axes["batch"]:
        for ss in axes["sector_size"]:
            if b < ss or b % ss:
                raise v.err("grid.batch", f"a batch of {format_size(b)} is not a whole number "
                            f"of {ss}-byte sectors", "multiples of every sector_size")
        if b > 256 * 2**20:
            raise v.err("grid.batch", f"{format_size(b)} is too large", "up to 256m")


GRID = Grid((
    CipherAxis(baseline=True),
    Axis("sector_size", sector_size, (4096,), SECTORS),
    Axis("batch", parse_size, (2**20,), "bytes per engine call, e.g. '64k', '1m'",
         check=_whole_sectors),
    Axis("threads", ranged(1, 64), (1,), "1 to 64"),
    Axis("engine", choice(ENGINES), ("auto",), ", ".join(ENGINES)),
    Axis("op", choice(OPS), OPS, ", ".join(OPS)),
))


class ThroughputRunner(Runner):
    """Encrypt or decrypt ``batch`` bytes per call through ``engine`` and time it."""

    kind = "throughput"
    columns = ("engine_impl", "library", "library_version", "code_path", "threads_used",
               "rep", "calls", "bytes", "seconds", "cpu_seconds", "cpu_user", "cpu_sys",
               "cpu_util", "cpu_share", "cpu_stall", "mib_s", "mb_s", "gb_s")
    rate_column = "mib_s"
    split_column = "op"
    grid = GRID
    rated = True
    cipher_table = "rates_by_op"

    def check(self, spec: ExperimentSpec, cells: list[Cell], datapath: DataPath | None) -> None:
        """Refuse engines that cannot run here."""
        check_engines(cells, datapath)

    def unsupported(self, cells: list[Cell], datapath: DataPath | None) -> dict[str, str]:
        """Cells whose engine does not run their cipher (skipped, and said)."""
        return engine_cannot_run(cells, datapath)

    def ceiling_keys(self, cells: list[Cell]) -> set[SampleKey]:
        """One ceiling per cipher, key size, sector size, direction and runnable threads, and
        one thread's for a cell of several (its batch may run on one: threads_used)."""
        keys = set()
        for c in cells:
            base = (c["cipher"], c["key_bits"], c["sector_size"], c["op"])
            keys |= {(*base, runnable_threads(c["threads"])), (*base, 1)}
        return keys

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Verify a round trip, then time the cell's direction."""
        dp = ctx.datapath
        assert dp is not None
        p = cell.as_dict()
        spec = dp.cipher_spec(p["cipher"], p["key_bits"], p["sector_size"])
        engine = _engine(ctx, dp, p["engine"])
        key = dp.key_for(spec)
        batch, threads = p["batch"], p["threads"]
        n = batch // p["sector_size"]
        meta_size = int(getattr(spec, "metadata_size", 0))
        buffers = sector_buffers(batch)
        plain, cipher, out = buffers["plain"], buffers["cipher"], buffers["out"]
        plain[:] = os.urandom(batch)
        meta = bytearray(n * meta_size) if meta_size else None
        bind = getattr(engine, "bind", None)
        bound = bind(spec, key, threads) if callable(bind) else None  # keyed once, as the
                                                                       # volume's data path
        def enc(m: Any = meta) -> None:
            if bound is not None:
                bound.encrypt(plain, cipher, FIRST_SECTOR, m)
            else:
                engine.encrypt_sectors(spec, key, plain, cipher, FIRST_SECTOR, metadata=m,
                                       threads=threads)

        def dec(m: Any = meta) -> None:
            if bound is not None:
                bound.decrypt(cipher, out, FIRST_SECTOR, m)
            else:
                engine.decrypt_sectors(spec, key, cipher, out, FIRST_SECTOR, metadata=m,
                                       threads=threads)

        enc()
        dec()  # the very path that is timed must give the plaintext back
        if out != plain:
            raise RuntimeError(f"{cell.id}: decrypt(encrypt(x)) != x; refusing to time it")
        if p["cipher"] != "null" and cipher == plain:
            raise RuntimeError(f"{cell.id}: the ciphertext equals the plaintext")
        enc_meta = bytes(meta) if meta is not None else None
        if p["op"] == "encrypt":
            def call() -> None:
                enc()
        else:
            def call() -> None:
                dec(enc_meta)
        m = ctx.spec.measure
        # CPU per thread over the threads the batch really runs on: the data path splits a
        # batch only where it pays, and a 64 KiB batch asked for two threads runs on one
        used = threads_used(engine, spec, batch, threads)
        reps = measure(call, bytes_per_call=batch, warmup=m.warmup,
                       repetitions=m.repetitions, min_time=m.min_time, threads=used)
        # the backend that ran the cipher (auto/native: the one chosen for this spec), its
        # library, version and CPU code path
        ran = provenance(engine, spec)
        return [{**ran, "threads_used": used, **r.to_row()} for r in reps]


def _engine(ctx: RunContext, dp: DataPath, name: str) -> Any:
    """Engines are created once per run and reused across cells."""
    key = f"engine:{name}"
    if key not in ctx.cache:
        ctx.cache[key] = dp.get_engine(name)
    return ctx.cache[key]
