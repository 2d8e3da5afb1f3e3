"""EncryptedVolume: byte-addressed I/O, sparseness, discard, tampering, errors, secrets."""

from __future__ import annotations

import errno
import os
import pickle

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from simulator.crypt import (
    CipherSpec,
    EncryptedVolume,
    IntegrityError,
    InvalidKeyError,
    VolumeRangeError,
    available_engines,
    get_engine,
)

from .crypt_helpers import reference_encrypt, skip_unless_runs, spy_on_bound_ciphers

GiB = 1 << 30
ENGINES = available_engines()
SPECS = ["aes-xts-plain64:512:512", "aes-gcm-random:256:4096", "chacha20-poly1305-random:256:512",
         "null:0:512"]


def _key(spec: CipherSpec) -> bytes | None:
    if spec.key_bytes == 0:
        return None
    return bytes((i * 91 + 7) % 256 for i in range(spec.key_bytes))


def _volume(spec_text: str, size: int = 1 << 22, engine: str = "auto", **kw) -> EncryptedVolume:
    spec = CipherSpec.parse(spec_text)
    if engine != "auto":
        skip_unless_runs(engine, spec)
    return EncryptedVolume(size, spec, _key(spec), engine=engine, **kw)


@pytest.fixture(params=ENGINES)
def engine_name(request):
    return request.param


# ---------------------------------------------------------------- I/O against a model


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    spec_text=st.sampled_from(SPECS),
    engine=st.sampled_from(ENGINES),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["write", "read", "discard"]),
            st.integers(0, 3 * 65536),
            st.integers(0, 20000),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=12,
    ),
)
def test_volume_matches_a_flat_model(spec_text, engine, ops):
    assume(get_engine(engine).supports(spec_text))
    """Random writes, reads and discards at any offset behave like a flat zeroed buffer
    (chunks of 64 KiB so requests cross chunk boundaries)."""
    size = 4 * 65536
    vol = _volume(spec_text, size, engine, chunk_bytes=65536)
    model = bytearray(size)
    for op, offset, length, fill in ops:
        length = min(length, size - offset)
        if op == "write":
            data = bytes((fill + i) % 256 for i in range(length))
            assert vol.write(offset, data) == length
            model[offset : offset + length] = data
        elif op == "discard":
            vol.discard(offset, length)
            model[offset : offset + length] = bytes(length)
        else:
            assert vol.read(offset, length) == bytes(model[offset : offset + length])
    assert vol.read(0, size) == bytes(model)
    buf = bytearray(size)
    assert vol.readinto(0, buf) == size and buf == model


def test_stored_sectors_use_the_documented_format(engine_name):
    """What the volume stores is what the independent reference computes."""
    for spec_text in SPECS:
        spec = CipherSpec.parse(spec_text)
        vol = _volume(spec_text, engine=engine_name)
        data = os.urandom(spec.sector_size * 3)
        vol.write(spec.sector_size * 5, data)
        ct, meta = vol.raw(5, 3)
        nonces = [meta[i * 28 : i * 28 + 12] for i in range(3)] if meta else None
        assert (ct, meta) == reference_encrypt(spec, _key(spec) or b"", data, 5, nonces)


def test_each_engine_reads_the_other_engines_volume():
    spec = CipherSpec.parse("aes-gcm-random:256:512")
    a = _volume(str(spec), engine="cryptography")
    data = os.urandom(5000)
    a.write(1234, data)
    ct, meta = a.raw(0, 16)
    for name in ENGINES:
        b = _volume(str(spec), engine=name)
        b.raw_write(0, ct, meta)
        assert b.read(1234, 5000) == data


def test_bulk_write_is_one_engine_call_per_chunk(monkeypatch):
    seen = spy_on_bound_ciphers(monkeypatch)
    vol = _volume("aes-xts-plain64:512:4096", size=1 << 24)

    class Sizes(list):
        def __eq__(self, other):
            return [n for _, _, n in seen] == other

        def clear(self):
            seen.clear()

    calls = Sizes()
    calls.clear()  # not the calls "auto" made choosing its backend (self-tests, measurement)
    vol.write(0, os.urandom(1 << 20))
    assert calls == [1 << 20]
    calls.clear()
    vol.write(1 << 19, os.urandom(1 << 20))  # straddles two 1 MiB chunks
    assert calls == [1 << 19, 1 << 19]
    calls.clear()
    assert len(vol.read(0, 2 << 20)) == 2 << 20
    assert calls == [1 << 20, 1 << 19]  # the unwritten tail is not decrypted


# ---------------------------------------------------------------- sparseness


def test_large_volume_is_sparse():
    vol = _volume("aes-xts-plain64:512:4096", size=200 * GiB)
    assert vol.sector_count == 200 * GiB // 4096
    assert vol.stats.resident_bytes == 0
    assert vol.read(150 * GiB, 8192) == bytes(8192)  # never written: zeros
    vol.write(199 * GiB + 5, b"hello")
    st_ = vol.stats
    assert st_.chunks_allocated == 1 and st_.sectors_allocated == 1
    assert st_.resident_bytes < 2 << 20
    assert vol.read(199 * GiB, 10) == bytes(5) + b"hello"
    assert vol.is_allocated((199 * GiB) // 4096)


def test_unwritten_sectors_are_not_decrypted(monkeypatch):
    vol = _volume("aes-gcm-random:256:4096")

    def boom(*args):
        raise AssertionError("decrypted an unwritten sector")

    # on the class: monkeypatch would leave the real method behind as an instance attribute
    # of the shared engine, hiding later class-level spies
    monkeypatch.setattr(type(vol._engine), "_crypt", boom)
    assert vol.read(0, 1 << 20) == bytes(1 << 20)


def test_discard_returns_sectors_and_memory():
    vol = _volume("aes-gcm-random:256:4096", size=8 << 20)
    vol.write(0, os.urandom(3 << 20))
    assert vol.stats.chunks_allocated == 3
    vol.discard(1 << 20, 1 << 20)  # a whole chunk
    assert vol.stats.chunks_allocated == 2
    assert vol.stats.sectors_allocated == 512
    assert vol.read(1 << 20, 1 << 20) == bytes(1 << 20)
    raw_ct, raw_meta = vol.raw(256, 4)
    assert raw_ct == bytes(4 * 4096) and raw_meta == bytes(4 * 28)
    # partial discard: whole sectors unallocated, partial ones zeroed in range
    before = vol.read(0, 3 * 4096)
    vol.discard(100, 2 * 4096)
    assert not vol.is_allocated(1)
    assert vol.is_allocated(0) and vol.is_allocated(2)
    assert vol.read(0, 3 * 4096) == before[:100] + bytes(2 * 4096) + before[100 + 2 * 4096 :]
    vol.discard(0, 8 << 20)
    assert vol.stats.resident_bytes == 0 and vol.stats.sectors_allocated == 0


# ---------------------------------------------------------------- tampering


@pytest.mark.parametrize(
    "spec_text", ["aes-gcm-random:256:4096", "chacha20-poly1305-random:256:512"]
)
@pytest.mark.parametrize("what", ["ciphertext", "tag", "nonce", "moved"])
def test_aead_tampering_raises_eio_for_that_sector_only(engine_name, spec_text, what):
    vol = _volume(spec_text, engine=engine_name)
    size = vol.spec.sector_size
    data = os.urandom(size * 8)
    vol.write(0, data)
    victim = 5
    ct, meta = vol.raw(victim, 1)
    if what == "ciphertext":
        vol.raw_write(victim, bytes([ct[0] ^ 1]) + ct[1:])
    elif what == "tag":
        vol.raw_write(victim, ct, meta[:12] + bytes([meta[12] ^ 1]) + meta[13:])
    elif what == "nonce":
        vol.raw_write(victim, ct, bytes([meta[0] ^ 1]) + meta[1:])
    else:  # a valid sector copied over another position
        vol.raw_write(victim, *vol.raw(2, 1))
    with pytest.raises(IntegrityError) as err:
        vol.read(0, size * 8)
    assert err.value.sector == victim and err.value.errno == errno.EIO
    assert isinstance(err.value, OSError)
    with pytest.raises(OSError):
        vol.read(victim * size + 10, 1)
    # nothing else is lost
    assert vol.read(0, victim * size) == data[: victim * size]
    assert vol.read((victim + 1) * size, 2 * size) == data[(victim + 1) * size :]
    assert vol.stats.integrity_errors >= 2
    # a partial write over the bad sector needs its old content: refused, nothing changed
    with pytest.raises(IntegrityError):
        vol.write(victim * size + 1, b"x")
    # a whole-sector write repairs it
    vol.write(victim * size, bytes(size))
    assert vol.read(victim * size, size) == bytes(size)


def test_xts_tampering_yields_garbage_silently(engine_name):
    """The difference users compare: XTS has no tag, the read 'succeeds' with garbage."""
    vol = _volume("aes-xts-plain64:512:4096", engine=engine_name)
    data = os.urandom(4096 * 4)
    vol.write(0, data)
    ct, meta = vol.raw(2, 1)
    assert meta is None
    vol.raw_write(2, bytes([ct[0] ^ 1]) + ct[1:])
    got = vol.read(0, len(data))  # no error
    assert got[2 * 4096 : 2 * 4096 + 16] != data[2 * 4096 : 2 * 4096 + 16]
    assert got[2 * 4096 + 16 : 3 * 4096] == data[2 * 4096 + 16 : 3 * 4096]  # one block garbled
    vol.raw_write(3, *vol.raw(1, 1))  # moved sector: garbage too
    assert vol.read(3 * 4096, 4096) != data[3 * 4096 :]


# ---------------------------------------------------------------- errors change nothing


def test_bad_requests_raise_and_change_nothing():
    vol = _volume("aes-gcm-random:256:512", size=1 << 20)
    vol.write(0, b"a" * 1000)
    snapshot = vol.raw(0, 2048)
    for call in (
        lambda: vol.write(-1, b"x"),
        lambda: vol.write((1 << 20) - 1, b"xy"),
        lambda: vol.write(1 << 20, b"x"),
        lambda: vol.read(-1, 1),
        lambda: vol.read(0, (1 << 20) + 1),
        lambda: vol.read(0, -1),
        lambda: vol.discard((1 << 20) - 10, 11),
        lambda: vol.raw(2047, 2),
        lambda: vol.raw_write(2048, bytes(512)),
        lambda: vol.raw_write(0, bytes(100)),
        lambda: vol.raw_write(0, bytes(512), bytes(27)),
        lambda: vol.write(1.5, b"x"),  # type: ignore[arg-type]
        lambda: vol.is_allocated(2048),
    ):
        with pytest.raises((VolumeRangeError, ValueError)):
            call()
    with pytest.raises(TypeError):
        vol.write(0, "text")  # type: ignore[arg-type]
    assert vol.raw(0, 2048) == snapshot


@pytest.mark.parametrize("spec_text", ["aes-xts-plain64:512:4096", "aes-gcm-random:256:512"])
def test_numpy_integers_are_offsets_and_lengths_like_ints(engine_name, spec_text):
    """Offsets, lengths and sector numbers may be NumPy integers (anything with
    ``__index__``, as ``os.pwrite`` takes), on every path: whole sectors, partial ones,
    vectored, discard and raw access; bools and floats stay refused."""
    import numpy as np

    vol = _volume(spec_text, size=1 << 22, engine=engine_name)
    ref = _volume(spec_text, size=1 << 22, engine=engine_name)
    size = vol.sector_size
    steps = [
        ("write", (8 * size, b"a" * (2 * size))),
        ("write", (8 * size + 3, b"partial")),
        ("writev", ([(20 * size, b"b" * size), (40 * size + 5, b"edge")],)),
        ("discard", (9 * size, size)),
    ]
    for op, args in steps:
        getattr(ref, op)(*args)
        if op == "writev":
            np_args = ([(np.int64(off), data) for off, data in args[0]],)
        else:
            np_args = (np.int64(args[0]), *(np.uint32(a) if isinstance(a, int) else a
                                           for a in args[1:]))
        getattr(vol, op)(*np_args)
    whole = ref.read(0, 64 * size)
    assert vol.read(np.int64(0), np.int64(64 * size)) == whole
    buf = bytearray(3 * size)
    assert vol.readinto(np.uint16(8 * size), buf) == 3 * size
    assert bytes(buf) == whole[8 * size : 11 * size]
    assert vol.readv([(np.int64(20 * size), np.int64(size))]) == [b"b" * size]
    bufs = [bytearray(4), bytearray(size)]
    vol.readintov([(np.int64(40 * size + 5), bufs[0]), (np.int32(20 * size), bufs[1])])
    assert bufs == [bytearray(b"edge"), bytearray(b"b" * size)]
    assert vol.is_allocated(np.int64(8)) and not vol.is_allocated(np.int64(9))
    assert len(vol.raw(np.int64(8), np.int64(1))[0]) == size
    assert vol.stats.bytes_written == ref.stats.bytes_written
    for bad in (True, 1.0, np.float64(0.0)):
        with pytest.raises(VolumeRangeError, match="offset must be an int"):
            vol.write(bad, b"x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "spec_text", "key", "exc"),
    [
        (1000, "aes-xts-plain64:512:512", bytes(range(64)), VolumeRangeError),
        (0, "aes-xts-plain64:512:512", bytes(range(64)), VolumeRangeError),
        (4096 * 3 + 512, "aes-xts-plain64:512:4096", bytes(range(64)), VolumeRangeError),
        (4096, "aes-xts-plain64:512:4096", bytes(range(32)), InvalidKeyError),
        (4096, "aes-xts-plain64:512:4096", bytes(64), InvalidKeyError),
        (4096, "aes-gcm-random:128", bytes(32), InvalidKeyError),
        (4096, "aes-gcm-random:192", bytes(24), ValueError),
    ],
)
def test_bad_volume_creation(size, spec_text, key, exc):
    with pytest.raises(exc):
        EncryptedVolume(size, spec_text, key)


def test_null_volume_takes_no_key():
    vol = EncryptedVolume(8192, "null:0:512", None)
    vol.write(3, b"abc")
    assert vol.raw(0, 1)[0][3:6] == b"abc"  # plaintext on "disk": the baseline
    with pytest.raises(InvalidKeyError):
        EncryptedVolume(8192, "null:0:512", b"k")


# ---------------------------------------------------------------- secrets, stats, lifecycle


def test_repr_and_pickle_never_expose_the_key():
    key = bytes.fromhex("a5" * 31 + "5a" * 33)
    vol = EncryptedVolume(1 << 20, "aes-xts-plain64", key)
    text = repr(vol) + str(vol) + repr(vol.spec) + repr(vol.stats) + repr(get_engine(vol.engine))
    assert "a5a5" not in text and "A5A5" not in text and key.hex() not in text
    assert "key" not in repr(vol).lower()
    with pytest.raises(TypeError, match="key material"):
        pickle.dumps(vol)


def test_stats_and_properties():
    vol = _volume("aes-gcm-random:256:4096", size=1 << 22, threads=2)
    assert (vol.size, vol.sector_size, vol.sector_count, vol.threads) == (1 << 22, 4096, 1024, 2)
    assert vol.engine in ENGINES
    vol.write(10, b"x" * 5000)  # 2 sectors, both partial
    vol.write(0, b"y" * 4096)  # whole sector
    vol.read(0, 100)
    vol.flush()
    s = vol.stats
    assert s.bytes_written == 9096 and s.write_requests == 2
    assert s.bytes_read == 100 and s.read_requests == 1
    assert s.sectors_encrypted == 3 and s.sectors_allocated == 2
    assert s.flushes == 1 and s.rmw_sectors == 0
    vol.write(4096 + 1, b"z")  # read-modify-write of a written sector
    assert vol.stats.rmw_sectors == 1
    assert vol.nonce_uses_left == 2**32 - 4
    assert set(s.to_dict()) >= {"bytes_written", "resident_bytes", "sectors_allocated"}
    assert _volume("aes-xts-plain64:512:4096").nonce_uses_left is None


def test_close_wipes_and_refuses_io():
    with _volume("aes-xts-plain64:512:4096") as vol:
        vol.write(0, b"data")
    assert vol._cipher is None  # the bound cipher (and its key copy) is gone
    assert "closed" in repr(vol)
    with pytest.raises(ValueError, match="closed"):
        vol.read(0, 1)


def test_integrity_error_pickles_with_its_sector():
    err = pickle.loads(pickle.dumps(IntegrityError(42, 3)))
    assert (err.sector, err.count, err.errno) == (42, 3, errno.EIO)


def test_a_volume_has_at_most_2_64_sectors():
    """Sector numbers (the XTS tweak, the AEAD's associated data) are 64-bit: a volume with
    more sectors is refused when it is made, not at its first write past 2**64 sectors."""
    spec = CipherSpec.parse("aes-xts-plain64:512:512")
    top = EncryptedVolume((1 << 64) * 512, spec, bytes(range(64)))
    top.write(((1 << 64) - 1) * 512, b"z" * 512)  # the last sector exists and works
    assert top.read(((1 << 64) - 1) * 512, 512) == b"z" * 512
    with pytest.raises(VolumeRangeError, match="at most 2\\*\\*64 sectors"):
        EncryptedVolume((1 << 64) * 512 + 512, spec, bytes(range(64)))


def test_threads_and_chunk_bytes_are_checked_at_creation():
    """threads takes NumPy integers as every offset does; a chunk size outside the sector
    size .. 1 GiB is a ValueError, not the bare MemoryError of allocating it."""
    import numpy as np

    vol = _volume("aes-xts-plain64:512:4096", size=1 << 20, threads=np.int64(2))
    assert vol.threads == 2
    for bad in (2**40, 100, 0):
        with pytest.raises(ValueError, match="chunk_bytes"):
            _volume("aes-xts-plain64:512:4096", size=1 << 20, chunk_bytes=bad)
    for bad in (0, True, 1.5):
        with pytest.raises(ValueError, match="threads"):
            _volume("aes-xts-plain64:512:4096", size=1 << 20, threads=bad)


class _FailsAfterEncrypting:
    """A bound cipher that encrypts (spending nonces) and then fails, as a library error
    after the cipher ran would."""

    def __init__(self, bound, unit):
        self._bound, self._unit = bound, unit
        self.encrypted = 0  # sectors put through the cipher

    def encrypt(self, src, *args):
        self._bound.encrypt(src, *args)
        self.encrypted += memoryview(src).nbytes // self._unit
        raise MemoryError("after the cipher ran")

    def __getattr__(self, name):
        return getattr(self._bound, name)


@pytest.mark.parametrize("request_shape", ["one chunk", "two chunks", "scattered", "edges"])
def test_a_failed_write_still_counts_its_nonces(request_shape):
    """Sectors put through the cipher by a write that then failed count against the key's
    random-nonce limit: ``nonce_uses_left`` must never overstate what is left (the Python
    path; the native one is covered in test_crypt_volume_native_vector.py)."""
    vol = _volume("aes-gcm-random:256:4096", size=1 << 24, engine="cryptography")
    spc = vol._store.sectors_per_chunk
    unit = 4096
    vol._cipher = failing = _FailsAfterEncrypting(vol._cipher, unit)
    before = vol.nonce_uses_left
    with pytest.raises(MemoryError):
        if request_shape == "one chunk":
            vol.write(0, b"a" * 2 * unit)
        elif request_shape == "two chunks":  # the first chunk's span encrypts, then fails
            vol.write((spc - 1) * unit, b"b" * 3 * unit)
        elif request_shape == "scattered":
            vol.writev([(0, b"c" * unit), (40 * unit, b"d" * unit), (900 * unit, b"e" * unit)])
        else:
            vol.write(10, b"f" * (2 * unit))  # partial sectors: read, patched, encrypted
    spent = {"one chunk": 2, "two chunks": 1, "scattered": 3, "edges": 1}[request_shape]
    assert failing.encrypted == spent
    assert before - vol.nonce_uses_left >= spent


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("offset", [0, 1])
def test_an_empty_buffer_of_several_dimensions_is_an_empty_request_on_every_engine(
        engine, offset):
    """numpy's shape (0, 4096) is zero bytes: memoryview.cast refuses it, the engines must
    not (the native ones took it, the portable one and unaligned Python paths raised)."""
    np = pytest.importorskip("numpy")
    spec = CipherSpec.parse("aes-xts-plain64:512:4096")
    key = os.urandom(spec.key_bytes)
    vol = EncryptedVolume(1 << 20, spec, key, engine=engine)
    vol.write(0, b"\x01" * 8192)
    empty = np.zeros((0, 4096), np.uint8)
    assert vol.write(offset, empty) == 0
    assert vol.writev([(offset, empty)]) == 0
    assert vol.readinto(offset, np.zeros((0, 16), np.uint8)) == 0
    assert vol.readintov([(offset, np.zeros((0, 16), np.uint8))]) == 0
    bound = get_engine(engine).bind(spec, key)
    bound.encrypt(empty, np.zeros((0, 4096), np.uint8), 0)
    assert vol.read(0, 8192) == b"\x01" * 8192
