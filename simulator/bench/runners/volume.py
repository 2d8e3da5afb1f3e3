"""Volume: fio-like jobs through an EncryptedVolume, reporting BW, IOPS and clat percentiles.

A job is fio's ``rw`` (read, write, randread, randwrite, rw, randrw with ``rwmixread``),
``bs``, ``iodepth`` and ``size``.  The volume is filled first (so reads decrypt real data and
AEAD tags verify), then each repetition issues I/Os for at least ``min_time`` seconds
(time-based, as fio's ``runtime``).

``iodepth`` I/Os are submitted together, as one vectored request per direction
(``EncryptedVolume.writev`` / ``readintov``): sectors in short runs, wherever they lie, reach
the engine in one call (each with its own sector number), long contiguous runs are encrypted in
place, so a sequential job at iodepth N reaches the engine as one call of N x bs and a random
4k job at iodepth 16 as one call of 16 sectors.  Each I/O's completion latency (clat) runs from
the batch's submission to the end of the vectored request that carried it, so queueing shows
in the percentiles as it does in fio at iodepth > 1.  A volume without vectored I/O gets one
request per run of adjacent same-direction I/Os, completing one after another.
"""

from __future__ import annotations

import hashlib
import os
import time
from typing import Any

import numpy as np

from simulator.bench.ceiling import SampleKey
from simulator.bench.datapath import DataPath, provenance
from simulator.bench.grid import Cell
from simulator.bench.measure import Stopwatch, percentiles
from simulator.bench.runners.base import (
    RunContext,
    RunError,
    Runner,
    check_engines,
    engine_cannot_run,
)
from simulator.bench.sizes import MB, MIB, format_size, parse_size
from simulator.bench.spec import (
    ENGINES,
    FIO_RW,
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

FILL_CHUNK = 4 * MIB
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _job_fits(v: Validator, axes: dict[str, list[Any]]) -> None:
    """Block sizes are multiples of 512; the volume holds bs x iodepth, whole sectors, <= 2g."""
    for b in axes["bs"]:
        if b < 512 or b % 512:
            raise v.err("grid.bs", f"{b}: fio-style direct I/O needs multiples of 512",
                        "multiples of 512 bytes")
    for s in axes["size"]:
        for b in axes["bs"]:
            for d in axes["iodepth"]:
                if b * d > s:
                    raise v.err("grid.size", f"{format_size(s)} is smaller than bs {format_size(b)}"
                                f" x iodepth {d}", "size >= bs * iodepth")
        for ss in axes["sector_size"]:
            if s % ss:
                raise v.err("grid.size", f"{s} is not a whole number of {ss}-byte sectors",
                            "multiples of every sector_size")
        if s > 2**31:
            raise v.err("grid.size", f"{format_size(s)} is too large for memory", "up to 2g")


GRID = Grid((
    CipherAxis(baseline=True),
    Axis("sector_size", sector_size, (4096,), SECTORS),
    Axis("engine", choice(ENGINES), ("auto",), ", ".join(ENGINES)),
    Axis("rw", choice(FIO_RW), ("randread",), ", ".join(FIO_RW)),
    Axis("rwmixread", ranged(0, 100), (50,), "0 to 100 (percent reads, as fio)"),
    Axis("bs", parse_size, (4096,), "block sizes, e.g. '4k', '128k'"),
    Axis("iodepth", ranged(1, 4096), (1,), "1 to 4096 I/Os per engine call"),
    Axis("size", parse_size, (64 * 2**20,), "volume sizes, e.g. '64m'", check=_job_fits),
))


class VolumeRunner(Runner):
    """Time-based fio-style I/O through the encrypted volume."""

    kind = "volume"
    columns = ("engine_impl", "library", "library_version", "code_path", "op", "rep", "ios",
               "bytes", "seconds", "cpu_seconds", "cpu_user", "cpu_sys", "cpu_util",
               "cpu_share", "cpu_stall", "iops", "mib_s", "mb_s", "clat_mean_us",
               "clat_p50_us", "clat_p90_us", "clat_p99_us", "clat_p99_9_us")
    rate_column = "mib_s"
    split_column = "op"
    grid = GRID
    rated = True
    cipher_table = "io_rates"

    def check(self, spec: ExperimentSpec, cells: list[Cell], datapath: DataPath | None) -> None:
        """Refuse without EncryptedVolume or with an engine that cannot run here."""
        check_engines(cells, datapath)
        if datapath is not None and datapath.volume is None:
            raise RunError("kind 'volume' needs simulator.crypt.EncryptedVolume")

    def unsupported(self, cells: list[Cell], datapath: DataPath | None) -> dict[str, str]:
        """Cells whose engine does not run their cipher (skipped, and said)."""
        return engine_cannot_run(cells, datapath)

    def ceiling_keys(self, cells: list[Cell]) -> set[SampleKey]:
        """Reads are bounded by decryption, writes by encryption, of one sector."""
        keys = set()
        for c in cells:
            mix = c["rwmixread"]
            if mix > 0:
                keys.add((c["cipher"], c["key_bits"], c["sector_size"], "decrypt", 1))
            if mix < 100:
                keys.add((c["cipher"], c["key_bits"], c["sector_size"], "encrypt", 1))
        return keys

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Fill the volume, warm up, then run the job ``repetitions`` times."""
        dp = ctx.datapath
        assert dp is not None and dp.volume is not None
        p = cell.as_dict()
        spec = dp.cipher_spec(p["cipher"], p["key_bits"], p["sector_size"])
        vol = dp.volume(p["size"], spec, dp.key_for(spec), p["engine"])
        try:
            _fill(vol, p["size"])
            job = _Job(vol, p, seed=int(hashlib.sha256(cell.id.encode()).hexdigest()[:8], 16))
            m = ctx.spec.measure
            job.run_for(m.warmup)
            rows = []
            for rep in range(m.repetitions):
                job.reset_samples()
                with Stopwatch() as sw:
                    job.run_for(m.min_time)
                rows += job.rows(rep, sw.sample)
            impl = str(getattr(vol, "engine", p["engine"]))  # the backend the volume bound
        finally:
            close = getattr(vol, "close", None)
            if close:
                close()
        ran = {**provenance(dp.get_engine(impl), spec), "engine_impl": impl}
        for row in rows:
            row.update(ran)
        return rows


def _fill(vol: Any, size: int) -> None:
    """Write the whole volume once with random data (like fio's pre-read file layout)."""
    chunk = os.urandom(min(FILL_CHUNK, size))
    for off in range(0, size, len(chunk)):
        vol.write(off, memoryview(chunk)[: min(len(chunk), size - off)])


class _Job:
    """The I/O generator and its completion-latency samples."""

    def __init__(self, vol: Any, p: dict[str, Any], seed: int) -> None:
        self.vol = vol
        self.bs, self.depth, self.size = p["bs"], p["iodepth"], p["size"]
        self.random = p["rw"].startswith("rand")
        self.read_frac = p["rwmixread"] / 100.0
        self.blocks = self.size // self.bs
        self.rng = np.random.default_rng(seed)
        self.pos = 0
        self.wbuf = memoryview(bytearray(os.urandom(self.bs * self.depth)))
        self.rbuf = memoryview(bytearray(self.bs * self.depth))
        self.reset_samples()

    def reset_samples(self) -> None:
        self.clat: dict[str, list[float]] = {"read": [], "write": []}
        self.weight: dict[str, list[int]] = {"read": [], "write": []}

    def run_for(self, seconds: float) -> None:
        """Issue batches of ``iodepth`` I/Os until ``seconds`` have passed (at least one)."""
        end = time.perf_counter() + seconds
        while True:
            self.batch()
            if time.perf_counter() >= end:
                return

    def batch(self) -> None:
        d = self.depth
        if self.random:
            blocks = self.rng.integers(0, self.blocks, d)
        else:
            if self.pos + d > self.blocks:
                self.pos = 0
            blocks = np.arange(self.pos, self.pos + d)
            self.pos += d
        if self.read_frac >= 1.0:
            reads = np.ones(d, dtype=bool)
        elif self.read_frac <= 0.0:
            reads = np.zeros(d, dtype=bool)
        else:
            reads = self.rng.random(d) < self.read_frac
        bs, vol = self.bs, self.vol
        writev = getattr(vol, "writev", None)
        readintov = getattr(vol, "readintov", None)
        if writev is not None and readintov is not None:
            t0 = time.perf_counter()
            for op, mask in (("write", ~reads), ("read", reads)):
                idx = np.flatnonzero(mask)
                if not idx.size:
                    continue
                buf = self.wbuf if op == "write" else self.rbuf
                pieces = [(int(blocks[i]) * bs, buf[i * bs:(i + 1) * bs]) for i in idx.tolist()]
                if op == "write":
                    writev(pieces)
                else:
                    readintov(pieces)
                self.clat[op].append(time.perf_counter() - t0)
                self.weight[op].append(int(idx.size))
            return
        t0 = time.perf_counter()
        i = 0
        while i < d:  # merge adjacent same-direction I/Os into one request
            j = i + 1
            while j < d and reads[j] == reads[i] and blocks[j] == blocks[j - 1] + 1:
                j += 1
            off, n = int(blocks[i]) * bs, (j - i) * bs
            if reads[i]:
                vol.readinto(off, self.rbuf[i * bs: i * bs + n])
                op = "read"
            else:
                vol.write(off, self.wbuf[i * bs: i * bs + n])
                op = "write"
            self.clat[op].append(time.perf_counter() - t0)
            self.weight[op].append(j - i)
            i = j

    def rows(self, rep: int, sample: Any) -> list[dict[str, Any]]:
        """One row per direction that saw I/O in this repetition."""
        out = []
        for op in ("read", "write"):
            lat = np.asarray(self.clat[op])
            w = np.asarray(self.weight[op])
            ios = int(w.sum())
            if not ios:
                continue
            nbytes = ios * self.bs
            pct = percentiles(lat, w, PERCENTILES)
            secs = sample.seconds
            out.append({
                "op": op, "rep": rep, "ios": ios, "bytes": nbytes, "seconds": secs,
                "cpu_seconds": sample.cpu_seconds, "cpu_user": sample.cpu_user,
                "cpu_sys": sample.cpu_sys, "cpu_util": sample.cpu_seconds / secs,
                "cpu_share": sample.cpu_seconds / secs, "cpu_stall": sample.cpu_stall,
                "iops": ios / secs, "mib_s": nbytes / secs / MIB, "mb_s": nbytes / secs / MB,
                "clat_mean_us": float((lat * w).sum() / ios * 1e6),
                "clat_p50_us": pct[50.0] * 1e6, "clat_p90_us": pct[90.0] * 1e6,
                "clat_p99_us": pct[99.0] * 1e6, "clat_p99_9_us": pct[99.9] * 1e6,
            })
        return out
