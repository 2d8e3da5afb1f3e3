"""The per-chunk metadata records (``store._RECORD``): every change of a chunk's AEAD metadata
spans is published where the native vectored I/O reads it, so a GCM piece walks no Python
object; a dropped chunk names nothing again, and a piece that makes the spans grow (moving
them) never writes through a stale address."""

from __future__ import annotations

import ctypes
import os

import pytest

from simulator.crypt import CipherSpec, EncryptedVolume, available_engines
from simulator.crypt.store import _MAX_SPANS, _MULTI, _RECORD, RECORD_BYTES, SparseStore, _MetaSpans

from .crypt_helpers import skip_unless_runs

MSIZE = 28
NATIVE = [e for e in available_engines() if e.startswith("native-")]


def _decode(rec: memoryview) -> list[tuple[int, bytes]]:
    """The spans a record names: (first sector, their metadata bytes)."""
    addr, lo, n = _RECORD.unpack_from(rec)
    if addr == 0:
        return []
    if n & _MULTI:
        table = ctypes.string_at(addr, (n & ~_MULTI) * RECORD_BYTES)
        return [span for i in range(n & ~_MULTI)
                for span in _decode(memoryview(table)[i * RECORD_BYTES : (i + 1) * RECORD_BYTES])]
    return [(lo, ctypes.string_at(addr, n * MSIZE))]


def _published(store: SparseStore, idx: int) -> list[tuple[int, bytes]]:
    """What chunk idx's record names: the record of its slot (none without a slot)."""
    assert store._records_view is not None and store._slots_view is not None
    slot = store._slots_view[idx]
    if slot == 0:
        return []
    return _decode(store._records_view[(slot - 1) * RECORD_BYTES : slot * RECORD_BYTES])


def _held(meta: _MetaSpans) -> list[tuple[int, bytes]]:
    return [(lo, bytes(buf)) for lo, buf in meta.spans]


def test_the_record_names_the_spans_as_they_grow_merge_and_go_whole():
    store = SparseStore(4096, 1 << 12, MSIZE, chunk_bytes=1 << 20)
    ch = store.chunk_for_write(3)
    assert ch.meta is not None and _published(store, 3) == []
    for n, sector in enumerate(range(0, 2 * (_MAX_SPANS + 2), 2)):  # far apart: a span each
        ch.meta_span(sector, sector + 1)[:] = bytes([n + 1]) * MSIZE
        assert _published(store, 3) == _held(ch.meta)
        assert len(ch.meta.spans) == (n + 1 if n < _MAX_SPANS else 1)
    ch.meta_span(1, 2)[:] = b"\xaa" * MSIZE  # next to a span: grows it
    ch.meta.zero(0, 1)
    assert _published(store, 3) == _held(ch.meta)
    assert _published(store, 2) == [] and _published(store, 4) == []


def test_a_dropped_or_cleared_chunk_names_nothing():
    store = SparseStore(4096, 1 << 12, MSIZE, chunk_bytes=1 << 20)
    store.chunk_for_write(0).meta_span(5, 6)[:] = b"\x01" * MSIZE
    store.mark_written(store.chunk(0), 5, 6)
    store.chunk_for_write(1).meta_span(0, 1)[:] = b"\x02" * MSIZE
    store.mark_written(store.chunk(1), 0, 1)
    assert _published(store, 0) and _published(store, 1)
    assert store.discard(5, 1) == 1 and store.chunk(0) is None
    assert _published(store, 0) == [] and _published(store, 1)
    store.clear()
    assert _published(store, 1) == []


def test_no_records_without_metadata_or_without_an_arena():
    assert SparseStore(4096, 1 << 12, 0)._records is None
    ch = SparseStore(4096, 1 << 12, MSIZE, chunk_bytes=1 << 20).chunk_for_write(0)
    assert ch.meta is not None and ch.meta.rec is not None


@pytest.mark.skipif(not NATIVE, reason="no native backend built here")
@pytest.mark.parametrize("engine", NATIVE)
def test_native_gcm_pieces_use_the_records_not_the_span_objects(engine):
    """Once the spans cover the pieces, writev and readv go through the records alone: no
    chunk's metadata object is touched, and the data reads back (tags verified)."""
    spec = CipherSpec.parse("aes-gcm-random:256:4096")
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(64 << 20, spec, os.urandom(32), engine=engine)
    offsets = [s * 4096 for s in (3, 7, 300, 301, 5000, 9000, 9001, 16383)]
    first = [os.urandom(4096) for _ in offsets]
    vol.writev(list(zip(offsets, first, strict=True)))  # creates the spans (Python grows them)

    class Refusing:
        def __getattr__(self, name):
            raise AssertionError(f"the native path walked the metadata objects (.{name})")

    chunks = list(vol._store._chunks.values())
    kept = [ch.meta for ch in chunks]
    for ch in chunks:  # what Python holds is out of reach; the records still name the bytes
        ch.meta = Refusing()
    again = [os.urandom(4096) for _ in offsets]
    try:
        assert vol.writev(list(zip(offsets, again, strict=True))) == 4096 * len(offsets)
        assert vol.readv([(off, 4096) for off in offsets]) == again
    finally:
        for ch, meta in zip(chunks, kept, strict=True):
            ch.meta = meta
    assert [vol.read(off, 4096) for off in offsets] == again  # the Python path agrees
    vol.close()


@pytest.mark.skipif(not NATIVE, reason="no native backend built here")
@pytest.mark.parametrize("engine", NATIVE)
def test_a_piece_that_makes_the_spans_merge_leaves_the_others_whole(engine):
    """Pieces covered by a span are stored before another piece of the same request grows the
    chunk's spans into one buffer (which moves every span): all of them read back."""
    spec = CipherSpec.parse("aes-gcm-random:256:4096")
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(64 << 20, spec, os.urandom(32), engine=engine)
    sectors = list(range(0, 2 * _MAX_SPANS, 2))  # _MAX_SPANS spans in chunk 0
    for s in sectors:
        vol.write(s * 4096, b"\x00" * 4096)
    ch = vol._store.chunk(0)
    assert ch is not None and ch.meta is not None and len(ch.meta.spans) == _MAX_SPANS
    pieces = [(s * 4096, os.urandom(4096)) for s in [*sectors, 200]]  # 200: a span too many
    vol.writev(pieces)
    assert len(ch.meta.spans) == 1
    assert vol.readv([(off, 4096) for off, _ in pieces]) == [d for _, d in pieces]
    assert [vol.read(off, 4096) for off, _ in pieces] == [d for _, d in pieces]
    vol.close()


def test_chunks_take_dense_slots_and_a_dropped_chunks_slot_is_reused_clean():
    """The bitmap and records are indexed by slot, handed out in creation order: chunks
    scattered over a large device fill the first pages of them only.  A dropped chunk's slot
    goes to the next chunk with its bitmap zero and its record naming nothing."""
    store = SparseStore(4096, 1 << 20, MSIZE, chunk_bytes=1 << 20)  # 4096 chunks
    assert store._slots_view is not None
    for n, idx in enumerate((4000, 7, 2500)):
        ch = store.chunk_for_write(idx)
        store.mark_written(ch, 0, 1)
        ch.meta_span(0, 1)[:] = bytes([n + 1]) * MSIZE
        assert store._slots_view[idx] == n + 1
    assert store.discard(7 * 256, 256) == 1 and store._slots_view[7] == 0
    again = store.chunk_for_write(9)
    assert store._slots_view[9] == 2 and not any(again.written)
    assert _published(store, 9) == [] and _published(store, 4000) == [(0, b"\x01" * MSIZE)]
    store.clear()
    assert not any(store._slots_view[i] for i in (4000, 2500, 9))
    assert store.chunk_for_write(1).written is not None and store._slots_view[1] == 1


def test_a_volume_larger_than_memory_gets_its_arena(monkeypatch):
    """MAP_NORESERVE reaches the kernel on every Python (the mmap module names it only from
    3.12): a 200 GiB volume has its one reservation, so native vectored I/O, not a mapping
    per chunk."""
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the flag is Linux's")
    vol = EncryptedVolume(200 << 30, CipherSpec.parse("aes-gcm-random:256"), os.urandom(32))
    assert vol._store._arena is not None
    if NATIVE and vol.engine.startswith("native-"):
        assert vol._vec is not None
    pieces = [(k * (1 << 30), os.urandom(4096)) for k in (0, 77, 199)]
    vol.writev(pieces)
    assert vol.readv([(o, 4096) for o, _ in pieces]) == [d for _, d in pieces]


def test_a_refused_side_reservation_leaves_the_store_without_an_arena(monkeypatch):
    """The arena, the bitmap, the records and the slot table are reserved apart; if any
    after the arena is refused (a mapping limit, strict overcommit), the store keeps none of
    them rather than let chunks share the first bitmap and record."""
    from simulator.crypt import store as store_mod

    real, calls = store_mod._reserve, []

    def refuse_fourth(size):
        calls.append(size)
        return None if len(calls) == 4 else real(size)

    monkeypatch.setattr(store_mod, "_reserve", refuse_fourth)
    store = SparseStore(4096, 1 << 12, MSIZE, chunk_bytes=1 << 20)
    assert store._arena is None and store._bitmap is None and store._slots is None
    a, b = store.chunk_for_write(0), store.chunk_for_write(5)
    store.mark_written(a, 3, 4)
    assert store.is_written(3) and not store.is_written(5 * 256 + 3) and b.written != a.written
