"""EncryptedVolume: a block device encrypted sector by sector, as dm-crypt would.

Byte-addressed ``write``/``read`` at any offset and length (partial sectors are read, patched
and re-encrypted), whole runs of sectors go to the engine in one call per backing chunk, and
the ciphertext lives in a :class:`~simulator.crypt.store.SparseStore` so a 200 GiB volume
costs memory only for what was written.  With an AEAD spec a sector that was tampered with,
replaced or moved fails its tag and ``read`` raises :class:`IntegrityError` (``EIO``) naming
it; XTS returns garbage silently, which is the difference users compare.
"""

from __future__ import annotations

import functools
import itertools
import operator
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from . import engines as _engines
from .engines import Engine, SelectingEngine, _byte_view, get_engine
from .errors import IntegrityError, VolumeRangeError
from .spec import CipherSpec
from .store import DEFAULT_CHUNK_BYTES, SparseStore


@dataclass(frozen=True)
class VolumeStats:
    """A snapshot of a volume's counters (user bytes, engine sectors, memory)."""

    bytes_written: int
    bytes_read: int
    write_requests: int
    read_requests: int
    sectors_encrypted: int
    sectors_decrypted: int
    rmw_sectors: int
    bytes_discarded: int
    flushes: int
    integrity_errors: int
    raw_writes: int
    sectors_allocated: int
    chunks_allocated: int
    resident_bytes: int
    mapped_bytes: int

    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict (results files)."""
        return asdict(self)


_COUNTERS = (
    "bytes_written", "bytes_read", "write_requests", "read_requests", "sectors_encrypted",
    "sectors_decrypted", "rmw_sectors", "bytes_discarded", "flushes", "integrity_errors",
    "raw_writes",
)


#: reads up to this size decrypt into a per-volume buffer that is reused (then one copy out):
#: allocating and freeing two 1 MiB buffers per read costs more than the decryption.
_SCRATCH_MAX = 16 << 20

#: vectored writes into a store holding at least this much data stream their short runs into
#: it past the caches (``_native.VolumeMap.stream``): a random piece of it is seldom cached,
#: and a store to an uncached line waits for the line to be read first.  Where it pays: 64
#: random 4 KiB pieces of a fully written store, IPP on Zen 5 (L2 2 MiB a core, L3 32 MiB),
#: GB/s streamed against in place: 8 MiB XTS 13.5 / 14.6, GCM 10.4 / 11.1; 16 MiB XTS 13.0 /
#: 11.9, GCM 10.5 / 8.9; 32 MiB 13.1 / 9.9, 10.1 / 8.4.  Sequential 1 MiB I/O over 16 MiB
#: (which then takes the scattered loop, see VolumeMap.stream) is no slower: XTS write / read
#: 17.9 / 17.2 against 17.3 / 16.2, GCM 11.9 / 14.2 against 11.8 / 9.6
_STREAM_ABOVE = 16 << 20

#: the largest chunk a store takes (a chunk's bitmap and metadata are allocated whole)
_CHUNK_MAX = 1 << 30

#: vectored I/O: contiguous runs of at least this many sectors go to the engine in place (one
#: call per chunk span); shorter runs (random I/O) are gathered, whatever their positions, into
#: one engine call with a sector number per sector.
_GATHER_BELOW = 16

_Run = tuple[int, memoryview]  # (first sector, whole sectors of data)


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    """Run a public method under the volume's lock (one request at a time).  The lock is
    re-entrant (a method may call another), so a call made from inside a native request on
    this thread (a finalizer that runs while it allocates) is refused instead: it would change
    the store under that request."""

    @functools.wraps(method)
    def run(self: EncryptedVolume, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            vec = self._vec
            if vec is not None and vec.busy:
                raise RuntimeError("the volume is in the middle of a request (called again "
                                   "from code that request ran, such as a finalizer)")
            return method(self, *args, **kwargs)

    return run


def _first(item: tuple[int, Any]) -> int:
    return item[0]


def _as_index(value: Any, what: str) -> int:
    """An offset, length or sector number as an int: ints and anything with ``__index__``
    (NumPy integers), as ``os.pwrite`` takes them; not bools, floats or strings."""
    if type(value) is int:
        return value
    if isinstance(value, bool):
        raise VolumeRangeError(f"{what} must be an int, not bool")
    try:
        return operator.index(value)
    except TypeError:
        raise VolumeRangeError(f"{what} must be an int, not {type(value).__name__}") from None


class EncryptedVolume:
    """An encrypted, sparse, in-memory block device of ``size_bytes`` bytes.

    Safe under concurrent I/O: requests are serialised by a per-volume lock, so readers and
    writers never see another request's data or a torn sector and overlapping writes land
    whole, one after the other; a single request is spread over ``threads`` workers by the
    engine instead.  The key is bound once (``engine.bind``) into a sector cipher.
    """

    def __init__(
        self,
        size_bytes: int,
        spec: CipherSpec | str,
        key: Any,
        engine: str | Engine = "auto",
        threads: int = 1,
        *,
        chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    ) -> None:
        spec = CipherSpec.parse(spec) if isinstance(spec, str) else spec
        if not isinstance(spec, CipherSpec):
            raise TypeError("spec must be a CipherSpec or a cipher string")
        size_bytes = _as_index(size_bytes, "size_bytes")
        if size_bytes <= 0 or size_bytes % spec.sector_size:
            raise VolumeRangeError(
                f"volume size {size_bytes} must be a positive multiple of the "
                f"{spec.sector_size}-byte sector"
            )
        if size_bytes // spec.sector_size > 1 << 64:  # sector numbers (tweaks, AAD) are 64-bit
            raise VolumeRangeError(
                f"volume size {size_bytes} holds {size_bytes // spec.sector_size} sectors; "
                f"sector numbers are 64-bit, so at most 2**64 sectors "
                f"({(1 << 64) * spec.sector_size} bytes at {spec.sector_size}-byte sectors)")
        try:
            threads = _as_index(threads, "threads")
        except VolumeRangeError:
            raise ValueError("threads must be an int >= 1") from None
        if threads < 1:
            raise ValueError("threads must be an int >= 1")
        chunk_bytes = _as_index(chunk_bytes, "chunk_bytes")
        if not spec.sector_size <= chunk_bytes <= _CHUNK_MAX:
            raise ValueError(f"chunk_bytes must be in {spec.sector_size}..{_CHUNK_MAX} "
                             f"(the sector size .. 1 GiB), not {chunk_bytes}")
        key_bytes = b"" if (spec.key_bytes == 0 and key is None) else spec.check_key(key)
        chosen = get_engine(engine)
        if isinstance(chosen, SelectingEngine):  # "auto"/"native": the backend for this spec
            chosen = chosen.engine_for(spec)
        self._engine = chosen
        self._cipher: Any = chosen.bind(spec, key_bytes, threads)
        #: The data key, for a persistence layer that wraps it (simulator.api.store); wiped
        #: by close(), never pickled (``__reduce__`` refuses).
        self._key = bytearray(key_bytes)
        self._lock = threading.RLock()
        self._spec = spec
        self._size = size_bytes
        self._sector = spec.sector_size
        self._meta = spec.metadata_size
        self._alg = spec.algorithm
        self._threads = threads
        self._store = SparseStore(spec.sector_size, size_bytes // spec.sector_size,
                                  spec.metadata_size, chunk_bytes)
        self._n = dict.fromkeys(_COUNTERS, 0)
        self._vec = _native_map(self._cipher, self._store)
        self._stream_from = _STREAM_ABOVE // spec.sector_size
        self._scratch = bytearray()
        self._closed = False

    # ------------------------------------------------------------------ properties
    @property
    def size(self) -> int:
        """Size in bytes."""
        return self._size

    @property
    def sector_size(self) -> int:
        """Sector size in bytes."""
        return self._sector

    @property
    def sector_count(self) -> int:
        """Number of sectors."""
        return self._size // self._sector

    @property
    def spec(self) -> CipherSpec:
        """The cipher configuration."""
        return self._spec

    @property
    def engine(self) -> str:
        """Name of the backend in use ("native-ipp", "native-openssl" or "cryptography")."""
        return self._engine.name

    @property
    def threads(self) -> int:
        """Worker threads per engine call."""
        return self._threads

    @property
    def stats(self) -> VolumeStats:
        """Counters and memory use, as a snapshot."""
        with self._lock:
            return self._stats()

    def _stats(self) -> VolumeStats:
        st = self._store
        return VolumeStats(
            **self._n,
            sectors_allocated=st.sectors_allocated,
            chunks_allocated=st.chunks_allocated,
            resident_bytes=st.resident_bytes,
            mapped_bytes=st.mapped_bytes,
        )

    @property
    def nonce_uses_left(self) -> int | None:
        """Sector writes left under this key before the random-nonce limit (None: no nonce)."""
        limit = self._spec.nonce_limit
        return None if limit is None else max(0, limit - self._n["sectors_encrypted"])

    @_locked
    def is_allocated(self, sector: int) -> bool:
        """Whether a sector holds data (written and not discarded)."""
        sector = _as_index(sector, "sector")
        self._check_sectors(sector, 1)
        return self._store.is_written(sector)

    # ------------------------------------------------------------------ I/O
    def write(self, offset: int, data: Any) -> int:
        """Write ``data`` at byte ``offset``; partial sectors are read-modified-written.

        Returns the number of bytes written.  Raises :class:`VolumeRangeError` (nothing
        changed) for a request outside the volume, :class:`IntegrityError` if a partial
        sector to be patched does not verify (nothing changed either).
        """
        with self._lock:
            vec = self._vec
            if vec is not None:  # whole sectors: one native call, bookkeeping included
                # (writev's counting, inline: a helper call here slowed random 4 KiB writes)
                try:
                    done = vec.writev(((offset, data),))
                except BaseException:
                    self._count_unreported()
                    raise
                if done is not None:
                    nbytes, _, sectors, fresh = done
                    if fresh:
                        self._allocated(fresh)
                    n = self._n
                    n["sectors_encrypted"] += sectors
                    n["write_requests"] += 1
                    n["bytes_written"] += nbytes
                    return int(nbytes)
            elif self._fast_write(offset, data):
                return len(data)
            return self._write(offset, data)

    def _one_chunk(self, offset: int, length: int) -> tuple[int, int, int] | None:
        """(chunk index, first, stop sector inside it) when [offset, offset+length) is whole
        sectors inside the volume and one chunk (the fast paths' condition), else None."""
        size = self._sector
        spc = self._store.sectors_per_chunk
        first, rem = divmod(offset, size)
        count = length // size
        idx, a = divmod(first, spc)
        if rem or not count or count * size != length or a + count > spc or offset < 0 \
                or offset + length > self._size:
            return None
        return idx, a, a + count

    def _fast_write(self, offset: Any, data: Any) -> bool:
        """Whole sectors of bytes/bytearray inside one chunk (random 4 KiB I/O) where there is
        no native map (the ``cryptography`` engine): straight into the store with one cipher
        call; False when the general path must run."""
        if type(offset) is not int or type(data) not in (bytes, bytearray) or self._closed:
            return False
        size, length, store = self._sector, len(data), self._store
        span = self._one_chunk(offset, length)
        if span is None:
            return False
        idx, a, b = span
        count, first = b - a, offset // size
        ch = store._chunks.get(idx) or store.chunk_for_write(idx)
        dst = store.data_view(ch)[a * size : b * size]
        meta = ch.meta
        n = self._n
        n["sectors_encrypted"] += count  # before the cipher: should it fail, nonces are spent
        self._cipher.encrypt(data, dst, first, None if meta is None else meta.view(a, b))
        store.mark_written(ch, a, b)
        n["write_requests"] += 1
        n["bytes_written"] += length
        return True

    def _write(self, offset: Any, data: Any) -> int:
        offset = _as_index(offset, "offset")
        view = _byte_view(data, "data", False)
        length = view.nbytes
        self._check_range(offset, length)
        if length:
            self._write_view(offset, view)
        self._n["write_requests"] += 1
        self._n["bytes_written"] += length
        return length

    @_locked
    def read(self, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset``; never-written sectors read as zeros.

        Raises :class:`IntegrityError` (``OSError``, ``EIO``) naming the first sector whose tag
        fails (AEAD specs); other sectors stay readable.
        """
        if self._vec is not None and not self._closed:
            done = self._native_read(((offset, length),), into=False)
            if done is not None:
                return done[0]  # type: ignore[no-any-return]
        offset, length = _as_index(offset, "offset"), _as_index(length, "length")
        self._check_range(offset, length)
        data = b""
        if length:
            size = self._sector
            first, last = offset // size, -(-(offset + length) // size)
            span = (last - first) * size
            if span <= _SCRATCH_MAX:  # decrypt into a reused buffer, copy out once
                if len(self._scratch) < span:
                    self._scratch = bytearray(span)
                buf = memoryview(self._scratch)[:span]
                self._decrypt_run(first, last - first, buf, zeroed=False)
            else:
                buf = memoryview(bytearray(span))
                self._decrypt_run(first, last - first, buf, zeroed=True)
            head = offset - first * size
            data = bytes(buf[head : head + length])
        self._n["read_requests"] += 1
        self._n["bytes_read"] += length
        return data

    def readinto(self, offset: int, buf: Any) -> int:
        """Read ``len(buf)`` bytes at ``offset`` into a writable buffer (no extra copy when
        the request is sector aligned).  Returns the number of bytes read."""
        with self._lock:
            if self._vec is not None and not self._closed:
                done = self._native_read(((offset, buf),), into=True)
                if done is not None:
                    return done  # type: ignore[no-any-return]
            elif type(buf) is bytearray and self._fast_read(offset, buf):
                return len(buf)
            return self._readinto(offset, buf)

    def _allocated(self, fresh: int) -> None:
        """Count ``fresh`` newly written sectors; the store's size also picks the native
        loops (``VolumeMap.stream``: past the caches, scattered runs and streamed writes)."""
        store = self._store
        store.sectors_allocated += fresh
        self._vec.stream = store.sectors_allocated >= self._stream_from

    def _count_unreported(self) -> None:
        """After a native write failed: count the sectors it wrote all the same (parts of a
        request whose pieces share sectors, written before a later part's cipher call failed;
        or everything, when only building the result failed), and every sector it put
        through the cipher, the failing part's too: their nonces count against the key's
        limit (``nonce_uses_left`` must never overstate what is left)."""
        lost, encrypted = self._vec.take_unreported()
        if lost:
            self._allocated(lost)
        self._n["sectors_encrypted"] += encrypted

    def _fast_read(self, offset: Any, out: bytearray) -> bool:
        """Whole written sectors inside one chunk into a bytearray with one cipher call where
        there is no native map; False when the general path must run (unwritten sectors,
        edges, other buffers)."""
        if type(offset) is not int or self._closed:
            return False
        size, length, store = self._sector, len(out), self._store
        span = self._one_chunk(offset, length)
        if span is None:
            return False
        idx, a, b = span
        count, first = b - a, offset // size
        ch = store.chunk(idx)
        if ch is None or not store.all_written(ch, a, b):
            return False
        src = store.data_view(ch)[a * size : b * size]
        meta = ch.meta
        try:
            self._cipher.decrypt(src, out, first, None if meta is None else meta.view(a, b))
        except IntegrityError:
            self._n["integrity_errors"] += 1
            raise
        n = self._n
        n["sectors_decrypted"] += count
        n["read_requests"] += 1
        n["bytes_read"] += length
        return True

    def _readinto(self, offset: Any, buf: Any) -> int:
        offset = _as_index(offset, "offset")
        view = _byte_view(buf, "buf", True)
        self._check_range(offset, view.nbytes)
        if view.nbytes:
            self._read_into(offset, view, zeroed=False)
        self._n["read_requests"] += 1
        self._n["bytes_read"] += view.nbytes
        return view.nbytes

    # ------------------------------------------------------------------ vectored I/O
    @_locked
    def writev(self, pieces: Iterable[tuple[int, Any]]) -> int:
        """Write several ``(offset, data)`` pieces as one request; returns the bytes written.

        Every piece is checked first, and partial sectors are read (and their tags verified)
        before anything is written, so a bad piece (:class:`VolumeRangeError`, ``TypeError``)
        or a partial sector that fails its tag (:class:`IntegrityError`) changes nothing.
        Pieces that overlap apply in order.  On a native engine, whole-sector pieces are one
        native call (``_native.VolumeMap``): the piece table is built in C and every sector
        encrypted straight into the store (short runs into a store larger than the caches
        through a bounce buffer, streamed past the caches: see ``_STREAM_ABOVE``); pieces
        that share sectors are written in parts, cut before each piece that meets an earlier
        one, so later pieces win there too.  Otherwise whole
        sectors in short runs, wherever they lie, go to the engine in one call (each keeps its
        own sector number) and long contiguous runs are encrypted in place, as :meth:`write`
        does.
        """
        vec = self._vec
        if vec is not None and not self._closed:
            # scattered pieces of a store larger than the caches are streamed past them
            # (set again here: a discard or the Python path may have changed the store)
            vec.stream = self._store.sectors_allocated >= self._stream_from
            try:
                done = vec.writev(pieces)  # whole sectors: one native call
            except BaseException:
                self._count_unreported()
                raise
            if done is not None:
                nbytes, count, sectors, fresh = done
                if fresh:
                    self._allocated(fresh)
                n = self._n
                n["sectors_encrypted"] += sectors
                n["write_requests"] += count
                n["bytes_written"] += nbytes
                return int(nbytes)
        reqs = self._vector(pieces, writable=False)
        size = self._sector
        live = [(off, v) for off, v in reqs if v.nbytes]
        if live:
            ordered = sorted(live, key=_first)
            if any(b[0] < a[0] + a[1].nbytes for a, b in itertools.pairwise(ordered)):
                for off, v in live:  # verify every partial sector first: no write can fail
                    self._edge_plaintext(off, off + v.nbytes, {})
                for off, v in live:  # then in order: later pieces win
                    self._write_view(off, v)
            elif all(off % size == 0 and v.nbytes % size == 0 for off, v in ordered):
                self._write_runs([(off // size, v) for off, v in ordered])
            else:
                self._writev_disjoint(ordered)
        total = sum(v.nbytes for _, v in reqs)
        self._n["write_requests"] += len(reqs)
        self._n["bytes_written"] += total
        return total

    @_locked
    def readv(self, pieces: Iterable[tuple[int, int]]) -> list[bytes]:
        """Read several ``(offset, length)`` pieces as one request; one bytes object each.

        Checks every piece first; sectors in short runs are decrypted in one engine call.
        Raises :class:`IntegrityError` naming the first sector whose tag fails.
        """
        self._check_open()
        done = self._native_read(pieces, into=False)
        if done is not None:
            return done  # type: ignore[no-any-return]
        items = self._pair_list(pieces)
        lengths = [_as_index(length, "length") for _, length in items]
        for (off, _), length in zip(items, lengths, strict=True):
            self._check_range(off, length)
        outs = [memoryview(bytearray(length)) for length in lengths]
        self._readv_into([(off, o) for (off, _), o in zip(items, outs, strict=True)])
        self._n["read_requests"] += len(items)
        self._n["bytes_read"] += sum(lengths)
        return [bytes(o) for o in outs]

    @_locked
    def readintov(self, pieces: Iterable[tuple[int, Any]]) -> int:
        """Read several ``(offset, buffer)`` pieces, each filling its writable buffer;
        returns the bytes read.  As :meth:`readv` otherwise."""
        self._check_open()
        done = self._native_read(pieces, into=True)
        if done is not None:
            return done  # type: ignore[no-any-return]
        reqs = self._vector(pieces, writable=True)
        self._readv_into(reqs)
        total = sum(v.nbytes for _, v in reqs)
        self._n["read_requests"] += len(reqs)
        self._n["bytes_read"] += total
        return total

    def _native_read(self, pieces: Any, into: bool) -> Any:
        """readv/readintov of whole-sector pieces in one native call (None: not handled here,
        nothing read).  Returns what the public method returns."""
        vec = self._vec
        if vec is None:
            return None
        try:
            done = vec.readintov(pieces) if into else vec.readv(pieces)
        except IntegrityError:
            self._n["integrity_errors"] += 1
            raise
        if done is None:
            return None
        outs, nbytes, sectors = done
        n = self._n
        n["sectors_decrypted"] += sectors
        n["read_requests"] += len(pieces)
        n["bytes_read"] += nbytes
        return int(nbytes) if into else outs

    @_locked
    def discard(self, offset: int, length: int) -> None:
        """Discard a byte range (like fallocate PUNCH_HOLE): whole sectors return to
        unwritten (memory freed with their chunk), partial sectors get zeros in the range."""
        offset, length = _as_index(offset, "offset"), _as_index(length, "length")
        self._check_range(offset, length)
        if not length:
            return
        size, end = self._sector, offset + length
        full_lo, full_hi = -(-offset // size), end // size
        patched = []
        for sec in self._edges(offset, end):
            if self._store.is_written(sec):
                buf = bytearray(size)
                self._decrypt_run(sec, 1, memoryview(buf), zeroed=True)
                lo, hi = max(offset, sec * size), min(end, (sec + 1) * size)
                buf[lo - sec * size : hi - sec * size] = bytes(hi - lo)
                patched.append((sec, buf))
        if full_hi > full_lo:
            self._store.discard(full_lo, full_hi - full_lo)
        for sec, buf in patched:
            self._encrypt_run(sec, memoryview(buf))
            self._n["rmw_sectors"] += 1
        self._n["bytes_discarded"] += length

    @_locked
    def flush(self) -> None:
        """Make writes durable: a no-op for the in-memory store (counted in stats)."""
        self._check_open()
        self._n["flushes"] += 1

    # ------------------------------------------------------------------ raw access
    @_locked
    def raw(self, first_sector: int, count: int) -> tuple[bytes, bytes | None]:
        """The stored ciphertext of sectors and their metadata (nonce ‖ tag per sector for
        AEAD, None otherwise); unwritten sectors are zeros."""
        first_sector, count = _as_index(first_sector, "first_sector"), _as_index(count, "count")
        self._check_sectors(first_sector, count)
        size, msize = self._sector, self._meta
        ct = bytearray(count * size)
        meta = bytearray(count * msize) if msize else None
        for idx, a, b, off in self._store.spans(first_sector, count):
            ch = self._store.chunk(idx)
            if ch is None:
                continue
            ct[off * size : (off + b - a) * size] = self._store.data_view(ch)[a * size : b * size]
            if meta is not None and ch.has_meta:
                ch.meta_copy(a, b, memoryview(meta)[off * msize : (off + b - a) * msize])
        return bytes(ct), (bytes(meta) if meta is not None else None)

    @_locked
    def written_extents(self) -> list[tuple[int, int]]:
        """(first sector, sector count) of the runs of sectors holding data, in order: with
        ``raw`` what a copy must keep, to be put back with ``raw_write`` (persistence). A
        closed volume holds none."""
        return [] if self._closed else list(self._store.written_runs())

    @_locked
    def raw_write(self, first_sector: int, ciphertext: Any, metadata: Any = None) -> None:
        """Overwrite stored sectors without encrypting: the hook for tampering experiments.

        ``metadata`` (AEAD only) replaces nonce ‖ tag; when None the stored metadata is kept.
        """
        ctv = _byte_view(ciphertext, "ciphertext", False)
        size, msize = self._sector, self._meta
        if ctv.nbytes % size:
            raise VolumeRangeError(f"ciphertext must be whole {size}-byte sectors")
        count = ctv.nbytes // size
        first_sector = _as_index(first_sector, "first_sector")
        self._check_sectors(first_sector, count)
        metav = None
        if metadata is not None:
            if not msize:
                raise VolumeRangeError(f"{self._spec.name} keeps no per-sector metadata")
            metav = _byte_view(metadata, "metadata", False)
            if metav.nbytes != count * msize:
                raise VolumeRangeError(f"metadata must be {count * msize} bytes")
        for idx, a, b, off in self._store.spans(first_sector, count):
            ch = self._store.chunk_for_write(idx)
            self._store.data_view(ch)[a * size : b * size] = ctv[off * size : (off + b - a) * size]
            if ch.has_meta:  # without new metadata keep what is stored (zeros if none)
                new = ch.meta_span(a, b)
                if metav is not None:
                    new[:] = metav[off * msize : (off + b - a) * msize]
            self._store.mark_written(ch, a, b)
        self._n["raw_writes"] += 1

    # ------------------------------------------------------------------ lifecycle
    @_locked
    def close(self) -> None:
        """Wipe the key copy and drop the stored data."""
        if not self._closed:
            self._cipher = None  # the bound cipher wipes its key copy when freed
            self._vec = None
            self._key[:] = bytes(len(self._key))
            self._scratch[:] = bytes(len(self._scratch))
            self._scratch = bytearray()
            self._store.clear()
            self._closed = True

    def __enter__(self) -> EncryptedVolume:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else f"{self._store.sectors_allocated} sectors allocated"
        return (
            f"EncryptedVolume(size={self._size}, spec='{self._spec}', engine='{self.engine}', "
            f"threads={self._threads}, {state})"
        )

    def __reduce__(self) -> Any:
        raise TypeError("EncryptedVolume holds key material and cannot be pickled")

    # ------------------------------------------------------------------ internals
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O on a closed EncryptedVolume")

    def _check_range(self, offset: Any, length: int) -> None:
        self._check_open()
        offset = _as_index(offset, "offset")
        if offset < 0 or length < 0:
            raise VolumeRangeError(f"negative offset or length ({offset}, {length})")
        if offset + length > self._size:
            raise VolumeRangeError(
                f"request [{offset}, {offset + length}) beyond the end of the "
                f"{self._size}-byte volume"
            )

    def _check_sectors(self, first: Any, count: Any) -> None:
        self._check_open()
        first, count = _as_index(first, "first_sector"), _as_index(count, "count")
        if first < 0 or count < 0 or first + count > self.sector_count:
            raise VolumeRangeError(
                f"sectors [{first}, {first + count}) outside 0..{self.sector_count}"
            )

    def _edges(self, offset: int, end: int) -> list[int]:
        """Sectors the byte range [offset, end) covers only partly (at most two)."""
        size = self._sector
        first, last = offset // size, -(-end // size)
        if -(-offset // size) > end // size:  # strictly inside one sector
            return [first]
        edges = []
        if offset % size:
            edges.append(first)
        if end % size:
            edges.append(last - 1)
        return edges

    def _write_view(self, offset: int, view: memoryview) -> None:
        size, end = self._sector, offset + view.nbytes
        if not (offset % size or end % size):  # whole sectors: no read-modify-write
            self._encrypt_run(offset // size, view)
            return
        full_lo, full_hi = -(-offset // size), end // size
        prepared = []
        for sec in self._edges(offset, end):  # read first: an integrity error changes nothing
            buf = bytearray(size)
            if self._store.is_written(sec):
                self._decrypt_run(sec, 1, memoryview(buf), zeroed=True)
                self._n["rmw_sectors"] += 1
            lo, hi = max(offset, sec * size), min(end, (sec + 1) * size)
            buf[lo - sec * size : hi - sec * size] = view[lo - offset : hi - offset]
            prepared.append((sec, buf))
        if full_hi > full_lo:
            self._encrypt_run(full_lo, view[full_lo * size - offset : full_hi * size - offset])
        for sec, buf in prepared:
            self._encrypt_run(sec, memoryview(buf))

    # ------------------------------------------------------------------ vectored internals
    @staticmethod
    def _pair_list(pieces: Any) -> list[tuple[Any, Any]]:
        try:
            items = list(pieces)
        except TypeError:
            raise TypeError("pieces must be an iterable of (offset, data) pairs") from None
        out = []
        for item in items:
            if type(item) is not tuple or len(item) != 2:
                if not isinstance(item, tuple | list) or len(item) != 2:
                    raise TypeError(f"each piece must be an (offset, data) pair, not "
                                    f"{item!r:.40}")
                item = (item[0], item[1])
            if type(item[0]) is not int:  # NumPy integers and the like, as ints from here on
                item = (_as_index(item[0], "offset"), item[1])
            out.append(item)
        return out

    def _vector(self, pieces: Any, writable: bool) -> list[tuple[int, memoryview]]:
        """Checked (offset, flat byte view) pairs of a vectored request (nothing done yet)."""
        self._check_open()
        what = "buf" if writable else "data"
        reqs = []
        for off, data in self._pair_list(pieces):
            if type(off) is not int:
                off = _as_index(off, "offset")
            if type(data) is memoryview and data.ndim == 1 and data.format == "B" \
                    and data.c_contiguous and not (writable and data.readonly):
                view = data
            else:
                view = _byte_view(data, what, writable)
            if off < 0 or off + view.nbytes > self._size:
                self._check_range(off, view.nbytes)  # raises with the usual message
            reqs.append((off, view))
        return reqs

    def _edge_plaintext(self, offset: int, end: int, bufs: dict[int, bytearray]) -> None:
        """Plaintext of the sectors [offset, end) covers only partly, into ``bufs``
        (unwritten sectors are zeros); raises IntegrityError before anything is changed."""
        todo = [sec for sec in self._edges(offset, end) if sec not in bufs]
        written = [sec for sec in todo if self._store.is_written(sec)]
        for sec in todo:
            bufs[sec] = bytearray(self._sector)
        if written:
            plain = self._gather_decrypt(written)
            size = self._sector
            for i, sec in enumerate(written):
                bufs[sec][:] = plain[i * size : (i + 1) * size]
            self._n["rmw_sectors"] += len(written)

    def _writev_disjoint(self, reqs: list[tuple[int, memoryview]]) -> None:
        """Pieces sorted by offset, no two sharing a byte, some not sector aligned."""
        size = self._sector
        edges: dict[int, bytearray] = {}
        for off, v in reqs:  # every read (and tag check) before the first write
            self._edge_plaintext(off, off + v.nbytes, edges)
        runs: list[_Run] = []
        for off, v in reqs:
            end = off + v.nbytes
            for sec in self._edges(off, end):
                a, b = max(off, sec * size), min(end, (sec + 1) * size)
                edges[sec][a - sec * size : b - sec * size] = v[a - off : b - off]
            full_lo, full_hi = -(-off // size), end // size
            if full_hi > full_lo:
                runs.append((full_lo, v[full_lo * size - off : full_hi * size - off]))
        runs += [(sec, memoryview(buf)) for sec, buf in edges.items()]
        runs.sort(key=_first)
        self._write_runs(runs)

    def _write_runs(self, runs: list[_Run]) -> None:
        """Encrypt runs of whole sectors, sorted and disjoint: long contiguous groups in place,
        everything else gathered into one engine call."""
        size = self._sector
        gather: list[_Run] = []
        for group in _contiguous(runs, size):
            if len(group) == 1:
                first, data = group[0]
                if data.nbytes >= _GATHER_BELOW * size:
                    self._encrypt_run(first, data)
                else:
                    gather.append(group[0])
                continue
            count = sum(r[1].nbytes for r in group) // size
            if count < _GATHER_BELOW:
                gather += group
            else:
                self._encrypt_run(group[0][0], memoryview(b"".join(r[1] for r in group)))
        if gather:
            self._gather_encrypt(gather)

    def _gather_encrypt(self, runs: list[_Run]) -> None:
        """Encrypt runs of whole sectors at any positions in one engine call, then scatter the
        ciphertext (and nonce ‖ tag) into the store."""
        size, msize, store = self._sector, self._meta, self._store
        spc = store.sectors_per_chunk
        numbers: list[int] = []
        for first, data in runs:
            n = data.nbytes // size
            if n == 1:
                numbers.append(first)
            else:
                numbers.extend(range(first, first + n))
        count = len(numbers)
        src = memoryview(b"".join(r[1] for r in runs))
        dst = memoryview(bytearray(src.nbytes))
        meta = memoryview(bytearray(count * msize)) if msize else None
        # counted before the cipher runs: should it or the scatter fail, the nonces are spent
        self._n["sectors_encrypted"] += count
        self._cipher.encrypt(src, dst, 0, meta, np.array(numbers, dtype=np.uint64))
        pos = 0
        for first, data in runs:
            n = data.nbytes // size
            idx, a = divmod(first, spc)
            if a + n <= spc:  # the usual case: the run lies in one chunk
                spans: Any = ((idx, a, a + n, 0),)
            else:
                spans = store.spans(first, n)
            for idx, a, b, off in spans:
                ch = store.chunk_for_write(idx)
                lo = pos + off
                store.data_view(ch)[a * size : b * size] = dst[lo * size : (lo + b - a) * size]
                if meta is not None and ch.has_meta:
                    ch.meta_span(a, b)[:] = meta[lo * msize : (lo + b - a) * msize]
                store.mark_written(ch, a, b)
            pos += n

    def _gather_decrypt(self, sectors: list[int]) -> memoryview:
        """Plaintext of written sectors at any positions, decrypted in one engine call."""
        size, msize, store = self._sector, self._meta, self._store
        spc = store.sectors_per_chunk
        src = bytearray(len(sectors) * size)
        meta = bytearray(len(sectors) * msize) if msize else None
        for i, sec in enumerate(sectors):
            ch = store.chunk(sec // spc)
            assert ch is not None
            a = sec % spc
            src[i * size : (i + 1) * size] = store.data_view(ch)[a * size : (a + 1) * size]
            if meta is not None and ch.has_meta:
                meta[i * msize : (i + 1) * msize] = ch.meta_span(a, a + 1)
        out = memoryview(bytearray(len(src)))
        try:
            self._cipher.decrypt(src, out, 0, meta, np.array(sectors, dtype=np.uint64))
        except IntegrityError:
            self._n["integrity_errors"] += 1
            raise
        self._n["sectors_decrypted"] += len(sectors)
        return out

    def _readv_into(self, reqs: list[tuple[int, memoryview]]) -> None:
        """Fill each (offset, view): long pieces decrypt straight into their buffer, the
        written sectors of all the others in one gathered engine call."""
        size, store = self._sector, self._store
        spc = store.sectors_per_chunk
        wanted: list[int] = []  # written sectors to decrypt, in gather order
        places: list[tuple[memoryview, int, int, int]] = []  # (view, lo, hi, skip) per sector
        owner: list[int] = []  # the piece each wanted sector serves
        failed: list[tuple[int, IntegrityError]] = []  # (piece, what its sectors raised)
        for piece, (off, v) in enumerate(reqs):
            length = v.nbytes
            if not length:
                continue
            first, last = off // size, -(-(off + length) // size)
            if last - first >= _GATHER_BELOW:
                try:
                    self._read_into(off, v, zeroed=False)
                except IntegrityError as exc:  # the whole request is read, then refused
                    failed.append((piece, exc))
                continue
            for sec in range(first, last):
                lo, hi = max(off, sec * size), min(off + length, (sec + 1) * size)
                ch = store.chunk(sec // spc)
                if ch is None or not store.all_written(ch, sec % spc, sec % spc + 1):
                    v[lo - off : hi - off] = store._zeros[: hi - lo]
                    continue
                wanted.append(sec)
                places.append((v, lo - off, hi - off, lo - sec * size))
                owner.append(piece)
        if wanted:
            try:
                plain = self._gather_decrypt(wanted)
            except IntegrityError as exc:
                failed.append((owner[wanted.index(exc.sector)]
                               if exc.sector in wanted else len(reqs), exc))
            else:
                for i, (v, a, b, skip) in enumerate(places):
                    v[a:b] = plain[i * size + skip : i * size + skip + b - a]
        if failed:  # as the native path names it: the request's first bad sector, and all
            failed.sort(key=lambda f: f[0])
            raise IntegrityError(failed[0][1].sector, sum(e.count for _, e in failed))

    def _read_into(self, offset: int, out: memoryview, zeroed: bool) -> None:
        size, length = self._sector, out.nbytes
        end = offset + length
        first, last = offset // size, -(-end // size)
        if offset % size == 0 and length % size == 0:
            self._decrypt_run(first, last - first, out, zeroed)
            return
        tmp = bytearray((last - first) * size)
        self._decrypt_run(first, last - first, memoryview(tmp), zeroed=True)
        head = offset - first * size
        out[:] = memoryview(tmp)[head : head + length]

    def _encrypt_run(self, first: int, src: memoryview) -> None:
        """Encrypt whole sectors into the store, one engine call per chunk span."""
        size, store = self._sector, self._store
        encrypt, counts = self._cipher.encrypt, self._n
        count = src.nbytes // size
        idx, a = divmod(first, store.sectors_per_chunk)
        if a + count <= store.sectors_per_chunk:  # the usual case: one chunk
            spans: Any = ((idx, a, a + count, 0),)
        else:
            spans = store.spans(first, count)
        for idx, a, b, off in spans:
            ch = store.chunk_for_write(idx)
            meta = ch.meta_span(a, b) if ch.has_meta else None
            dst = store.data_view(ch)[a * size : b * size]
            counts["sectors_encrypted"] += b - a  # before the cipher: a failure spends nonces
            encrypt(src[off * size : (off + b - a) * size], dst, first + off, meta)
            store.mark_written(ch, a, b)

    def _decrypt_run(self, first: int, count: int, out: memoryview, zeroed: bool) -> None:
        """Decrypt sectors from the store into ``out``; unwritten sectors give zeros."""
        size, store = self._sector, self._store
        decrypt = self._cipher.decrypt
        zeros = store._zeros
        for idx, a, b, off in store.spans(first, count):
            ch = store.chunk(idx)
            if ch is None:
                if not zeroed:
                    out[off * size : (off + b - a) * size] = zeros[: (b - a) * size]
                continue
            for ra, rb, written in store.runs(ch, a, b):
                lo, hi = (off + ra - a) * size, (off + rb - a) * size
                if not written:
                    if not zeroed:
                        out[lo:hi] = zeros[: hi - lo]
                    continue
                meta = ch.meta_span(ra, rb) if ch.has_meta else None
                try:
                    decrypt(store.data_view(ch)[ra * size : rb * size], out[lo:hi],
                            first + off + ra - a, meta)
                except IntegrityError:
                    self._n["integrity_errors"] += 1
                    raise
                self._n["sectors_decrypted"] += rb - ra


def _native_map(cipher: Any, store: SparseStore) -> Any:
    """The native vectored-I/O map of a store (``_native.VolumeMap``), or None where the
    cipher is not a native ``Bound`` or the store has no single arena and bitmap."""
    bound = getattr(_engines._native, "Bound", None)
    if bound is None or not isinstance(cipher, bound) or store._arena_view is None \
            or store._bitmap_view is None:
        return None
    return _engines._native.VolumeMap(
        cipher, store._chunks, store._arena_view, store.chunk_for_write, store._bitmap_view,
        store.bitmap_stride, store.sector_size, store.sectors_per_chunk, store.sector_count,
        store._records_view, store._slots)


def _contiguous(runs: list[_Run], size: int) -> list[list[_Run]]:
    """Sorted (first sector, data) runs grouped where each starts where the previous ends."""
    groups: list[list[_Run]] = []
    end = -1
    for first, data in runs:
        if groups and first == end:
            groups[-1].append((first, data))
        else:
            groups.append([(first, data)])
        end = first + data.nbytes // size
    return groups


