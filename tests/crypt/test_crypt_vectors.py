"""Both engines against published vectors (files under tests/vectors, parsed here)."""

from __future__ import annotations

import pytest

from simulator.crypt import CipherSpec, available_engines, get_engine

from .crypt_vector_loaders import (
    chacha_vectors,
    gcm_vectors,
    ieee1619_vectors,
    xts_dataunit_vectors,
    xts_hexstr_vectors,
)

ENGINES = available_engines()
# the OpenSSL engine runs XTS and the AEADs through the provider's functions by default;
# "native-evp" checks the EVP loops it falls back to
VARIANTS = [*ENGINES, "native-evp"] if "native-openssl" in ENGINES else ENGINES


@pytest.fixture(params=VARIANTS)
def engine(request):
    if request.param != "native-evp":
        yield get_engine(request.param)
        return
    from simulator.crypt import _native

    was = _native.set_xts_direct(False), _native.set_aead_direct(False)
    try:
        yield get_engine("native-openssl")
    finally:
        _native.set_xts_direct(was[0])
        _native.set_aead_direct(was[1])


def _whole_byte_units(entries):
    return [e for e in entries if int(e["dataunitlen"]) % 8 == 0]


# ---------------------------------------------------------------- XTS: IEEE 1619 (512-byte units)


@pytest.mark.parametrize("entry", ieee1619_vectors(), ids=lambda e: f"{e['cipher']}-{e['iv'][:10]}")
def test_ieee1619_through_encrypt_sectors(engine, entry):
    """512-byte data units with tweak = unit number: exactly aes-xts-plain64 at sector 512."""
    key = bytes.fromhex(entry["key"])
    tweak = bytes.fromhex(entry["iv"])
    assert tweak[8:] == bytes(8), "the IEEE vectors used here have 64-bit sequence numbers"
    sector = int.from_bytes(tweak[:8], "little")
    spec = CipherSpec.parse("aes-xts-plain64", key_bits=len(key) * 8, sector_size=512)
    pt, ct = bytes.fromhex(entry["plaintext"]), bytes.fromhex(entry["ciphertext"])
    assert len(pt) == 512
    out = bytearray(512)
    engine.encrypt_sectors(spec, key, pt, out, sector)
    assert bytes(out) == ct
    back = bytearray(512)
    engine.decrypt_sectors(spec, key, ct, back, sector)
    assert bytes(back) == pt


# ---------------------------------------------------------------- XTS: NIST XTSVS


@pytest.mark.parametrize("bits", [128, 256], ids=["256-bit-key", "512-bit-key"])
def test_xtsvs_dataunitseqno_through_sector_loop(engine, bits):
    """Every whole-byte entry, through the same per-sector loop with unit = DataUnitLen."""
    entries = _whole_byte_units(xts_dataunit_vectors(bits))
    assert len(entries) >= 600  # 140- and 250-bit units (not whole bytes) are skipped
    for e in entries:
        key = bytes.fromhex(e["key"])
        unit = int(e["dataunitlen"]) // 8
        seq = int(e["dataunitseqnumber"])
        pt, ct = bytes.fromhex(e["pt"]), bytes.fromhex(e["ct"])
        encrypt = e["operation"] == "encrypt"
        src, want = (pt, ct) if encrypt else (ct, pt)
        out = bytearray(len(src))
        engine.crypt_units("xts", encrypt, key, src, out, seq, unit)
        assert bytes(out) == want, f"{e['operation']} COUNT {e['count']}"


@pytest.mark.parametrize("bits", [128, 256], ids=["256-bit-key", "512-bit-key"])
def test_xtsvs_explicit_tweak(engine, bits):
    """Raw XTS with an arbitrary 128-bit tweak (the engines' single-message path)."""
    entries = _whole_byte_units(xts_hexstr_vectors(bits))
    assert entries
    for e in entries:
        key, tweak = bytes.fromhex(e["key"]), bytes.fromhex(e["i"])
        pt, ct = bytes.fromhex(e["pt"]), bytes.fromhex(e["ct"])
        if e["operation"] == "encrypt":
            assert engine.crypt_message("xts", True, key, tweak, pt)[0] == ct
        else:
            assert engine.crypt_message("xts", False, key, tweak, ct)[0] == pt


# ---------------------------------------------------------------- GCM: NIST GCMVS


@pytest.mark.parametrize("bits", [128, 256])
def test_nist_gcm_encrypt_ext_iv(engine, bits):
    """gcmEncryptExtIV, 96-bit IV and 128-bit tag: ciphertext and tag match, and the
    ciphertext decrypts back; a flipped tag bit is rejected."""
    entries = gcm_vectors(bits)
    assert len(entries) == 375  # 25 (PTlen, AADlen) groups of 15
    for e in entries:
        key, iv = bytes.fromhex(e["key"]), bytes.fromhex(e["iv"])
        pt, aad = bytes.fromhex(e["pt"]), bytes.fromhex(e["aad"])
        ct, tag = bytes.fromhex(e["ct"]), bytes.fromhex(e["tag"])
        assert engine.crypt_message("gcm", True, key, iv, pt, aad) == (ct, tag), e["count"]
        assert engine.crypt_message("gcm", False, key, iv, ct, aad, tag)[0] == pt
        bad = bytes([tag[0] ^ 1]) + tag[1:]
        assert engine.crypt_message("gcm", False, key, iv, ct, aad, bad) is None


# ---------------------------------------------------------------- ChaCha20-Poly1305: RFC 8439


def test_rfc8439_vectors_present():
    entries = chacha_vectors()
    # RFC 8439 section 2.8.2 (first BoringSSL entry) and Appendix A.5 (first OpenSSL entry)
    assert entries[0]["source"] == "openssl.txt#1"
    assert any(e["source"] == "boringssl.txt#1" for e in entries)


@pytest.mark.parametrize("entry", chacha_vectors(), ids=lambda e: e["source"])
def test_chacha20_poly1305(engine, entry):
    if not engine.supports("chacha20-poly1305-random"):
        pytest.skip(f"{engine.name} does not run ChaCha20-Poly1305")
    key, iv = bytes.fromhex(entry["key"]), bytes.fromhex(entry["iv"])
    pt, aad = bytes.fromhex(entry["pt"]), bytes.fromhex(entry["aad"])
    ct, tag = bytes.fromhex(entry["ct"]), bytes.fromhex(entry["tag"])
    if entry["fail"]:
        assert engine.crypt_message("chacha20-poly1305", False, key, iv, ct, aad, tag) is None
        return
    assert engine.crypt_message("chacha20-poly1305", True, key, iv, pt, aad) == (ct, tag)
    assert engine.crypt_message("chacha20-poly1305", False, key, iv, ct, aad, tag)[0] == pt
