"""Issue 4: cipher specs, engines, published vectors, EncryptedVolume."""

import errno
import os

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from simulator.crypt import CipherSpec, EncryptedVolume, get_engine

ENGINES = ["native", "cryptography"]

# IEEE 1619-2007 Annex B, vector 4 (XTS-AES-128, data unit 0, 512-byte unit) and vector 10
# (XTS-AES-256, data unit 0xff): first 32 bytes of CTX as published.
V4_KEY = bytes.fromhex("2718281828459045235360287471352631415926535897932384626433832795")
V4_CTX32 = bytes.fromhex("27a7479befa1d476489f308cd4cfa6e2a96e4bbe3208ff25287dd3819616e89c")
V10_KEY = bytes.fromhex(
    "2718281828459045235360287471352662497757247093699959574966967627"
    "3141592653589793238462643383279502884197169399375105820974944592"
)
V10_CTX32 = bytes.fromhex("1c3b3a102f770386e4836c99e370cf9bea00803f5e482357a4ae12d414a3e63b")
PTX512 = bytes(range(256)) * 2


def xts_ref(key, sector, data):
    e = Cipher(algorithms.AES(key), modes.XTS(sector.to_bytes(16, "little"))).encryptor()
    return e.update(data) + e.finalize()


def le64(n):
    return n.to_bytes(8, "little")


# ---------------------------------------------------------------- CipherSpec


@pytest.mark.parametrize(
    "name,bits,meta,tamper",
    [
        ("aes-xts-plain64", 256, 0, False),
        ("aes-xts-plain64", 512, 0, False),
        ("aes-gcm-random", 128, 28, True),
        ("aes-gcm-random", 256, 28, True),
        ("chacha20-poly1305-random", 256, 28, True),
    ],
)
@pytest.mark.parametrize("sector", [512, 4096])
def test_valid_specs_and_properties(name, bits, meta, tamper, sector):
    s = CipherSpec.parse(name, key_bits=bits, sector_size=sector)
    assert s.name == name and s.key_bits == bits and s.sector_size == sector
    assert s.key_bytes == bits // 8
    assert s.metadata_size == meta
    assert s.detects_tampering is tamper
    ov = s.capacity_overhead(200 * 2**30)
    if meta:
        assert ov >= meta / (sector + meta) * 0.99
    else:
        assert ov == 0


def test_null_spec():
    s = CipherSpec.parse("null", key_bits=0, sector_size=4096)
    assert s.metadata_size == 0 and s.detects_tampering is False


@pytest.mark.parametrize(
    "name,bits,sector",
    [
        ("aes-xts-plain64", 128, 4096),
        ("aes-gcm-random", 192, 4096),
        ("chacha20-poly1305-random", 128, 512),
        ("aes-xts-plain64", 512, 1000),
        ("aes-xts-plain64", 512, 8192),
        ("aes-cbc-essiv", 256, 512),
    ],
)
def test_invalid_specs_list_valid(name, bits, sector):
    with pytest.raises(ValueError) as ei:
        CipherSpec.parse(name, key_bits=bits, sector_size=sector)
    msg = str(ei.value)
    if sector not in (512, 4096):
        assert "512" in msg and "4096" in msg  # lists the valid sector sizes
    else:
        assert (
            "aes-xts-plain64" in msg
            and "aes-gcm-random" in msg
            and "chacha20-poly1305-random" in msg
        )


def test_aead_overhead_matches_facts():
    # FACTS: 28 bytes a sector: 5.5% at 512 B, 0.68% at 4 KiB (metadata only)
    assert (
        abs(
            CipherSpec.parse("aes-gcm-random", key_bits=256, sector_size=512).metadata_size / 512
            - 0.0547
        )
        < 0.001
    )
    s = CipherSpec.parse("aes-gcm-random", key_bits=256, sector_size=4096)
    assert s.capacity_overhead(200 * 2**30) < 0.02


# ---------------------------------------------------------------- engines and vectors


@pytest.mark.parametrize("engine", ENGINES)
def test_xts_ieee1619_vector4(engine):
    eng = get_engine(engine)
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=256, sector_size=512)
    dst = bytearray(512)
    eng.encrypt_sectors(spec, V4_KEY, PTX512, dst, 0)
    assert bytes(dst[:32]) == V4_CTX32
    assert bytes(dst) == xts_ref(V4_KEY, 0, PTX512)
    back = bytearray(512)
    eng.decrypt_sectors(spec, V4_KEY, bytes(dst), back, 0)
    assert bytes(back) == PTX512


@pytest.mark.parametrize("engine", ENGINES)
def test_xts_ieee1619_vector10_512bit_key(engine):
    eng = get_engine(engine)
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=512, sector_size=512)
    dst = bytearray(512)
    eng.encrypt_sectors(spec, V10_KEY, PTX512, dst, 0xFF)
    assert bytes(dst[:32]) == V10_CTX32


@pytest.mark.parametrize("engine", ENGINES)
def test_xts_large_sector_tweak_counts_sector_units(engine):
    eng = get_engine(engine)
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=512, sector_size=4096)
    key = os.urandom(64)
    data = os.urandom(4096 * 3)
    dst = bytearray(len(data))
    eng.encrypt_sectors(spec, key, data, dst, 1000)
    for i in range(3):
        assert bytes(dst[i * 4096 : (i + 1) * 4096]) == xts_ref(
            key, 1000 + i, data[i * 4096 : (i + 1) * 4096]
        )


def test_engines_byte_identical_xts():
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=512, sector_size=512)
    key = os.urandom(64)
    data = os.urandom(512 * 17)
    outs = []
    for name in ENGINES:
        dst = bytearray(len(data))
        get_engine(name).encrypt_sectors(spec, key, data, dst, 2**40 + 3)
        outs.append(bytes(dst))
    assert outs[0] == outs[1]


@pytest.mark.parametrize(
    "name,bits,aead",
    [
        ("aes-gcm-random", 256, AESGCM),
        ("aes-gcm-random", 128, AESGCM),
        ("chacha20-poly1305-random", 256, ChaCha20Poly1305),
    ],
)
@pytest.mark.parametrize("engine", ENGINES)
def test_aead_sector_format_readable_by_standard_impl(name, bits, aead, engine):
    spec = CipherSpec.parse(name, key_bits=bits, sector_size=512)
    key = os.urandom(bits // 8)
    data = os.urandom(512 * 4)
    dst = bytearray(len(data))
    meta = bytearray(28 * 4)
    get_engine(engine).encrypt_sectors(spec, key, data, dst, 7, metadata=meta)
    nonces = set()
    for i in range(4):
        nonce, tag = bytes(meta[28 * i : 28 * i + 12]), bytes(meta[28 * i + 12 : 28 * i + 28])
        nonces.add(nonce)
        pt = aead(key).decrypt(
            nonce, bytes(dst[512 * i : 512 * (i + 1)]) + tag, le64(7 + i) + nonce
        )
        assert pt == data[512 * i : 512 * (i + 1)]
    assert len(nonces) == 4


@pytest.mark.parametrize("engine", ENGINES)
def test_chacha_rfc8439_key_nonce_through_engine_decrypt(engine):
    # RFC 8439 2.8.2 key and nonce; the sector's AAD is the sector number || nonce
    key = bytes(range(0x80, 0xA0))
    nonce = bytes.fromhex("070000004041424344454647")
    pt = (
        b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
        b"sunscreen would be it."
    ).ljust(512, b"\0")
    # sanity: the standard implementation gives RFC 8439's tag for RFC 8439's AAD
    rfc = ChaCha20Poly1305(key).encrypt(nonce, pt[:114], bytes.fromhex("50515253c0c1c2c3c4c5c6c7"))
    assert rfc[-16:].hex() == "1ae10b594f09e26a7e902ecbd0600691"
    ct = ChaCha20Poly1305(key).encrypt(nonce, pt, le64(5) + nonce)
    spec = CipherSpec.parse("chacha20-poly1305-random", key_bits=256, sector_size=512)
    out = bytearray(512)
    get_engine(engine).decrypt_sectors(spec, key, ct[:512], out, 5, metadata=nonce + ct[512:])
    assert bytes(out) == pt


@pytest.mark.parametrize("engine", ENGINES)
def test_gcm_nist_zero_key_sector(engine):
    # NIST GCM test case 2 key/IV (all zero); checked via AESGCM with the sector's AAD
    key, nonce = bytes(16), bytes(12)
    assert (
        AESGCM(key).encrypt(nonce, bytes(16), None).hex() == "0388dace60b6a392f328c2b971b2fe78"
        "ab6e47d42cec13bdf53a67b21257bddf"
    )
    pt = bytes(512)
    ct = AESGCM(key).encrypt(nonce, pt, le64(0) + nonce)
    assert ct[:16].hex() == "0388dace60b6a392f328c2b971b2fe78"  # CTR keystream same as the vector
    spec = CipherSpec.parse("aes-gcm-random", key_bits=128, sector_size=512)
    out = bytearray(512)
    get_engine(engine).decrypt_sectors(spec, key, ct[:512], out, 0, metadata=nonce + ct[512:])
    assert bytes(out) == pt


def test_engines_read_each_other_aead():
    spec = CipherSpec.parse("aes-gcm-random", key_bits=256, sector_size=4096)
    key = os.urandom(32)
    data = os.urandom(4096 * 5)
    for a, b in (("native", "cryptography"), ("cryptography", "native")):
        ct, meta, out = bytearray(len(data)), bytearray(28 * 5), bytearray(len(data))
        get_engine(a).encrypt_sectors(spec, key, data, ct, 42, metadata=meta)
        get_engine(b).decrypt_sectors(spec, key, bytes(ct), out, 42, metadata=bytes(meta))
        assert bytes(out) == data


def test_auto_engine_says_which():
    e = get_engine("auto")
    assert e.name in ("native", "cryptography")


def test_null_is_copy():
    spec = CipherSpec.parse("null", key_bits=0, sector_size=512)
    data = os.urandom(1024)
    dst = bytearray(1024)
    get_engine("native").encrypt_sectors(spec, b"", data, dst, 0)
    assert bytes(dst) == data


# ---------------------------------------------------------------- EncryptedVolume

XTS = CipherSpec.parse("aes-xts-plain64", key_bits=512, sector_size=4096)
GCM = CipherSpec.parse("aes-gcm-random", key_bits=256, sector_size=4096)


def test_sparse_200gib_volume_reads_zeros():
    vol = EncryptedVolume(200 * 2**30, XTS, os.urandom(64), engine="auto")
    assert vol.read(150 * 2**30 + 17, 10000) == bytes(10000)
    vol.write(12345, b"data")
    assert vol.read(12345, 4) == b"data"
    assert vol.read(12341, 12) == bytes(4) + b"data" + bytes(4)
    assert vol.stats.resident_bytes < 2**20


@pytest.mark.parametrize("spec", [XTS, GCM], ids=["xts", "gcm"])
def test_partial_writes_across_sectors(spec):
    vol = EncryptedVolume(2**20, spec, os.urandom(spec.key_bytes))
    ref = bytearray(2**20)
    for off, n in ((0, 1), (4095, 2), (100, 9000), (8191, 4097), (2**20 - 3, 3)):
        d = os.urandom(n)
        vol.write(off, d)
        ref[off : off + n] = d
    assert vol.read(0, 2**20) == bytes(ref)


def test_xts_raw_is_dm_crypt_format():
    key = os.urandom(64)
    vol = EncryptedVolume(2**20, XTS, key)
    data = os.urandom(4096)
    vol.write(3 * 4096, data)
    ct, meta = vol.raw(3, 1)
    assert meta is None
    assert ct == xts_ref(key, 3, data)


def test_gcm_raw_format_and_fresh_nonce():
    key = os.urandom(32)
    vol = EncryptedVolume(2**20, GCM, key)
    data = os.urandom(4096)
    vol.write(2 * 4096, data)
    ct, meta = vol.raw(2, 1)
    assert len(meta) == 28
    assert AESGCM(key).decrypt(meta[:12], ct + meta[12:], le64(2) + meta[:12]) == data
    vol.write(2 * 4096, data)
    _, meta2 = vol.raw(2, 1)
    assert meta2[:12] != meta[:12]


def _assert_eio(exc, sector):
    assert isinstance(exc, OSError)
    assert exc.errno == errno.EIO
    assert str(sector) in str(exc)


@pytest.mark.parametrize("what", ["ciphertext", "tag", "nonce"])
@pytest.mark.parametrize(
    "spec",
    [GCM, CipherSpec.parse("chacha20-poly1305-random", key_bits=256, sector_size=512)],
    ids=["gcm", "chacha"],
)
def test_aead_tamper_is_eio_naming_sector(spec, what):
    ss = spec.sector_size
    vol = EncryptedVolume(64 * ss, spec, os.urandom(32))
    data = os.urandom(10 * ss)
    vol.write(0, data)
    ct, meta = vol.raw(5, 1)
    ct, meta = bytearray(ct), bytearray(meta)
    if what == "ciphertext":
        ct[100] ^= 1
    elif what == "tag":
        meta[20] ^= 1
    else:
        meta[0] ^= 1
    vol.raw_write(5, bytes(ct), bytes(meta))
    with pytest.raises(OSError) as ei:
        vol.read(0, 10 * ss)
    _assert_eio(ei.value, 5)
    # nothing else is lost
    assert vol.read(0, 5 * ss) == data[: 5 * ss]
    assert vol.read(6 * ss, 4 * ss) == data[6 * ss :]


def test_aead_sector_copied_elsewhere_is_eio():
    vol = EncryptedVolume(2**20, GCM, os.urandom(32))
    vol.write(0, os.urandom(4 * 4096))
    ct, meta = vol.raw(1, 1)
    vol.raw_write(3, ct, meta)
    with pytest.raises(OSError) as ei:
        vol.read(3 * 4096, 4096)
    _assert_eio(ei.value, 3)


def test_xts_tamper_is_silent_garbage():
    vol = EncryptedVolume(2**20, XTS, os.urandom(64))
    data = os.urandom(4096)
    vol.write(4096, data)
    ct, _ = vol.raw(1, 1)
    ct = bytearray(ct)
    ct[0] ^= 1
    vol.raw_write(1, bytes(ct))
    out = vol.read(4096, 4096)  # no error
    assert out != data
    assert out[16:] == data[16:]  # XTS: only the touched 16-byte block is garbled


@pytest.mark.parametrize("off,n", [(2**20 - 2, 4), (2**20, 1), (-1, 2)])
def test_out_of_range_write_changes_nothing(off, n):
    vol = EncryptedVolume(2**20, XTS, os.urandom(64))
    vol.write(2**20 - 4096, b"\x07" * 4096)
    before = vol.read(0, 2**20)
    with pytest.raises((ValueError, OSError, IndexError)) as ei:
        vol.write(off, b"\x01" * n)
    assert str(ei.value)
    assert vol.read(0, 2**20) == before


def test_out_of_range_read_and_raw_refused():
    vol = EncryptedVolume(2**20, XTS, os.urandom(64))
    with pytest.raises((ValueError, OSError, IndexError)):
        vol.read(2**20 - 1, 2)
    with pytest.raises((ValueError, OSError, IndexError)):
        vol.raw(255, 2)


def test_wrong_key_length_refused():
    with pytest.raises((ValueError, TypeError)):
        EncryptedVolume(2**20, XTS, os.urandom(32))


def test_xts_refuses_identical_halves():
    # XTS requires K1 != K2 (OpenSSL and pyca refuse duplicate halves)
    with pytest.raises((ValueError, TypeError)):
        EncryptedVolume(2**20, XTS, bytes(32) * 2)


def test_discard_returns_zeros():
    vol = EncryptedVolume(2**20, GCM, os.urandom(32))
    vol.write(0, b"\xff" * 3 * 4096)
    vol.discard(4096, 4096)
    assert vol.read(4096, 4096) == bytes(4096)
    assert vol.read(0, 4096) == b"\xff" * 4096
