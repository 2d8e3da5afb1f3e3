"""Sparse backing store: the "disk" under an EncryptedVolume.

Memory is spent only where sectors were written.  The device is cut into chunks (1 MiB by
default) created on first write and kept in a dict of chunk index -> chunk; a chunk's
ciphertext lives in a private anonymous mapping, so the kernel supplies a page only when it is
first written: a 1 MiB write that straddles two chunks costs 1 MiB, not 2.  AEAD metadata
(nonce ‖ tag, 28 bytes a sector) and a flag byte per sector sit beside it.  Unwritten (never
written or discarded) sectors read as zeros without decryption; discarding hands whole pages
back to the kernel (``MADV_DONTNEED``) and drops a chunk once none of its sectors holds data.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator

import numpy as np

DEFAULT_CHUNK_BYTES = 1 << 20
PAGE = mmap.PAGESIZE
_DONTNEED = getattr(mmap, "MADV_DONTNEED", None)


def _anonymous(size: int) -> mmap.mmap | bytearray:
    """Zero-filled memory whose pages become resident only when written."""
    try:
        return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE)
    except (AttributeError, OSError, ValueError):  # pragma: no cover - non-POSIX fallback
        return bytearray(size)


class Chunk:
    """One allocated chunk: ciphertext, metadata (or None) and a flag byte per sector."""

    __slots__ = ("data", "data_view", "meta", "meta_view", "written")

    def __init__(self, chunk_bytes: int, sectors: int, metadata_size: int) -> None:
        self.data = _anonymous(chunk_bytes)
        self.data_view = memoryview(self.data)
        self.meta = bytearray(sectors * metadata_size) if metadata_size else None
        self.meta_view = memoryview(self.meta) if self.meta is not None else None
        self.written = bytearray(sectors)


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
        self._ones = b"\x01" * self.sectors_per_chunk
        self._zeros = bytes(max(chunk_bytes, self.sectors_per_chunk * max(metadata_size, 1)))
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
            ch = self._chunks[idx] = Chunk(
                self.chunk_bytes, self.sectors_per_chunk, self.metadata_size
            )
        return ch

    @staticmethod
    def runs(ch: Chunk, start: int, stop: int) -> Iterator[tuple[int, int, bool]]:
        """Maximal runs (a, b, written) of sectors [start, stop) of a chunk."""
        flags = ch.written
        pos = start
        while pos < stop:
            want = 0 if flags[pos] else 1
            nxt = flags.find(want, pos, stop)
            end = stop if nxt < 0 else nxt
            yield pos, end, not want
            pos = end

    def mark_written(self, ch: Chunk, start: int, stop: int) -> None:
        """Flag sectors [start, stop) of a chunk as holding data."""
        newly = (stop - start) - ch.written.count(1, start, stop)
        ch.written[start:stop] = self._ones[: stop - start]
        self.sectors_allocated += newly

    def discard(self, first: int, count: int) -> int:
        """Return sectors to unwritten: their bytes read as zeros again and whole pages go
        back to the kernel; a chunk with no data left is dropped.  Returns how many sectors
        held data."""
        freed = 0
        size, msize = self.sector_size, self.metadata_size
        for idx, start, stop, _ in self.spans(first, count):
            ch = self._chunks.get(idx)
            if ch is None:
                continue
            held = [(a, b) for a, b, written in self.runs(ch, start, stop) if written]
            if not held:
                continue
            freed += sum(b - a for a, b in held)
            ch.written[start:stop] = bytes(stop - start)
            if ch.written.find(1) < 0:
                del self._chunks[idx]
                continue
            for a, b in held:
                self._zero(ch, a * size, b * size)
                if ch.meta_view is not None:
                    ch.meta_view[a * msize : b * msize] = self._zeros[: (b - a) * msize]
        self.sectors_allocated -= freed
        return freed

    def _zero(self, ch: Chunk, lo: int, hi: int) -> None:
        """Zero bytes [lo, hi) of a chunk's data, releasing the whole pages inside."""
        plo, phi = -(-lo // PAGE) * PAGE, hi // PAGE * PAGE
        if _DONTNEED is not None and isinstance(ch.data, mmap.mmap) and phi > plo:
            ch.data.madvise(_DONTNEED, plo, phi - plo)
            ch.data_view[lo:plo] = self._zeros[: plo - lo]
            ch.data_view[phi:hi] = self._zeros[: hi - phi]
        else:
            ch.data_view[lo:hi] = self._zeros[: hi - lo]

    def is_written(self, sector: int) -> bool:
        """Whether a sector holds data."""
        idx, pos = divmod(sector, self.sectors_per_chunk)
        ch = self._chunks.get(idx)
        return bool(ch is not None and ch.written[pos])

    # ------------------------------------------------------------------ accounting
    @property
    def chunks_allocated(self) -> int:
        """Number of chunks in memory."""
        return len(self._chunks)

    @property
    def mapped_bytes(self) -> int:
        """Address space of the chunks (an upper bound of their memory)."""
        spc = self.sectors_per_chunk
        return len(self._chunks) * (self.chunk_bytes + spc * self.metadata_size + spc)

    @property
    def resident_bytes(self) -> int:
        """Memory the stored data takes: the pages holding written sectors (the kernel
        supplies no others), plus metadata and flags (dict overhead excluded)."""
        spc = self.sectors_per_chunk
        side = len(self._chunks) * (spc * self.metadata_size + spc)
        if self.sector_size >= PAGE:
            return self.sectors_allocated * self.sector_size + side
        per_page = PAGE // self.sector_size
        pages = 0
        for ch in self._chunks.values():
            flags = np.frombuffer(ch.written, dtype=np.uint8).reshape(-1, per_page)
            pages += int(flags.any(axis=1).sum())
        return pages * PAGE + side

    def clear(self) -> None:
        """Drop everything (the volume is closed)."""
        self._chunks.clear()
        self.sectors_allocated = 0
