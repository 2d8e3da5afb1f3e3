"""Edge cases found in review: argument types, aliasing buffers, extreme thread counts.

Each test pins one defect that existed: both engines must refuse what the native one refuses
(never silently corrupt), and odd but legitimate inputs (numpy integers) must work.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from simulator.crypt import (
    CipherSpec,
    InvalidCipherSpecError,
    InvalidKeyError,
    available_engines,
    get_engine,
)

ENGINES = available_engines()


@pytest.fixture(params=ENGINES)
def engine(request):
    return get_engine(request.param)


def _key(spec: CipherSpec) -> bytes:
    return bytes((i * 37 + 11) % 256 for i in range(spec.key_bytes))


# ---------------------------------------------------------------- CipherSpec types


@pytest.mark.parametrize(
    ("bits", "sector"), [(512.0, 4096), (True, 4096), ("512", 4096), (512, "4096"), (512, 4096.0)]
)
def test_non_integer_key_or_sector_sizes_refused(bits, sector):
    with pytest.raises(InvalidCipherSpecError, match="integer"):
        CipherSpec.parse("aes-xts-plain64", key_bits=bits, sector_size=sector)
    with pytest.raises(InvalidCipherSpecError, match="integer"):
        CipherSpec("aes-xts-plain64", bits, sector)


def test_numpy_integers_are_integers():
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=np.int64(256), sector_size=np.int32(512))
    assert spec == CipherSpec("aes-xts-plain64", 256, 512)
    assert type(spec.key_bits) is int and type(spec.sector_size) is int
    assert str(spec) == "aes-xts-plain64:256:512"


def test_capacity_overhead_without_a_device_is_the_metadata_share():
    # FACTS.md: 28 bytes a sector, 5.5 % at 512 B, 0.68 % at 4 KiB (no journal counted)
    assert CipherSpec.parse("aes-gcm-random", sector_size=512).capacity_overhead() == (
        pytest.approx(28 / 512)
    )
    assert CipherSpec.parse("aes-gcm-random").capacity_overhead() == pytest.approx(28 / 4096)
    assert CipherSpec.parse("aes-xts-plain64").capacity_overhead() == 0.0


# ---------------------------------------------------------------- aliasing buffers


def test_partially_overlapping_src_and_dst_refused_by_every_engine(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    buf = bytearray(os.urandom(2048))
    before = bytes(buf)
    with pytest.raises(ValueError, match="overlap"):
        engine.encrypt_sectors(spec, _key(spec), memoryview(buf)[0:1024],
                               memoryview(buf)[512:1536], 0)
    assert buf == before  # refused before anything was written


def test_metadata_overlapping_data_refused_by_every_engine(engine):
    spec = CipherSpec.parse("aes-gcm-random", sector_size=512)
    buf = bytearray(1024)
    with pytest.raises(ValueError, match="overlap"):
        engine.encrypt_sectors(spec, _key(spec), bytes(512), memoryview(buf)[0:512], 0,
                               memoryview(buf)[500:528])


def test_in_place_is_still_allowed(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    pt = os.urandom(1024)
    buf = bytearray(pt)
    engine.encrypt_sectors(spec, _key(spec), buf, buf, 3)
    assert buf != pt
    engine.decrypt_sectors(spec, _key(spec), buf, buf, 3)
    assert buf == pt


# ---------------------------------------------------------------- first_sector and threads


def test_first_sector_accepts_numpy_integers_and_refuses_bools(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    a, b = bytearray(512), bytearray(512)
    engine.encrypt_sectors(spec, _key(spec), bytes(512), a, np.uint64(7))
    engine.encrypt_sectors(spec, _key(spec), bytes(512), b, 7)
    assert a == b
    with pytest.raises(ValueError, match="first_sector"):
        engine.encrypt_sectors(spec, _key(spec), bytes(512), a, True)
    with pytest.raises(ValueError, match="first_sector"):
        engine.encrypt_sectors(spec, _key(spec), bytes(512), a, 7.0)


def test_first_sector_beyond_64_bits_refused_even_when_empty(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    with pytest.raises(ValueError, match="2\\*\\*64"):
        engine.encrypt_sectors(spec, _key(spec), b"", bytearray(), 2**64)


@pytest.mark.parametrize("threads", [10**30, 2**31, 1000])
def test_huge_thread_counts_are_capped_not_an_overflow(engine, threads):
    spec = CipherSpec.parse("aes-gcm-random", sector_size=512)
    src = os.urandom(512 * 3)
    ct, meta, out = bytearray(len(src)), bytearray(3 * 28), bytearray(len(src))
    engine.encrypt_sectors(spec, _key(spec), src, ct, 0, meta, threads=threads)
    engine.decrypt_sectors(spec, _key(spec), ct, out, 0, meta, threads=threads)
    assert out == src


def test_threads_must_be_a_real_integer(engine):
    spec = CipherSpec.parse("aes-xts-plain64", sector_size=512)
    for bad in (True, 2.0, "2"):
        with pytest.raises(ValueError, match="threads"):
            engine.encrypt_sectors(spec, _key(spec), bytes(512), bytearray(512), 0,
                                   threads=bad)
    engine.encrypt_sectors(spec, _key(spec), bytes(512), bytearray(512), 0,
                           threads=np.int64(2))


# ---------------------------------------------------------------- crypt_units (vectors API)


def test_crypt_units_checks_its_arguments(engine):
    key = bytes(range(64))
    with pytest.raises(ValueError):
        engine.crypt_units("xts", True, key, bytes(32), bytearray(32), -1, 16)
    with pytest.raises(ValueError):
        engine.crypt_units("xts", True, key, bytes(32), bytearray(32), 2**64 - 1, 16)
    with pytest.raises(ValueError, match="metadata"):
        engine.crypt_units("gcm", True, key[:32], bytes(32), bytearray(32), 0, 16,
                           bytearray(10))
    with pytest.raises(TypeError):
        engine.crypt_units("xts", True, 64, bytes(32), bytearray(32), 0, 16)


# ---------------------------------------------------------------- the C entry point itself


@pytest.mark.skipif("native-openssl" not in ENGINES, reason="native engine not built")
def test_native_entry_point_refuses_bad_indices_and_sector_lists():
    from simulator.crypt import BackendError, IntegrityError, _native

    key, src, dst = bytes(range(64)), bytes(1024), bytearray(1024)
    bound = _native.Bound(_native.BACKEND_OPENSSL, 1, key, 512, 2, IntegrityError, BackendError)
    with pytest.raises(ValueError):  # was wrapped silently to 2**64 - 1
        bound.encrypt(src, dst, -1)
    with pytest.raises(ValueError):
        bound.encrypt(src, dst, 2**64)
    with pytest.raises(ValueError, match="past sector"):
        bound.encrypt(src, dst, 2**64 - 1)
    with pytest.raises(ValueError, match="sectors"):
        bound.encrypt(src, dst, 0, None, np.zeros(3, dtype=np.uint64))
    # a gathered batch: each unit gets its own sector number
    bound.encrypt(src, dst, 0, None, np.array([9, 4], dtype=np.uint64))
    one = bytearray(512)
    bound.encrypt(bytes(512), one, 4)
    assert dst[512:] == one


_MESSAGE_MISTAKES = {
    "xts equal halves": ("xts", bytes(32) * 2, bytes(16), bytes(32), InvalidKeyError),
    "xts short key": ("xts", bytes(range(48)), bytes(16), bytes(32), InvalidKeyError),
    "xts 15 bytes": ("xts", bytes(range(64)), bytes(16), bytes(15), ValueError),
    "xts 8-byte tweak": ("xts", bytes(range(64)), bytes(8), bytes(32), ValueError),
    "gcm 20-byte key": ("gcm", bytes(range(20)), bytes(12), bytes(32), InvalidKeyError),
    "gcm no nonce": ("gcm", bytes(range(32)), b"", bytes(32), ValueError),
    "gcm 1-byte nonce": ("gcm", bytes(range(32)), bytes(1), bytes(32), ValueError),
    "gcm 100-byte nonce": ("gcm", bytes(range(32)), bytes(100), bytes(32), ValueError),
    "xts over 2^20 blocks": ("xts", bytes(range(64)), bytes(16), bytes((16 << 20) + 16),
                             ValueError),
}


@pytest.mark.parametrize("tag", [bytes(5), None], ids=["5-byte tag", "no tag"])
@pytest.mark.parametrize("cipher", ["gcm", "chacha20-poly1305"])
def test_a_bad_tag_is_refused_alike_not_read_as_a_failed_tag(cipher, tag):
    """IPP and OpenSSL raised ValueError, the portable engine answered None (a tag that did
    not verify) for a tag of the wrong length or none at all."""
    got = {}
    for name in ENGINES:
        engine = get_engine(name)
        if not engine.supports({"gcm": "aes-gcm-random"}.get(cipher, cipher + "-random")):
            continue
        with pytest.raises(ValueError) as info:
            engine.crypt_message(cipher, False, bytes(32), bytes(12), bytes(32), b"", tag)
        got[name] = str(info.value)
    assert got and len(set(got.values())) == 1, got


@pytest.mark.parametrize("case", list(_MESSAGE_MISTAKES))
def test_single_message_mistakes_are_refused_alike_by_every_backend(case):
    """The vector paths (crypt_message, crypt_units) check their arguments once, for every
    backend: IPP encrypted under an XTS key with equal halves that OpenSSL refused with a
    BackendError and the portable engine with a ValueError."""
    cipher, key, iv, data, exc = _MESSAGE_MISTAKES[case]
    got = {}
    for name in ENGINES:
        engine = get_engine(name)
        if cipher == "gcm" and not engine.supports("aes-gcm-random"):
            continue
        with pytest.raises(exc) as info:
            engine.crypt_message(cipher, True, key, iv, data)
        got[name] = str(info.value)
        if len(data) >= 16 and len(data) % 16 == 0 and exc is InvalidKeyError:
            with pytest.raises(exc):
                engine.crypt_units(cipher, True, key, data, bytearray(len(data)), 0, 16,
                                   bytearray(28 * len(data) // 16) if cipher == "gcm"
                                   else None, nonces="random")
    assert len(set(got.values())) == 1, got
