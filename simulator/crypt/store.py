"""Sparse backing store: the "disk" under an EncryptedVolume.

Memory is spent only where sectors were written.  The device is cut into chunks (1 MiB by
default) created on first write and kept in a dict of chunk index -> chunk; the ciphertext
lives in one private anonymous mapping the size of the device (address space only,
MAP_NORESERVE: the kernel supplies a page when it is first written), a chunk being its slice,
so a 1 MiB write that straddles two chunks costs 1 MiB, not 2, and scattered writes do not
run into the kernel's limit on mappings (vm.max_map_count).  AEAD metadata
(nonce ‖ tag, 28 bytes a sector) is kept only for the spans of sectors written, so a lone
4 KiB write costs 28 bytes of metadata, not the chunk's 7 KiB; a bit per sector says
which hold data.  With an arena and AEAD each chunk also has a 16-byte metadata record
(one more lazily mapped mapping) naming where its metadata spans lie, kept current by the
spans themselves, so the native vectored I/O reads and writes nonce ‖ tag with no Python
object touched per piece.  Unwritten (never
written or discarded) sectors read as zeros without decryption; discarding hands whole pages
back to the kernel (``MADV_DONTNEED``) and drops a chunk once none of its sectors holds data.
"""

from __future__ import annotations

import bisect
import ctypes
import importlib
import mmap
import platform
import struct
import sys
from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

DEFAULT_CHUNK_BYTES = 1 << 20
PAGE = mmap.PAGESIZE
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


#: devices larger than this get a mapping per chunk instead of one reservation
_ARENA_MAX = 64 << 40


def _noreserve() -> int:
    """MAP_NORESERVE: the mmap module names it only from Python 3.12 (``mmap.MAP_NORESERVE``);
    before, the native extension's (this system's <sys/mman.h>), else Linux's own value by
    architecture (asm-generic/mman-common.h 0x4000; 0x40 on PowerPC and SPARC, 0x400 on MIPS
    and Xtensa, 0x10000 on Alpha).  Without it the kernel's overcommit heuristic refuses a
    mapping larger than memory and swap, so a 200 GiB volume got no arena on Python 3.11: no
    native vectored I/O, and a mapping per chunk, up to vm.max_map_count."""
    flag = getattr(mmap, "MAP_NORESERVE", None)
    if flag is not None:
        return int(flag)
    try:
        native: Any = importlib.import_module("simulator.crypt._native")
    except ImportError:
        native = None
    flag = getattr(native, "MAP_NORESERVE", None)
    if flag is not None:
        return int(flag)
    if not sys.platform.startswith("linux"):
        return 0
    machine = platform.machine().lower()
    for prefixes, value in ((("ppc", "powerpc", "sparc"), 0x40), (("mips", "xtensa"), 0x400),
                            (("alpha",), 0x10000)):
        if machine.startswith(prefixes):
            return value
    return 0x4000


def _reserve(size: int) -> mmap.mmap | None:
    """Address space for a whole device, or None where the kernel refuses (strict
    overcommit, 32-bit)."""
    flags = mmap.MAP_PRIVATE | _noreserve()
    try:
        return mmap.mmap(-1, size, flags=flags)
    except (AttributeError, OSError, ValueError, OverflowError):
        return None


def _anonymous(size: int) -> mmap.mmap | bytearray:
    """Zero-filled memory whose pages become resident only when written."""
    try:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX fallback
        return bytearray(size)


#: a chunk's metadata record, read by the native vectored I/O (``_native.VolumeMap``) so a
#: piece touches no Python object: (address, first sector, sectors) of its one span, or with
#: ``_MULTI`` in the last field the address of a table of such triples, one per span (sorted)
_RECORD = struct.Struct("<QII")
RECORD_BYTES = _RECORD.size
_MULTI = 1 << 31


def _address(buf: bytearray) -> int:
    """Where a bytearray's bytes are (stable: the spans' bytearrays are never resized)."""
    return ctypes.addressof(ctypes.c_char.from_buffer(buf))


class _MetaSpans:
    """AEAD metadata of the written sectors of one chunk: sorted, disjoint spans of sectors
    (first sector, bytes), so sectors written far apart cost 28 bytes each and a sequential
    run is one span (grown with headroom, so appending copies little).  The first span sits
    in slots of its own: most chunks of a scattered workload have one.  With ``rec`` (the
    store's record mapping, shared) every change of spans is published at ``rec_at`` there
    (``_RECORD``), so native code finds the bytes without walking these objects.  (An offset,
    not a memoryview slice of its own: 184 bytes a chunk, 4 % of the data under 4 KiB writes
    scattered over a large volume.)"""

    __slots__ = ("buf", "limit", "lo", "more", "msize", "rec", "rec_at", "table")

    def __init__(self, msize: int, limit: int, rec: memoryview | None = None,
                 rec_at: int = 0) -> None:
        self.msize, self.limit = msize, limit
        self.lo = 0
        self.buf: bytearray | None = None
        self.more: list[tuple[int, bytearray]] | None = None
        self.rec, self.rec_at = rec, rec_at
        self.table: bytearray | None = None  # the record's span table (kept alive here)

    @property
    def spans(self) -> list[tuple[int, bytearray]]:
        """All spans, sorted by first sector."""
        if self.buf is None:
            return []
        return [(self.lo, self.buf), *(self.more or ())]

    def _store(self, spans: list[tuple[int, bytearray]]) -> None:
        self.lo, self.buf = spans[0] if spans else (0, None)
        self.more = spans[1:] or None
        if self.rec is not None:
            self._publish(spans)

    def _publish(self, spans: list[tuple[int, bytearray]]) -> None:
        """Write the record: the one span inline, or a table of all of them."""
        rec, msize = self.rec, self.msize
        assert rec is not None
        if len(spans) == 1:
            lo, buf = spans[0]
            _RECORD.pack_into(rec, self.rec_at, _address(buf), lo, len(buf) // msize)
            self.table = None
            return
        table = bytearray(RECORD_BYTES * len(spans))
        for i, (lo, buf) in enumerate(spans):
            _RECORD.pack_into(table, i * RECORD_BYTES, _address(buf), lo, len(buf) // msize)
        _RECORD.pack_into(rec, self.rec_at, _address(table), 0, _MULTI | len(spans))
        self.table = table  # the old table goes only after the record no longer names it

    def unpublish(self) -> None:
        """The chunk is dropped: its record names nothing again."""
        if self.rec is not None:
            _RECORD.pack_into(self.rec, self.rec_at, 0, 0, 0)

    def nbytes(self) -> int:
        return sum(len(buf) for _, buf in self.spans)

    def view(self, start: int, stop: int) -> memoryview:
        """Writable metadata of sectors [start, stop)."""
        msize, buf = self.msize, self.buf
        if buf is not None:
            lo = self.lo
            if lo <= start and stop <= lo + len(buf) // msize:  # fast path: the first span
                return memoryview(buf)[(start - lo) * msize : (stop - lo) * msize]
            more = self.more
            if more:
                i = bisect.bisect_right(more, start, key=_first_of) - 1
                if i >= 0:
                    lo, buf = more[i]
                    if stop <= lo + len(buf) // msize:
                        return memoryview(buf)[(start - lo) * msize : (stop - lo) * msize]
        return self._grow(start, stop)

    def _grow(self, start: int, stop: int) -> memoryview:
        """Cover [start, stop): merge the spans it touches into one (with headroom)."""
        msize, spans = self.msize, self.spans
        touching = [sp for sp in spans if sp[0] <= stop and start <= sp[0] + len(sp[1]) // msize]
        new_lo = min([start] + [sp[0] for sp in touching])
        new_hi = max([stop] + [sp[0] + len(sp[1]) // msize for sp in touching])
        rest = [sp for sp in spans if sp not in touching]
        if len(rest) >= _MAX_SPANS:  # densely scattered: one buffer for the whole chunk
            touching, rest = spans, []
            new_lo, new_hi = 0, self.limit
        elif touching:  # growing: leave headroom up to the next span (or the chunk's end)
            later = [sp[0] for sp in rest if sp[0] >= new_hi]
            room = min(later) if later else self.limit
            new_hi = min(room, max(new_hi, new_lo + 2 * (new_hi - new_lo)))
        merged = bytearray((new_hi - new_lo) * msize)
        for lo, buf in touching:
            merged[(lo - new_lo) * msize : (lo - new_lo) * msize + len(buf)] = buf
        rest.append((new_lo, merged))
        rest.sort(key=_first_of)
        self._store(rest)
        return memoryview(merged)[(start - new_lo) * msize : (stop - new_lo) * msize]

    def copy(self, start: int, stop: int, out: memoryview) -> None:
        """Metadata of sectors [start, stop) into ``out`` (zeros where none is kept)."""
        msize = self.msize
        out[:] = bytes(len(out))
        for lo, buf in self.spans:
            a, b = max(start, lo), min(stop, lo + len(buf) // msize)
            if a < b:
                out[(a - start) * msize : (b - start) * msize] = \
                    memoryview(buf)[(a - lo) * msize : (b - lo) * msize]

    def zero(self, start: int, stop: int) -> None:
        """Forget the metadata of sectors [start, stop)."""
        msize = self.msize
        for lo, buf in self.spans:
            a, b = max(start, lo), min(stop, lo + len(buf) // msize)
            if a < b:
                buf[(a - lo) * msize : (b - lo) * msize] = bytes((b - a) * msize)


#: a chunk keeps at most this many metadata spans; then (at least 17 sectors, 68 KiB, written
#: far apart) one buffer covers the whole chunk (7 KiB for 256 sectors)
_MAX_SPANS = 16


def _first_of(span: tuple[int, bytearray]) -> int:
    return span[0]


class Chunk:
    """One allocated chunk: where its ciphertext lives, its AEAD metadata (None without
    AEAD) and ``written``, a bitmap whose bit i (byte i // 8, bit i % 8) says whether sector i
    holds data (32 bytes for 256 sectors): the chunk's slice of the store's one bitmap where
    the store has an arena (so the native vectored I/O, ``_native.VolumeMap``, tests and sets
    it without touching this object), else a bytearray of its own.  The shared bitmap is
    kept as (mapping, offset), its slice made when asked for: a memoryview slice of its own
    took 200 bytes a chunk, 4 % of the data under 4 KiB writes scattered over a volume."""

    __slots__ = ("_bits", "_bits_at", "_stride", "base", "data", "meta")

    def __init__(self, data: mmap.mmap | bytearray | None, base: int, sectors: int,
                 metadata_size: int, bitmap: memoryview | None = None, bitmap_at: int = 0,
                 record: memoryview | None = None, record_at: int = 0) -> None:
        self.data = data  # a mapping of its own, or None: bytes [base, +chunk) of the arena
        self.base = base
        self.meta = _MetaSpans(metadata_size, sectors, record, record_at) \
            if metadata_size else None
        self._stride = -(-sectors // 8)
        self._bits: memoryview | bytearray = \
            bitmap if bitmap is not None else bytearray(self._stride)
        self._bits_at = bitmap_at if bitmap is not None else -1  # -1: a bytearray of its own

    @property
    def written(self) -> memoryview | bytearray:
        """The chunk's written-bitmap (writable: a slice of the store's, or its own)."""
        at = self._bits_at
        return self._bits if at < 0 else self._bits[at : at + self._stride]

    @property
    def has_meta(self) -> bool:
        """Whether sectors of this chunk carry metadata (AEAD)."""
        return self.meta is not None

    def meta_span(self, start: int, stop: int) -> memoryview:
        """Writable metadata of sectors [start, stop) (kept from now on)."""
        assert self.meta is not None
        return self.meta.view(start, stop)

    def meta_copy(self, start: int, stop: int, out: memoryview) -> None:
        """Metadata of sectors [start, stop) into ``out`` (zeros where none is kept)."""
        assert self.meta is not None
        self.meta.copy(start, stop, out)

    def meta_zero(self, start: int, stop: int) -> None:
        """Forget the metadata of sectors [start, stop) (discarded)."""
        if self.meta is not None:
            self.meta.zero(start, stop)


@lru_cache(maxsize=8)
def _zeros(n: int) -> bytes:
    """``n`` zero bytes, shared by every store of that geometry (immutable, so safe to share;
    a per-volume copy cost a fleet about 1 MiB of allocation per task)."""
    return bytes(n)


class SparseStore:
    """Chunked sparse storage of ``sector_count`` sectors of ``sector_size`` bytes."""

    def __init__(
        self,
        sector_size: int,
        sector_count: int,
        metadata_size: int = 0,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        if chunk_bytes < sector_size or chunk_bytes % sector_size or chunk_bytes % PAGE:
            raise ValueError(
                "chunk_bytes must be a multiple of the sector size and of the page size"
            )
        self.sector_size = sector_size
        self.sector_count = sector_count
        self.metadata_size = metadata_size
        self.sectors_per_chunk = chunk_bytes // sector_size
        self.chunk_bytes = chunk_bytes
        self._chunks: dict[int, Chunk] = {}
        chunks = -(-sector_count // self.sectors_per_chunk)
        self._arena = _reserve(chunks * chunk_bytes) if chunks * chunk_bytes <= _ARENA_MAX \
            else None
        self._arena_view = memoryview(self._arena) if self._arena is not None else None
        #: with an arena, every chunk's written-bitmap lives in one mapping, ``bitmap_stride``
        #: bytes a chunk, and with AEAD its metadata record (``_RECORD``) in another; both are
        #: indexed by the chunk's *slot*, handed out densely as chunks are created
        #: (``slots[idx]``, 0: no chunk), so that chunks scattered over a large device touch
        #: pages of them only as many as they fill: indexed by chunk, 4 KiB writes scattered
        #: over 200 GiB touched a bitmap page each (1.74x the data at 512-byte sectors)
        self.bitmap_stride = -(-self.sectors_per_chunk // 8)
        self._bitmap = _reserve(chunks * self.bitmap_stride) if self._arena is not None \
            else None
        self._bitmap_view = memoryview(self._bitmap) if self._bitmap is not None else None
        self._records = _reserve(chunks * RECORD_BYTES) \
            if self._arena is not None and metadata_size else None
        self._records_view = memoryview(self._records) if self._records is not None else None
        self._slots = _reserve(chunks * 4) if self._arena is not None else None
        self._slots_view = memoryview(self._slots).cast("I") if self._slots is not None \
            else None
        self._free_slots: list[int] = []  # of dropped chunks (their bitmap and record zero)
        self._next_slot = 1
        if self._arena is not None and (self._bitmap is None or self._slots is None or
                                        (metadata_size and self._records is None)):
            # a reservation refused after the arena's (a mapping limit, strict overcommit):
            # all of them or none, else chunks would share the first bitmap and record
            self._arena = self._bitmap = self._records = self._slots = None
            self._arena_view = self._bitmap_view = self._records_view = None
            self._slots_view = None
        self._zeros = _zeros(max(chunk_bytes, self.sectors_per_chunk * max(metadata_size, 1)))
        self.sectors_allocated = 0

    # ------------------------------------------------------------------ geometry
    def spans(self, first: int, count: int) -> Iterator[tuple[int, int, int, int]]:
        """Split sectors [first, first+count) by chunk: (chunk index, start, stop, offset)
        where start/stop are sector indices inside the chunk and offset the position of the
        span's first sector relative to ``first``."""
        spc = self.sectors_per_chunk
        pos, end = first, first + count
        while pos < end:
            idx, start = divmod(pos, spc)
            stop = min(spc, start + end - pos)
            yield idx, start, stop, pos - first
            pos += stop - start

    def chunk(self, idx: int) -> Chunk | None:
        """The chunk if allocated."""
        return self._chunks.get(idx)

    def chunk_for_write(self, idx: int) -> Chunk:
        """The chunk, created (zero-filled, no page resident yet) on first use."""
        ch = self._chunks.get(idx)
        if ch is None:
            arena = self._arena_view is not None
            bits, recs, slots = self._bitmap_view, self._records_view, self._slots_view
            stride = self.bitmap_stride
            slot = 0
            if slots is not None:
                slot = self._free_slots[-1] if self._free_slots else self._next_slot
            at = max(slot - 1, 0)
            ch = Chunk(
                None if arena else _anonymous(self.chunk_bytes),
                idx * self.chunk_bytes if arena else 0, self.sectors_per_chunk, self.metadata_size,
                bits, at * stride, recs, at * RECORD_BYTES,
            )
            if slots is not None:  # taken once the chunk exists; published last
                if self._free_slots:
                    self._free_slots.pop()
                else:
                    self._next_slot += 1
                slots[idx] = slot
            self._chunks[idx] = ch
        return ch

    @staticmethod
    def flags(ch: Chunk) -> int:
        """A chunk's written-bitmap as an int (bit i: sector i holds data)."""
        return int.from_bytes(ch.written, "little")

    @staticmethod
    def all_written(ch: Chunk, start: int, stop: int) -> bool:
        """Whether every sector of [start, stop) of a chunk holds data."""
        if stop - start == 1:
            return bool(ch.written[start >> 3] >> (start & 7) & 1)
        mask = ((1 << (stop - start)) - 1) << start
        return int.from_bytes(ch.written, "little") & mask == mask

    @staticmethod
    def runs(ch: Chunk, start: int, stop: int) -> Iterator[tuple[int, int, bool]]:
        """Maximal runs (a, b, written) of sectors [start, stop) of a chunk."""
        flags = int.from_bytes(ch.written, "little")
        pos = start
        while pos < stop:
            rest = flags >> pos
            written = bool(rest & 1)
            change = (~rest if written else rest) & ((1 << (stop - pos)) - 1)
            end = stop if change == 0 else pos + (change & -change).bit_length() - 1
            yield pos, end, written
            pos = end

    def mark_written(self, ch: Chunk, start: int, stop: int) -> None:
        """Flag sectors [start, stop) of a chunk as holding data."""
        bits = ch.written
        if stop - start == 1:  # the usual case: one sector
            byte, bit = start >> 3, 1 << (start & 7)
            if not bits[byte] & bit:
                bits[byte] |= bit
                self.sectors_allocated += 1
            return
        flags = int.from_bytes(bits, "little")
        mask = ((1 << (stop - start)) - 1) << start
        newly = (stop - start) - (flags & mask).bit_count()
        if newly:
            bits[:] = (flags | mask).to_bytes(len(bits), "little")
            self.sectors_allocated += newly

    def discard(self, first: int, count: int) -> int:
        """Return sectors to unwritten: their bytes read as zeros again and whole pages go
        back to the kernel; a chunk with no data left is dropped.  Returns how many sectors
        held data."""
        freed = 0
        size = self.sector_size
        for idx, start, stop, _ in self.spans(first, count):
            ch = self._chunks.get(idx)
            if ch is None:
                continue
            held = [(a, b) for a, b, written in self.runs(ch, start, stop) if written]
            if not held:
                continue
            freed += sum(b - a for a, b in held)
            flags = self.flags(ch) & ~(((1 << (stop - start)) - 1) << start)
            ch.written[:] = flags.to_bytes(len(ch.written), "little")
            if not flags:
                del self._chunks[idx]
                self._release(idx, ch)
                continue
            for a, b in held:
                self._zero(ch, a * size, b * size)
                ch.meta_zero(a, b)
        self.sectors_allocated -= freed
        return freed

    def data_view(self, ch: Chunk) -> memoryview:
        """A chunk's ciphertext as a writable view."""
        if ch.data is None:
            assert self._arena_view is not None
            return self._arena_view[ch.base : ch.base + self.chunk_bytes]
        return memoryview(ch.data)

    def _release(self, idx: int, ch: Chunk) -> None:
        """A dropped chunk's pages go back to the kernel (they read as zeros again); its
        slot, bitmap zeroed and record cleared, is free for the next chunk created."""
        if ch.meta is not None:
            ch.meta.unpublish()
        self._zero(ch, 0, self.chunk_bytes)
        if self._slots_view is not None:
            slot = self._slots_view[idx]
            self._slots_view[idx] = 0
            ch.written[:] = bytes(len(ch.written))
            self._free_slots.append(slot)

    def _zero(self, ch: Chunk, lo: int, hi: int) -> None:
        """Zero bytes [lo, hi) of a chunk's data, releasing the whole pages inside."""
        plo, phi = -(-lo // PAGE) * PAGE, hi // PAGE * PAGE
        view = self.data_view(ch)
        if ch.data is None and self._arena is not None and _DONTNEED is not None and phi > plo:
            self._arena.madvise(_DONTNEED, ch.base + plo, phi - plo)
            view[lo:plo] = self._zeros[: plo - lo]
            view[phi:hi] = self._zeros[: hi - phi]
        elif _DONTNEED is not None and isinstance(ch.data, mmap.mmap) and phi > plo:
            ch.data.madvise(_DONTNEED, plo, phi - plo)
            view[lo:plo] = self._zeros[: plo - lo]
            view[phi:hi] = self._zeros[: hi - phi]
        else:
            view[lo:hi] = self._zeros[: hi - lo]

    def written_runs(self) -> Iterator[tuple[int, int]]:
        """(first sector, count) of each maximal run of written sectors within a chunk, in
        sector order (runs meeting at a chunk boundary are given apart)."""
        spc = self.sectors_per_chunk
        for idx in sorted(self._chunks):
            base = idx * spc
            stop = min(spc, self.sector_count - base)
            for a, b, written in self.runs(self._chunks[idx], 0, stop):
                if written:
                    yield base + a, b - a

    def is_written(self, sector: int) -> bool:
        """Whether a sector holds data."""
        idx, pos = divmod(sector, self.sectors_per_chunk)
        ch = self._chunks.get(idx)
        return bool(ch is not None and ch.written[pos >> 3] >> (pos & 7) & 1)

    # ------------------------------------------------------------------ accounting
    @property
    def chunks_allocated(self) -> int:
        """Number of chunks in memory."""
        return len(self._chunks)

    @property
    def mapped_bytes(self) -> int:
        """Address space of the chunks (an upper bound of their memory)."""
        spc = self.sectors_per_chunk
        return len(self._chunks) * (self.chunk_bytes + -(-spc // 8) + self._record_bytes) \
            + self._meta_bytes()

    @property
    def _record_bytes(self) -> int:
        return RECORD_BYTES if self._records is not None else 0

    def _meta_bytes(self) -> int:
        return sum(ch.meta.nbytes() for ch in self._chunks.values() if ch.meta is not None) \
            if self.metadata_size else 0

    @property
    def resident_bytes(self) -> int:
        """Memory the stored data takes: the pages holding written sectors (the kernel
        supplies no others), plus metadata and flags (dict overhead excluded)."""
        spc = self.sectors_per_chunk
        side = len(self._chunks) * (-(-spc // 8) + self._record_bytes) + self._meta_bytes()
        if self.sector_size >= PAGE:
            return self.sectors_allocated * self.sector_size + side
        per_page = PAGE // self.sector_size
        pages = 0
        for ch in self._chunks.values():
            flags = np.unpackbits(np.frombuffer(ch.written, dtype=np.uint8), bitorder="little")
            pages += int(flags[:spc].reshape(-1, per_page).any(axis=1).sum())
        return pages * PAGE + side

    def clear(self) -> None:
        """Drop everything (the volume is closed): every page goes back to the kernel."""
        if self._arena is not None and _DONTNEED is not None and self._chunks:
            self._arena.madvise(_DONTNEED, 0, len(self._arena))
        for idx, ch in self._chunks.items():  # the shared bitmap must read as unwritten again
            ch.written[:] = bytes(len(ch.written))
            if ch.meta is not None:
                ch.meta.unpublish()
            if self._slots_view is not None:
                self._slots_view[idx] = 0
        self._chunks.clear()
        self._free_slots, self._next_slot = [], 1
        self.sectors_allocated = 0
