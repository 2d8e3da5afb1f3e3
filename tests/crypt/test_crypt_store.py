"""SparseStore's AEAD metadata: kept per span of written sectors, merged, collapsed."""

from __future__ import annotations

from simulator.crypt.store import _MAX_SPANS, SparseStore


def _store() -> SparseStore:
    return SparseStore(4096, 1 << 20, 28)  # 4 GiB of 4 KiB sectors, 256 a chunk


def test_scattered_sectors_cost_their_own_metadata_only():
    st = _store()
    ch = st.chunk_for_write(3)
    for sec in (5, 100, 200):
        ch.meta_span(sec, sec + 1)[:] = bytes([sec]) * 28
    assert ch.meta.nbytes() == 3 * 28
    out = memoryview(bytearray(28 * 201))
    ch.meta_copy(0, 201, out)
    for sec in range(201):
        want = bytes([sec]) * 28 if sec in (5, 100, 200) else bytes(28)
        assert bytes(out[sec * 28 : (sec + 1) * 28]) == want


def test_adjacent_writes_merge_keeping_what_was_there():
    st = _store()
    ch = st.chunk_for_write(0)
    for sec in range(10, 40):  # sequential 4 KiB writes
        ch.meta_span(sec, sec + 1)[:] = sec.to_bytes(28, "little")
    assert len(ch.meta.spans) == 1
    assert ch.meta.nbytes() <= 2 * 30 * 28  # headroom, not the whole chunk
    span = ch.meta_span(10, 40)
    assert [int.from_bytes(span[i * 28 : (i + 1) * 28], "little") for i in range(30)] == \
        list(range(10, 40))


def test_many_scattered_spans_collapse_into_one_buffer():
    st = _store()
    ch = st.chunk_for_write(0)
    sectors = list(range(0, 256, 256 // (_MAX_SPANS + 4)))
    for sec in sectors:
        ch.meta_span(sec, sec + 1)[:] = bytes([sec % 251 + 1]) * 28
    assert len(ch.meta.spans) <= _MAX_SPANS
    out = memoryview(bytearray(28))
    for sec in sectors:
        ch.meta_copy(sec, sec + 1, out)
        assert bytes(out) == bytes([sec % 251 + 1]) * 28
    ch.meta_zero(sectors[3], sectors[3] + 1)
    ch.meta_copy(sectors[3], sectors[3] + 1, out)
    assert bytes(out) == bytes(28)


def test_written_bitmap_runs_and_discard():
    st = _store()
    ch = st.chunk_for_write(1)
    st.mark_written(ch, 3, 7)
    st.mark_written(ch, 10, 11)
    assert list(st.runs(ch, 0, 12)) == [(0, 3, False), (3, 7, True), (7, 10, False),
                                        (10, 11, True), (11, 12, False)]
    assert st.sectors_allocated == 5
    assert st.is_written(256 + 4) and not st.is_written(256 + 8)
    assert st.discard(256 + 3, 4) == 4
    assert st.chunks_allocated == 1
    assert st.discard(256 + 10, 1) == 1
    assert st.chunks_allocated == 0  # nothing left: the chunk is dropped, its pages freed


def test_map_noreserve_comes_from_this_system_then_linux_by_architecture(monkeypatch):
    """The flag that lets a volume larger than memory get its arena on Python 3.11: the mmap
    module's where it has one, else the native extension's <sys/mman.h>, else Linux's value
    for the machine (it differs on PowerPC, SPARC, MIPS, Xtensa and Alpha)."""
    import mmap
    import platform
    import sys

    from simulator.crypt import _native, native_available, store

    if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "aarch64"):
        assert store._noreserve() == 0x4000
        if native_available():
            assert _native.MAP_NORESERVE == 0x4000
    monkeypatch.delattr(mmap, "MAP_NORESERVE", raising=False)
    monkeypatch.delattr(_native, "MAP_NORESERVE", raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    for machine, flag in (("x86_64", 0x4000), ("ppc64le", 0x40), ("sparc64", 0x40),
                          ("mips64", 0x400), ("xtensa", 0x400), ("alpha", 0x10000),
                          ("riscv64", 0x4000)):
        monkeypatch.setattr(platform, "machine", lambda m=machine: m)
        assert store._noreserve() == flag, machine
    monkeypatch.setattr(sys, "platform", "darwin")
    assert store._noreserve() == 0
