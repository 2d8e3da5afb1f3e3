"""The native vectored path (``_native.VolumeMap``): writev/readv/readintov, and whole-sector
write/read, in one C call with the piece table built there.  Every edge is checked against a
flat bytearray model and against the other backends; anything the native path does not take
(unaligned pieces, buffers that share bytes, other types) must still behave exactly as the
Python path."""

from __future__ import annotations

import itertools
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    IntegrityError,
    VolumeRangeError,
    available_engines,
    get_engine,
)

from .crypt_helpers import skip_unless_runs

NATIVE = [e for e in available_engines() if e.startswith("native-")]
SPECS = ["aes-xts-plain64:512:512", "aes-gcm-random:256:4096", "aes-gcm-random:128:512",
         "chacha20-poly1305-random:256:512", "null:0:4096"]
CHUNK = 16 << 10  # small chunks: pieces cross chunk boundaries often
SIZE = 8 * CHUNK

pytestmark = pytest.mark.skipif(not NATIVE, reason="no native backend built here")


def _key(spec: CipherSpec) -> bytes | None:
    return bytes((i * 53 + 11) % 256 for i in range(spec.key_bytes)) if spec.key_bytes else None


def _volume(spec_text: str, engine: str, size: int = SIZE) -> EncryptedVolume:
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine, chunk_bytes=CHUNK)
    assert vol._vec is not None, "a native engine over an arena store has a VolumeMap"
    return vol


@pytest.fixture
def no_python_path(monkeypatch):
    """Fail if a request falls back to the Python vectored or byte-range paths."""

    def refuse(*_a, **_k):
        raise AssertionError("the request took the Python path")

    for name in ("_vector", "_pair_list", "_write", "_readinto", "_write_view", "_decrypt_run"):
        monkeypatch.setattr(EncryptedVolume, name, refuse)


def _sector_pieces(draw, unit: int, sectors: int) -> list[tuple[int, bytes]]:
    """Disjoint whole-sector pieces of mixed sizes in shuffled order, zero-length ones too."""
    cuts = sorted(draw(st.sets(st.integers(0, sectors), max_size=12)) | {0, sectors})
    pieces = []
    for lo, hi in itertools.pairwise(cuts):
        if draw(st.booleans()):
            n = draw(st.integers(0, hi - lo))
            seed = draw(st.integers(0, 2**32))
            pieces.append((lo * unit, random.Random(seed).randbytes(n * unit)))
    return draw(st.permutations(pieces))


#: (spec, backend) pairs the backend runs (IPP has no ChaCha20)
PAIRS = [(s, e) for s in SPECS for e in NATIVE if get_engine(e).supports(CipherSpec.parse(s))]


@st.composite
def _requests(draw):
    spec_text, engine = draw(st.sampled_from(PAIRS))
    unit = CipherSpec.parse(spec_text).sector_size
    return spec_text, engine, [
        _sector_pieces(draw, unit, SIZE // unit) for _ in range(draw(st.integers(1, 3)))], \
        draw(st.booleans())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_requests())
def test_whole_sector_vectors_match_a_flat_model_in_one_native_call(req):
    """Also with short runs streamed through the bounce buffer (``stream``: as a store larger
    than the caches does)."""
    spec_text, engine, batches, stream = req
    vol = _volume(spec_text, engine)
    if stream:
        vol._stream_from = 0
    model = bytearray(SIZE)
    unit = vol.sector_size
    with pytest.MonkeyPatch.context() as mp:
        for name in ("_vector", "_pair_list", "_write_view", "_decrypt_run"):
            mp.setattr(EncryptedVolume, name, _refuse)
        for pieces in batches:
            assert vol.writev(pieces) == sum(len(d) for _, d in pieces)
            for off, data in pieces:
                model[off : off + len(data)] = data
            asks = [(off, len(d)) for off, d in pieces] + [(0, SIZE)]
            got = vol.readv(asks)
            assert got == [bytes(model[o : o + n]) for o, n in asks]
            bufs = [(off, bytearray(len(d))) for off, d in pieces]
            assert vol.readintov(bufs) == sum(len(b) for _, b in bufs)
            assert all(b == model[o : o + len(b)] for o, b in bufs)
    written = {o // unit + k for pieces in batches for o, d in pieces
               for k in range(len(d) // unit)}
    assert vol.stats.sectors_allocated == len(written)
    assert all(vol.is_allocated(s) for s in written)


def _refuse(*_a, **_k):
    raise AssertionError("the request took the Python path")


@st.composite
def _overlapping(draw):
    """Whole-sector pieces of one to five sectors anywhere in a small span (so that many
    share sectors, whole or in part, some twice or more), zero-length ones too."""
    spec_text, engine = draw(st.sampled_from(PAIRS))
    unit = CipherSpec.parse(spec_text).sector_size
    # around a chunk boundary, so that parts also straddle chunks
    base = max(CHUNK // unit - 6, 0)
    pieces = []
    for _ in range(draw(st.integers(2, 40))):
        first, n = draw(st.integers(0, 14)), draw(st.integers(0, 5))
        pieces.append(((base + first) * unit, random.Random(len(pieces)).randbytes(n * unit)))
    return spec_text, engine, pieces, draw(st.booleans()), draw(st.sampled_from([1, 2]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_overlapping())
def test_overlapping_whole_sector_pieces_stay_native_and_later_ones_win(req):
    """A vectored write whose pieces share sectors is one native call too (cut before each
    piece that meets an earlier one, the parts written in turn): what it leaves is what the
    pieces written one by one leave, on one thread or two, streamed or not, and it counts
    every sector it encrypted and every sector it newly wrote."""
    spec_text, engine, pieces, stream, threads = req
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(SIZE, spec, _key(spec), engine=engine, chunk_bytes=CHUNK,
                          threads=threads)
    if stream:
        vol._stream_from = 0
    model = bytearray(SIZE)
    with pytest.MonkeyPatch.context() as mp:
        for name in ("_vector", "_pair_list", "_write_view", "_decrypt_run"):
            mp.setattr(EncryptedVolume, name, _refuse)
        assert vol.writev(pieces) == sum(len(d) for _, d in pieces)
        for off, data in pieces:
            model[off : off + len(data)] = data
        assert vol.readv([(0, SIZE)]) == [bytes(model)]
    unit = spec.sector_size
    written = {o // unit + k for o, d in pieces for k in range(len(d) // unit)}
    stats = vol.stats
    assert stats.sectors_allocated == len(written)
    assert stats.sectors_encrypted == sum(len(d) for _, d in pieces) // unit
    assert stats.write_requests == len(pieces)


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:4096"])
def test_scattered_pieces_read_back_on_every_other_backend(spec_text, engine, monkeypatch):
    """Ciphertext and nonce || tag stored by the native path decrypt on every backend."""
    vol = _volume(spec_text, engine)
    monkeypatch.setattr(vol, "_vector", _refuse)  # this volume's writev stays native
    unit = vol.sector_size
    rng = os.urandom
    pieces = [(s * unit, rng(unit * n)) for s, n in ((1, 1), (3, 3), (2 * CHUNK // unit - 1, 2),
                                                    (5 * CHUNK // unit, 1))]
    vol.writev(pieces)
    for other in available_engines():
        twin = EncryptedVolume(SIZE, vol.spec, _key(vol.spec), engine=other)
        ct, meta = vol.raw(0, SIZE // unit)
        twin.raw_write(0, ct, meta)
        for off, data in pieces:
            assert twin.read(off, len(data)) == data, other


@pytest.fixture(params=[2, 1, 0], ids=["avx512", "avx2", "sse2"])
def stream_width(request):
    """Each width of the bounce buffer's streaming stores (capped at what this CPU has)."""
    from simulator.crypt import _native

    was = _native.set_stream_width(request.param)
    yield request.param
    _native.set_stream_width(was)


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_streamed_short_runs_land_whole_beside_long_ones(spec_text, engine, monkeypatch,
                                                         stream_width):
    """A store holding more than ``_STREAM_ABOVE`` streams the short runs of a vectored write
    (adjacent pieces shorter than 64 KiB together) through a bounce buffer and writes the long
    ones in place: both read back, on every backend and with streaming stores of every width,
    and a lone piece is never streamed."""
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    unit, size = spec.sector_size, 4 << 20
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine, chunk_bytes=CHUNK)
    for name in ("_vector", "_pair_list"):  # this volume's vectored I/O stays native
        monkeypatch.setattr(vol, name, _refuse)
    vol.write(0, b"\x01" * unit)
    assert vol.writev([(unit, b"\x02" * unit), (3 * unit, b"\x03" * unit)]) == 2 * unit
    assert vol._vec.stream is False or vol._vec.stream == 0, "a small store is not streamed"
    vol._stream_from = 1  # as if it held more than the caches
    rng = random.Random(3)
    runs = [(CHUNK // unit - 1, 3), (40 * CHUNK // unit, 64 * 1024 // unit - 1),
            (80 * CHUNK // unit, 64 * 1024 // unit), (150 * CHUNK // unit, 1)]
    pieces = []
    for first, n in runs:  # each run cut into adjacent pieces of one to three sectors
        s = first
        while s < first + n:
            k = min(rng.randint(1, 3), first + n - s)
            pieces.append((s * unit, rng.randbytes(k * unit)))
            s += k
    rng.shuffle(pieces)
    assert vol.writev(pieces) == sum(len(d) for _, d in pieces)
    assert vol._vec.stream
    assert vol.readv([(o, len(d)) for o, d in pieces]) == [d for _, d in pieces]
    assert vol.read(unit, unit) == b"\x02" * unit
    ct, meta = vol.raw(0, size // unit)
    for other in available_engines():
        twin = EncryptedVolume(size, spec, _key(spec), engine=other)
        twin.raw_write(0, ct, meta)
        assert [twin.read(o, len(d)) for o, d in pieces] == [d for _, d in pieces], other
    # more short runs than the bounce buffer takes (1 MiB): the rest are written in place
    many = [(s * unit, rng.randbytes(unit)) for s in rng.sample(range(size // unit),
                                                                (1 << 20) // unit + 40)]
    assert vol.writev(many) == len(many) * unit
    assert vol.readv([(o, unit) for o, _ in many]) == [d for _, d in many]


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-gcm-random:256:512", "aes-xts-plain64:512:512"])
def test_a_failure_in_a_cut_request_leaves_the_store_readable_and_counted(spec_text, engine):
    """Memory running out at any allocation of a request whose pieces share sectors (so it is
    written in parts) leaves every sector readable, each whole with the old or the new data
    (never a failed tag: ciphertext without its nonce || tag), and the volume's count of
    written sectors equal to the sectors flagged written, and its count of encrypted sectors
    (``nonce_uses_left``) at least the sectors that now hold new data: a failed request's
    nonces count too."""
    _testcapi = pytest.importorskip("_testcapi")
    if not hasattr(_testcapi, "set_nomemory"):
        pytest.skip("this Python cannot fail allocations on purpose")
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    unit = spec.sector_size
    req = [(unit * 40, b"B" * unit), (0, b"A" * unit), (unit * 300, b"C" * unit),
           (0, b"D" * 2 * unit), (unit * 900, b"E" * unit), (unit * 40, b"F" * unit)]
    outcomes = set()
    for stream in (False, True):
        for nth in range(0, 400, 3):
            vol = EncryptedVolume(1 << 20, spec, _key(spec), engine=engine)
            if stream:
                vol._stream_from = 0
            vol.writev([(0, b"o" * 4 * unit)])
            before = vol.stats.sectors_encrypted
            _testcapi.set_nomemory(nth, nth + 1)
            try:
                vol.writev(req)
                failed = False
            except MemoryError:
                failed = True
            finally:
                _testcapi.remove_mem_hooks()
            outcomes.add(failed)
            flagged = sum(bin(b).count("1") for b in bytes(vol._store._bitmap_view))
            assert vol.stats.sectors_allocated == flagged, (stream, nth)
            changed = 0
            for sector, old, new in ((0, b"o", b"D"), (1, b"o", b"D"), (2, b"o", b"o"),
                                     (40, b"\0", b"F"), (300, b"\0", b"C"),
                                     (900, b"\0", b"E")):
                got = vol.read(sector * unit, unit)  # never an IntegrityError
                assert got in (old * unit, new * unit), (stream, nth, sector)
                changed += got != old * unit
            assert vol.stats.sectors_encrypted - before >= changed, (stream, nth)
            vol.discard(0, 1 << 20)
            assert vol.stats.sectors_allocated == 0
    assert outcomes == {True, False}, "some allocation failed and the last ones did not"


@pytest.mark.parametrize("engine", NATIVE)
def test_a_rewrite_across_two_touching_spans_survives_a_failed_merge(engine, monkeypatch):
    """Sectors written before whose metadata lies in two spans that touch ([10, 20) and
    [20, 21)): the merge their rewrite needs happens before anything is encrypted, so when
    it fails the old data still reads back, tags intact (review: it ran after the batch)."""
    from simulator.crypt import store as store_mod

    spec = CipherSpec.parse("aes-gcm-random:256:512")
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(1 << 20, spec, _key(spec), engine=engine)
    for s in (20, 10, 11, 14, 19):
        vol.write(s * 512, bytes([s]) * 512)
    assert len(vol._store.chunk(0).meta.spans) == 2

    def refuse(self, a, b):
        raise MemoryError

    monkeypatch.setattr(store_mod._MetaSpans, "_grow", refuse)
    with pytest.raises(MemoryError):
        vol.writev([(19 * 512, b"N" * 1024)])
    monkeypatch.undo()
    assert vol.read(19 * 512, 1024) == bytes([19]) * 512 + bytes([20]) * 512


@pytest.mark.parametrize("engine", NATIVE)
def test_a_request_repeating_its_pieces_needs_no_more_memory_than_one_pass(engine):
    """The per-sector bookkeeping of a request cut into parts is that of its largest part,
    not of the whole request: one 32 MiB piece written 64 times over stays within 256 MiB of
    address space (it asked for some 200 MiB more, per sector of all 64)."""
    resource = pytest.importorskip("resource")
    spec = CipherSpec.parse("aes-gcm-random:256:512")
    skip_unless_runs(engine, spec)
    size = 32 << 20
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine)
    buf = bytes(size)
    vol.write(0, buf)
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("reads /proc/self/statm")
    pages = int(statm.read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (pages + (256 << 20), hard))
    try:
        assert vol.writev([(0, buf)] * 64) == 64 * size
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert vol.read(size - 512, 512) == bytes(512)


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_a_request_written_again_lands_whole_streamed_or_in_place(spec_text, engine,
                                                                  monkeypatch):
    """A store larger than the caches streams short runs past them, except where a recent
    request began one on the same page (likely still cached: written in place).  One request
    written again and again, each time with new data (some pieces moved within their page),
    is streamed on its first pass and written in place on the others; every pass reads back
    whole, here and on every backend."""
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    unit, size = spec.sector_size, 4 << 20
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine, chunk_bytes=CHUNK)
    for name in ("_vector", "_pair_list"):
        monkeypatch.setattr(vol, name, _refuse)
    vol._stream_from = 0
    rng = random.Random(11)
    places = rng.sample(range(size // 4096), 48)
    for n in range(4):
        # pieces on the same pages each pass, some moved within their page
        pieces = [(p * 4096 + (n % 2) * unit * (unit < 4096), rng.randbytes(unit))
                  for p in places]
        assert vol.writev(pieces) == len(pieces) * unit
        assert vol.readv([(o, unit) for o, _ in pieces]) == [d for _, d in pieces]
    ct, meta = vol.raw(0, size // unit)
    for other in available_engines():
        twin = EncryptedVolume(size, spec, _key(spec), engine=other)
        twin.raw_write(0, ct, meta)
        assert [twin.read(o, unit) for o, _ in pieces] == [d for _, d in pieces], other


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_chunks_of_any_sector_count_map_pieces_right(spec_text, engine, monkeypatch):
    """A chunk of 3 pages (3 or 24 sectors: no power of two, so the map divides instead of
    shifting) places pieces that straddle chunks where a power-of-two chunk would not."""
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    unit, size = spec.sector_size, 3 * 4096 * 200
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine, chunk_bytes=3 * 4096)
    for name in ("_vector", "_pair_list"):
        monkeypatch.setattr(vol, name, _refuse)
    rng = random.Random(7)
    model = bytearray(size)
    firsts = sorted(rng.sample(range(0, size // unit - 8, 8), 30))
    pieces = [(f * unit, rng.randbytes(rng.randint(1, 8) * unit)) for f in firsts]
    rng.shuffle(pieces)
    assert vol.writev(pieces) == sum(len(d) for _, d in pieces)
    for off, data in pieces:
        model[off : off + len(data)] = data
    assert vol.readv([(0, size)]) == [bytes(model)]
    spc = 3 * 4096 // unit
    written = {(o // unit + k) // spc for o, d in pieces for k in range(len(d) // unit)}
    assert vol.stats.chunks_allocated == len(written)


@pytest.mark.parametrize("engine", NATIVE)
def test_xts_ciphertext_is_the_same_as_the_python_paths(engine):
    """Native vectored writes store what the per-piece Python path would (XTS: deterministic)."""
    spec = "aes-xts-plain64:512:512"
    fast, slow = _volume(spec, engine), _volume(spec, engine)
    slow._vec = None  # the Python path
    pieces = [(512 * s, bytes([s]) * 512 * n) for s, n in ((0, 3), (31, 2), (100, 40), (7, 1))]
    assert fast.writev(pieces) == slow.writev(pieces)
    assert fast.raw(0, SIZE // 512) == slow.raw(0, SIZE // 512)
    assert fast.stats == slow.stats
    # pieces that share sectors: the native path cuts the request, the Python path applies
    # the pieces in order; both leave the same ciphertext and count alike
    again = [(512 * s, bytes([s + 100]) * 512 * n) for s, n in ((1, 1), (30, 4), (0, 2), (1, 3))]
    assert fast.writev(again) == slow.writev(again)
    assert fast.raw(0, SIZE // 512) == slow.raw(0, SIZE // 512)
    assert fast.stats == slow.stats


@pytest.mark.parametrize("engine", NATIVE)
def test_empty_and_zero_length_requests(engine):
    vol = _volume("aes-gcm-random:256:4096", engine)
    assert vol.writev([]) == 0
    assert vol.readv([]) == []
    assert vol.readintov([]) == 0
    assert vol.writev([(4096, b""), (0, b"")]) == 0
    assert vol.readv([(0, 0)]) == [b""]
    assert vol.stats.sectors_allocated == 0
    assert vol.writev([(4096, b"x" * 4096), (8192, b"")]) == 4096
    assert vol.read(4096, 4096) == b"x" * 4096


@pytest.mark.parametrize("engine", NATIVE)
def test_unwritten_and_discarded_sectors_read_as_zeros(engine, no_python_path):
    vol = _volume("aes-gcm-random:256:4096", engine)
    vol.writev([(0, b"a" * 8192), (CHUNK, b"b" * 4096)])
    got = vol.readv([(0, 3 * 4096), (CHUNK - 4096, 2 * 4096), (4 * CHUNK, 4096)])
    assert got == [b"a" * 8192 + bytes(4096), bytes(4096) + b"b" * 4096, bytes(4096)]


@pytest.mark.parametrize("engine", NATIVE)
def test_what_the_native_path_leaves_to_python_still_works(engine):
    """Unaligned pieces, lists and generators, buffers that share bytes; and overlapping
    pieces (later wins), which the native path writes part by part."""
    vol = _volume("aes-gcm-random:256:512", engine)
    vol.writev([(0, b"1" * 1024), (512, b"2" * 512)])  # overlap: in order
    assert vol.read(0, 1024) == b"1" * 512 + b"2" * 512
    vol.writev([(700, b"u" * 10), (2048, b"v" * 512)])  # unaligned piece
    assert vol.read(700, 10) == b"u" * 10 and vol.read(2048, 512) == b"v" * 512
    vol.writev(iter([[4096, b"g" * 512]]))  # a generator of lists
    assert vol.readv(iter([(4096, 512)])) == [b"g" * 512]
    out = bytearray(1024)
    # buffers that share bytes: filled in order, the later piece wins
    assert vol.readintov([(0, memoryview(out)[:512]), (512, memoryview(out)[256:768])]) == 1024
    assert out[:256] == b"1" * 256 and out[256:768] == vol.read(512, 512)
    assert vol.read(512, 512) == b"2" * 188 + b"u" * 10 + b"2" * 314


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("bad", [
    [(0, b"a" * 512), (SIZE, b"b" * 512)],  # past the end
    [(0, b"a" * 512), (-512, b"b" * 512)],  # negative
    [(0, b"a" * 512), (512, "text")],  # not a buffer
    [(0, b"a" * 512), (512.0, b"b" * 512)],  # not an int offset
    [(0, b"a" * 512), (512, b"b" * 512, 1)],  # not a pair
])
def test_a_bad_piece_changes_nothing(engine, bad):
    vol = _volume("aes-xts-plain64:512:512", engine)
    vol.write(0, b"z" * 1024)
    before = vol.raw(0, 4), vol.stats
    with pytest.raises((VolumeRangeError, TypeError)):
        vol.writev(bad)
    assert (vol.raw(0, 4), vol.stats) == before


@pytest.mark.parametrize("engine", NATIVE)
def test_read_pieces_out_of_range_are_refused(engine):
    vol = _volume("aes-xts-plain64:512:512", engine)
    with pytest.raises(VolumeRangeError):
        vol.readv([(0, 512), (SIZE - 512, 1024)])
    with pytest.raises(VolumeRangeError):
        vol.readintov([(SIZE, bytearray(512))])
    with pytest.raises(TypeError):
        vol.readintov([(0, b"read-only")])


@pytest.mark.parametrize("engine", NATIVE)
def test_a_tampered_sector_is_named_and_counted(engine, no_python_path):
    vol = _volume("aes-gcm-random:256:4096", engine)
    vol.writev([(s * 4096, bytes([s]) * 4096) for s in (2, 9, 30)])
    ct, _ = vol.raw(9, 1)
    vol.raw_write(9, bytes([ct[0] ^ 1]) + ct[1:])
    with pytest.raises(IntegrityError) as err:
        vol.readv([(2 * 4096, 4096), (9 * 4096, 4096), (30 * 4096, 4096)])
    assert err.value.sector == 9
    assert vol.stats.integrity_errors == 1
    assert vol.readv([(2 * 4096, 4096), (30 * 4096, 4096)]) == [b"\x02" * 4096, b"\x1e" * 4096]


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:4096",
                                       "aes-gcm-random:128:512"])
def test_a_sequential_run_reads_as_its_scattered_pieces(engine, spec_text, no_python_path):
    """A request whose sectors are one run (taken as one contiguous batch) gives the bytes of
    the same sectors read as scattered pieces, and a tampered sector inside the run is named
    with its own number."""
    vol = _volume(spec_text, engine)
    unit = vol.sector_size
    rng = random.Random(9)
    base = 3 * unit + CHUNK  # a run that starts inside the second chunk and crosses the third
    data = rng.randbytes(CHUNK + 5 * unit)
    vol.write(base, data)
    run = bytearray(len(data))
    assert vol.readinto(base, run) == len(data) and run == data
    n = len(data) // unit
    order = list(range(n))
    rng.shuffle(order)
    pieces = vol.readv([(base + i * unit, unit) for i in order])
    assert b"".join(p for _, p in sorted(zip(order, pieces, strict=True))) == data
    if vol.spec.is_aead:
        bad = base // unit + n // 2
        ct, _ = vol.raw(bad, 1)
        vol.raw_write(bad, bytes([ct[0] ^ 1]) + ct[1:])
        with pytest.raises(IntegrityError) as err:
            vol.readinto(base, run)
        assert err.value.sector == bad


@pytest.mark.parametrize("engine", NATIVE)
def test_requests_and_sectors_are_counted(engine, no_python_path):
    vol = _volume("aes-xts-plain64:512:4096", engine)
    vol.writev([(0, b"a" * 4096), (CHUNK, b"b" * 8192)])
    vol.write(4096, b"c" * 4096)
    vol.readv([(0, 8192), (CHUNK * 3, 4096)])
    vol.readinto(0, bytearray(4096))
    st_ = vol.stats
    assert (st_.write_requests, st_.bytes_written, st_.sectors_encrypted) == (3, 16384, 4)
    assert (st_.read_requests, st_.bytes_read, st_.sectors_decrypted) == (3, 16384, 3)
    assert st_.sectors_allocated == 4 and st_.chunks_allocated == 2


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:4096"])
def test_a_request_split_across_two_threads_lands_whole(engine, spec_text, no_python_path):
    """A vectored request large enough to be split across workers (scattered pieces, each
    worker a lane of them) stores and reads back every piece."""
    spec = CipherSpec.parse(spec_text)
    size = 64 << 20
    vol = EncryptedVolume(size, spec, _key(spec), engine=engine, threads=2)
    rng = random.Random(5)
    sectors = rng.sample(range(size // 4096), 200)
    pieces = [(s * 4096, rng.randbytes(4096)) for s in sectors]
    assert vol.writev(pieces) == 200 * 4096
    assert vol.readv([(off, 4096) for off, _ in pieces]) == [d for _, d in pieces]
    assert vol.stats.sectors_allocated == 200


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("count", [17, 40, 100])
def test_many_shuffled_pieces_are_checked_for_overlap_in_c(engine, count, monkeypatch):
    """More pieces than one sorting run (16): disjoint ones in any order, as a list or a tuple,
    stay one native call; so does a request writing one sector twice, anywhere in it, and
    the later piece wins, as on the Python path."""
    vol = _volume("aes-gcm-random:256:512", engine)
    rng = random.Random(count)
    sectors = rng.sample(range(SIZE // 512), count)
    pieces = [(s * 512, rng.randbytes(512)) for s in sectors]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EncryptedVolume, "_vector", _refuse)
        assert vol.writev(pieces) == count * 512
        assert vol.writev(tuple(reversed(pieces))) == count * 512
    assert vol.readv([(s * 512, 512) for s in sectors]) == [d for _, d in pieces]
    monkeypatch.setattr(EncryptedVolume, "_vector", _refuse)
    twice = rng.randrange(count)
    again = (pieces[twice][0], b"\x5a" * 512)
    request = pieces[:]
    request.insert(rng.randrange(twice + 1, count + 1), again)  # after the first write of it
    before = vol.stats
    assert vol.writev(request) == (count + 1) * 512
    assert vol.read(again[0], 512) == again[1]
    assert vol.readv([(o, 512) for o, _ in request if o != again[0]]) == [
        d for o, d in pieces if o != again[0]]
    after = vol.stats
    assert after.sectors_encrypted - before.sectors_encrypted == count + 1
    assert after.write_requests - before.write_requests == count + 1
    assert after.sectors_allocated == count


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("shape", ["300 single sectors", "aligned 8-sector pieces",
                                   "one misaligned 8-sector piece", "mixed sizes"])
def test_overlap_is_found_whatever_the_pieces_look_like(engine, shape, monkeypatch):
    """Pieces of one size at multiples of it are checked by their starts (a hash table),
    anything else by sorting; either way a request stays one native call, and one that
    writes a sector twice is cut before the later piece, which wins."""
    unit, size = 512, 1 << 20
    vol = _volume("aes-xts-plain64:512:512", engine, size)
    rng = random.Random(shape)
    if shape == "300 single sectors":
        starts, sizes = rng.sample(range(size // unit), 300), [1] * 300
    elif shape == "mixed sizes":
        starts = sorted(rng.sample(range(0, size // unit - 8, 8), 40))
        sizes = [rng.choice((1, 2, 3, 8)) for _ in starts]
    else:
        starts, sizes = [8 * s for s in rng.sample(range(size // unit // 8), 40)], [8] * 40
    pieces = [(s * unit, rng.randbytes(n * unit)) for s, n in zip(starts, sizes, strict=True)]
    rng.shuffle(pieces)
    model = bytearray(size)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(EncryptedVolume, "_vector", _refuse)
        vol.writev(pieces)
    for off, data in pieces:
        model[off : off + len(data)] = data
    off, data = pieces[len(pieces) // 2]
    if shape == "one misaligned 8-sector piece":
        again = (off + 3 * unit, rng.randbytes(8 * unit))  # starts inside a piece, not at one
    else:
        again = (off, rng.randbytes(len(data)))
    monkeypatch.setattr(EncryptedVolume, "_vector", _refuse)
    vol.writev([*pieces, again])
    for o, d in [*pieces, again]:
        model[o : o + len(d)] = d
    assert vol.read(0, size) == bytes(model)


@pytest.mark.parametrize("engine", NATIVE)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_a_reused_slot_serves_its_new_chunk_only(spec_text, engine, monkeypatch):
    """Native I/O finds a chunk's bitmap and record through its slot: after a chunk is
    dropped and its slot handed to another, the old chunk reads as zeros and the new one
    reads its own data, tags verified, all in one native call each."""
    spec = CipherSpec.parse(spec_text)
    skip_unless_runs(engine, spec)
    vol = EncryptedVolume(SIZE, spec, _key(spec), engine=engine, chunk_bytes=CHUNK)
    for name in ("_vector", "_pair_list"):  # this volume's vectored I/O stays native
        monkeypatch.setattr(vol, name, _refuse)
    unit = spec.sector_size
    a, b = 2 * CHUNK, 5 * CHUNK
    first = os.urandom(3 * unit)
    vol.writev([(a, first[:unit]), (a + unit, first[unit:])])
    slot = vol._store._slots_view[a // CHUNK]
    vol.discard(a, CHUNK)
    assert vol._store.chunk(a // CHUNK) is None
    second = os.urandom(2 * unit)
    vol.writev([(b, second[:unit]), (b + 3 * unit, second[unit:])])
    assert vol._store._slots_view[b // CHUNK] == slot
    assert vol.readv([(a, 3 * unit), (b, unit), (b + 3 * unit, unit)]) == [
        bytes(3 * unit), second[:unit], second[unit:]]
    assert vol.readv([(b + unit, 2 * unit)]) == [bytes(2 * unit)]


@pytest.mark.parametrize("engine", NATIVE)
def test_a_call_back_into_the_volume_during_a_native_request_is_refused(engine, monkeypatch):
    """Python code a native request runs (chunk_for_write; a finalizer that runs while it
    allocates) must not change the store under it: the volume's lock lets the same thread in,
    so such a call is refused, the request fails whole, and the volume works on after."""
    from simulator.crypt import store as store_mod

    spec = CipherSpec.parse("aes-xts-plain64:512:4096")
    real, seen = store_mod.SparseStore.chunk_for_write, []

    def reentrant(store, idx):
        if idx == 3 and not seen:
            seen.append(idx)
            vol.discard(0, 1 << 20)  # would free chunk 0's slot for chunk 3
        return real(store, idx)

    monkeypatch.setattr(store_mod.SparseStore, "chunk_for_write", reentrant)
    vol = EncryptedVolume(16 << 20, spec, _key(spec), engine=engine)
    assert vol._vec is not None
    vol.write(0, b"\x11" * 4096)
    with pytest.raises(RuntimeError, match="middle of a request"):
        vol.writev([(4096, b"\x22" * 4096), (3 << 20, b"\x33" * 4096)])
    assert vol.read(0, 8192) == b"\x11" * 4096 + bytes(4096)  # nothing of it landed
    assert vol.writev([(4096, b"\x22" * 4096), (3 << 20, b"\x33" * 4096)]) == 8192
    assert vol.read(3 << 20, 8192) == b"\x33" * 4096 + bytes(4096)
    assert vol.read(0, 8192) == b"\x11" * 4096 + b"\x22" * 4096
