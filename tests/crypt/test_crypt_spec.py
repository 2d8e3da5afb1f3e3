"""CipherSpec: parsing, validation, derived figures."""

from __future__ import annotations

import pytest

from simulator.crypt import (
    CipherSpec,
    InvalidCipherSpecError,
    InvalidKeyError,
    valid_combinations,
)

MiB = 1 << 20
GiB = 1 << 30


@pytest.mark.parametrize(
    ("name", "bits", "key_bytes", "meta", "aead"),
    [
        ("aes-xts-plain64", 256, 32, 0, False),
        ("aes-xts-plain64", 512, 64, 0, False),
        ("aes-gcm-random", 128, 16, 28, True),
        ("aes-gcm-random", 256, 32, 28, True),
        ("chacha20-poly1305-random", 256, 32, 28, True),
        ("null", 0, 0, 0, False),
    ],
)
@pytest.mark.parametrize("sector", [512, 1024, 2048, 4096])
def test_valid_combinations(name, bits, key_bytes, meta, aead, sector):
    spec = CipherSpec.parse(name, key_bits=bits, sector_size=sector)
    assert (spec.key_bytes, spec.metadata_size, spec.is_aead) == (key_bytes, meta, aead)
    assert spec.detects_tampering is aead
    assert spec.nonce_limit == (2**32 if aead else None)
    assert CipherSpec.parse(str(spec)) == spec


def test_parse_defaults_and_strings():
    assert CipherSpec.parse("aes-xts-plain64") == CipherSpec("aes-xts-plain64", 512, 4096)
    assert CipherSpec.parse("aes-gcm-random") == CipherSpec("aes-gcm-random", 256, 4096)
    assert CipherSpec.parse("null") == CipherSpec("null", 0, 4096)
    assert CipherSpec.parse("aes-xts-plain64:256:512") == CipherSpec("aes-xts-plain64", 256, 512)
    assert CipherSpec.parse("AES-XTS-PLAIN64:512") == CipherSpec("aes-xts-plain64", 512, 4096)
    assert CipherSpec.parse("aes-gcm-random::512").sector_size == 512
    assert CipherSpec.parse("aes-xts-plain64:512:4096", key_bits=512).key_bits == 512
    spec = CipherSpec.parse("aes-gcm-random:128:512")
    assert CipherSpec.parse(spec) == spec


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("aes-xts-plain64", 128, 4096), "does not take a 128-bit key"),
        (("aes-xts-plain64", 384, 4096), "valid: [256, 512]"),
        (("aes-gcm-random", 512, 4096), "valid: [128, 256]"),
        (("chacha20-poly1305-random", 128, 4096), "valid: [256]"),
        (("aes-xts-plain64", 512, 8192), "512..4096"),
        (("aes-xts-plain64", 512, 1000), "power of two"),
        (("aes-xts-plain64", 512, 256), "512..4096"),
        (("aes-cbc-essiv", 256, 4096), "unknown cipher"),
    ],
)
def test_invalid_combinations_list_what_is_valid(args, fragment):
    name, bits, sector = args
    with pytest.raises(InvalidCipherSpecError) as err:
        CipherSpec.parse(name, key_bits=bits, sector_size=sector)
    assert fragment in str(err.value)
    assert isinstance(err.value, ValueError)
    if "sector" not in fragment and "power" not in fragment and "512..4096" not in fragment:
        assert "aes-xts-plain64" in str(err.value)  # the list of valid configurations


@pytest.mark.parametrize(
    "text", ["", ":", "aes-xts-plain64:x", "a:b:c:d", "aes-xts-plain64:512:4k"]
)
def test_unparseable_strings(text):
    with pytest.raises(InvalidCipherSpecError):
        CipherSpec.parse(text)


def test_conflicting_parts_refused():
    with pytest.raises(InvalidCipherSpecError, match="given twice"):
        CipherSpec.parse("aes-xts-plain64:256", key_bits=512)


def test_valid_combinations_text_names_everything():
    text = valid_combinations()
    for name in ("aes-xts-plain64", "aes-gcm-random", "chacha20-poly1305-random", "null"):
        assert name in text


def test_metadata_ratio_matches_facts():
    # FACTS.md: 28 bytes a sector, 5.5 % at 512 B, 0.68 % at 4 KiB
    assert CipherSpec.parse("aes-gcm-random", sector_size=512).metadata_ratio == pytest.approx(
        0.0547, abs=1e-4
    )
    assert CipherSpec.parse("aes-gcm-random").metadata_ratio == pytest.approx(0.0068, abs=1e-4)


def test_capacity_overhead_and_journal():
    gcm = CipherSpec.parse("aes-gcm-random")
    xts = CipherSpec.parse("aes-xts-plain64")
    assert xts.capacity_overhead(20 * GiB) == 0.0
    assert xts.data_bytes(20 * GiB) == 20 * GiB
    # journal: min(64 MiB, device/128)
    assert gcm.journal_bytes(20 * GiB) == 64 * MiB
    assert gcm.journal_bytes(1 * GiB) == 8 * MiB
    dev = 20 * GiB
    expected = 1 - ((dev - 64 * MiB) // 4124 * 4096) / dev
    assert gcm.capacity_overhead(dev) == pytest.approx(expected)
    assert 0.0068 < gcm.capacity_overhead(dev) < 0.01
    small = CipherSpec.parse("aes-gcm-random", sector_size=512)
    assert small.capacity_overhead(dev) > 0.05
    assert gcm.metadata_bytes(dev) == gcm.data_bytes(dev) // 4096 * 28
    with pytest.raises(ValueError):
        gcm.capacity_overhead(0)


def test_nonce_limit_bytes():
    assert CipherSpec.parse("aes-gcm-random").nonce_limit_bytes == 2**32 * 4096  # 16 TiB
    assert CipherSpec.parse("aes-xts-plain64").nonce_limit_bytes is None


def test_openssl_names():
    assert CipherSpec.parse("aes-xts-plain64").openssl_name == "aes-256-xts"
    assert CipherSpec.parse("aes-xts-plain64:256").openssl_name == "aes-128-xts"
    assert CipherSpec.parse("aes-gcm-random:128").openssl_name == "aes-128-gcm"
    assert CipherSpec.parse("chacha20-poly1305-random").openssl_name == "chacha20-poly1305"
    assert CipherSpec.parse("null").openssl_name is None


def test_check_key():
    spec = CipherSpec.parse("aes-xts-plain64")
    key = bytes(range(64))
    assert spec.check_key(bytearray(key)) == key
    with pytest.raises(InvalidKeyError, match="64-byte key, got 32"):
        spec.check_key(bytes(32))
    with pytest.raises(InvalidKeyError, match="K1 and K2 are equal"):
        spec.check_key(bytes(32) * 2)
    with pytest.raises(InvalidKeyError):
        spec.check_key("0" * 64)
    with pytest.raises(InvalidKeyError):
        spec.check_key(None)
    # GCM keys have no halves to compare
    CipherSpec.parse("aes-gcm-random").check_key(bytes(32))


def test_spec_is_hashable_and_frozen():
    spec = CipherSpec.parse("aes-xts-plain64")
    assert {spec: 1}[CipherSpec("aes-xts-plain64", 512, 4096)] == 1
    with pytest.raises(AttributeError):
        spec.key_bits = 256  # type: ignore[misc]
    assert spec.to_dict()["key_bytes"] == 64
