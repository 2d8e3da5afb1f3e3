"""EncryptedVolume.writev / readv / readintov: several pieces, few engine calls, same bytes."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    IntegrityError,
    VolumeRangeError,
    available_engines,
    get_engine,
)

from .crypt_helpers import skip_unless_runs, spy_on_bound_ciphers

ENGINES = available_engines()
SPECS = ["aes-xts-plain64:512:512", "aes-gcm-random:256:4096", "chacha20-poly1305-random:256:512",
         "null:0:4096"]
SIZE = 1 << 21  # two 1 MiB chunks


def _volume(spec_text: str, engine: str = "auto", size: int = SIZE) -> EncryptedVolume:
    spec = CipherSpec.parse(spec_text)
    if engine != "auto":
        skip_unless_runs(engine, spec)
    key = bytes((i * 91 + 7) % 256 for i in range(spec.key_bytes)) if spec.key_bytes else None
    return EncryptedVolume(size, spec, key, engine=engine)


@pytest.fixture
def calls(monkeypatch):
    """Engine calls, as (direction, units) pairs, of every cipher a volume binds."""
    seen = spy_on_bound_ciphers(monkeypatch)

    class Pairs(list):
        def __eq__(self, other):
            return [(d, u) for d, u, _ in seen] == other

        def clear(self):
            seen.clear()

    return Pairs()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec_text=st.sampled_from(SPECS),
    engine=st.sampled_from(ENGINES),
    batches=st.lists(
        st.tuples(
            st.booleans(),
            st.lists(st.tuples(st.integers(0, SIZE - 1), st.integers(0, 9000)), min_size=0,
                     max_size=6),
        ),
        min_size=1,
        max_size=5,
    ),
)
def test_vectored_io_matches_a_flat_model(spec_text, engine, batches):
    assume(get_engine(engine).supports(spec_text))
    vol = _volume(spec_text, engine)
    model = bytearray(SIZE)
    for n, (is_write, pieces) in enumerate(batches):
        pieces = [(off, min(length, SIZE - off)) for off, length in pieces]
        if is_write:
            data = [bytes((n * 31 + i) % 251 + 1 for i in range(length)) for _, length in pieces]
            assert vol.writev(list(zip([p[0] for p in pieces], data, strict=True))) == sum(
                len(d) for d in data)
            for (off, _), d in zip(pieces, data, strict=True):  # in order: later pieces win
                model[off : off + len(d)] = d
        else:
            got = vol.readv(pieces)
            assert got == [bytes(model[off : off + length]) for off, length in pieces]
            bufs = [bytearray(length) for _, length in pieces]
            assert vol.readintov([(off, b) for (off, _), b in zip(pieces, bufs,
                                                                  strict=True)]) == sum(
                length for _, length in pieces)
            assert bufs == got
    assert vol.read(0, SIZE) == model


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spec_text", SPECS[:3])
def test_scattered_whole_sectors_are_one_engine_call(spec_text, engine, calls):
    vol = _volume(spec_text, engine)
    size = vol.sector_size
    n = vol.sector_count
    sectors = [n * 3 // 5, 7, n - 3, 8, n // 2 + 1, 9, 100]  # both chunks, unsorted, 7-9 adjacent
    data = [os.urandom(size) for _ in sectors]
    calls.clear()
    vol.writev([(s * size, d) for s, d in zip(sectors, data, strict=True)])
    assert calls == [("enc", len(sectors))]
    calls.clear()
    assert vol.readv([(s * size, size) for s in sectors]) == data
    assert calls == [("dec", len(sectors))]
    # the same sectors written one by one hold the same plaintext (and, for XTS, ciphertext)
    other = _volume(spec_text, engine)
    for s, d in zip(sectors, data, strict=True):
        other.write(s * size, d)
    for s in sectors:
        assert other.read(s * size, size) == vol.read(s * size, size)
        if not vol.spec.is_aead:
            assert other.raw(s, 1) == vol.raw(s, 1)


def test_long_contiguous_runs_are_encrypted_in_place(calls):
    vol = _volume("aes-xts-plain64:512:4096")
    chunk = os.urandom(1 << 19)
    calls.clear()
    vol.writev([(1 << 19, chunk), (0, chunk)])  # one contiguous MiB, given back to front
    assert calls == [("enc", 256)]
    assert vol.read(0, 1 << 20) == chunk + chunk


def test_overlapping_pieces_apply_in_order():
    vol = _volume("aes-gcm-random:256:4096")
    vol.writev([(0, b"a" * 6000), (100, b"b" * 10), (5990, b"c" * 20)])
    assert vol.read(0, 6010) == b"a" * 100 + b"b" * 10 + b"a" * 5880 + b"c" * 20


@pytest.mark.parametrize(
    "bad",
    [(SIZE - 10, b"x" * 11), (-1, b"x"), ("0", b"x"), (0, "text"), (0, None)],
)
def test_one_bad_piece_changes_nothing(bad):
    vol = _volume("aes-gcm-random:256:4096")
    vol.write(0, os.urandom(3 * 4096))
    before = vol.raw(0, SIZE // 4096)
    stats = vol.stats
    with pytest.raises((VolumeRangeError, TypeError)):
        vol.writev([(4096, b"y" * 4096), (20000, b"z" * 10), bad])
    assert vol.raw(0, SIZE // 4096) == before
    assert vol.stats == stats


def test_readv_bad_piece_is_refused_before_reading():
    vol = _volume("aes-xts-plain64:512:4096")
    with pytest.raises(VolumeRangeError):
        vol.readv([(0, 10), (SIZE - 1, 2)])
    with pytest.raises(VolumeRangeError):
        vol.readv([(0, -1)])
    with pytest.raises(TypeError):
        vol.readintov([(0, bytes(10))])  # not writable


@pytest.mark.parametrize("engine", ENGINES)
def test_tampered_sector_in_a_vector_names_it_and_loses_nothing_else(engine):
    vol = _volume("chacha20-poly1305-random:256:512", engine)
    data = os.urandom(64 * 512)
    vol.write(0, data)
    ct, _meta = vol.raw(40, 1)
    vol.raw_write(40, bytes([ct[0] ^ 1]) + ct[1:])
    before = vol.raw(0, 64)
    with pytest.raises(IntegrityError) as err:
        vol.readv([(0, 512), (40 * 512 + 3, 10), (50 * 512, 512)])
    assert err.value.sector == 40
    # a partial write into the bad sector is refused and changes nothing, even with good
    # pieces beside it
    with pytest.raises(IntegrityError) as err:
        vol.writev([(0, b"q" * 512), (40 * 512 + 1, b"w")])
    assert err.value.sector == 40 and vol.raw(0, 64) == before
    assert vol.readv([(0, 512), (41 * 512, 512)]) == [data[:512], data[41 * 512 : 42 * 512]]
    vol.writev([(40 * 512, bytes(512))])  # a whole-sector write replaces it
    assert vol.read(40 * 512, 512) == bytes(512)


def test_vectored_requests_are_counted():
    vol = _volume("aes-xts-plain64:512:4096")
    vol.writev([(0, b"a" * 4096), (8192, b"b" * 100)])
    vol.readv([(0, 10), (8192, 5)])
    st = vol.stats
    assert (st.write_requests, st.bytes_written) == (2, 4196)
    assert (st.read_requests, st.bytes_read) == (2, 15)
    assert vol.writev([]) == 0 and vol.readv([]) == []


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_scattered_single_sectors_land_as_separate_writes_would(spec_text, engine, calls):
    """Random I/O at depth (distinct whole sectors) takes one cipher call and leaves the
    volume exactly as one write per piece would (XTS: the same ciphertext)."""
    a, b = _volume(spec_text, engine), _volume(spec_text, engine)
    size, n = a.sector_size, a.sector_count
    picks = [n - 1, 3, n // 2, 4, 0, n // 3]
    pieces = [(s * size, bytes([s % 251]) * size) for s in picks]
    pieces[1] = (pieces[1][0], bytearray(pieces[1][1]))
    b.write(4 * size, b"old" * 10)  # one sector rewritten, the others new
    a.write(4 * size, b"old" * 10)
    calls.clear()
    assert a.writev(pieces) == len(picks) * size
    assert calls == [("enc", len(picks))]
    for off, data in pieces:
        b.write(off, data)
    for s in picks:
        assert a.read(s * size, size) == b.read(s * size, size)
    if not a.spec.is_aead:
        assert a.raw(0, n)[0] == b.raw(0, n)[0]
    sa, sb = a.stats, b.stats
    assert (sa.sectors_allocated, sa.bytes_written) == (sb.sectors_allocated, sb.bytes_written)


@pytest.mark.parametrize("engine", available_engines())
@pytest.mark.parametrize("unaligned", [False, True])
def test_a_vectored_read_names_the_requests_first_bad_sector_on_every_path(engine, unaligned):
    """The native batch names the first tampered sector in request order and counts them
    all; the Python path (the cryptography engine, or an unaligned piece) decrypted its long
    pieces first and named one of theirs."""
    spec = CipherSpec.parse("aes-gcm-random:256:4096")
    size = spec.sector_size
    vol = EncryptedVolume(1 << 20, spec, os.urandom(spec.key_bytes), engine=engine)
    vol.write(0, os.urandom(32 * size))
    for sector in (0, 20):
        ct, _ = vol.raw(sector, 1)
        vol.raw_write(sector, bytes([ct[0] ^ 1]) + ct[1:])
    pieces = [(20 * size + (1 if unaligned else 0), size - 1 if unaligned else size),
              (0, 16 * size)]
    for call, args in (("readv", pieces), ("readintov",
                                          [(o, bytearray(n)) for o, n in pieces])):
        with pytest.raises(IntegrityError) as info:
            getattr(vol, call)(args)
        assert (info.value.sector, info.value.count) == (20, 2), call
