"""The ciphertext blob: its documented layout, the unambiguous context encoding, tampering."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.kms.ciphertext import (
    FORMAT_VERSION,
    NONCE_BYTES,
    TAG_BYTES,
    CiphertextError,
    encode_context,
    open_blob,
    parse,
    seal,
)

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
KEY_ARN = f"arn:aws:kms:us-west-2:111122223333:key/{KEY_ID}"
MATERIAL = "ab" * 32
SECRET = os.urandom(32)


def _seal(plaintext: bytes = b"data key", context: dict[str, str] | None = None) -> bytes:
    return seal(SECRET, key_id=KEY_ID, key_arn=KEY_ARN, material_id=MATERIAL,
                plaintext=plaintext, context=context)


def test_layout_matches_the_documented_offsets():
    blob = _seal(b"x" * 64, {"a": "b"})
    n = len(KEY_ID)
    assert blob[0] == FORMAT_VERSION == 1
    assert blob[1] == n
    assert blob[2 : 2 + n] == KEY_ID.encode()
    assert blob[2 + n : 34 + n].hex() == MATERIAL
    assert len(blob) == 2 + n + 32 + NONCE_BYTES + 64 + TAG_BYTES
    parsed = parse(blob)
    assert (parsed.key_id, parsed.material_id, parsed.version) == (KEY_ID, MATERIAL, 1)


def test_round_trip_and_fresh_nonce():
    a, b = _seal(context={"k": "v"}), _seal(context={"k": "v"})
    assert a != b  # a fresh 96-bit nonce per blob
    assert open_blob(SECRET, parse(a), key_arn=KEY_ARN, context={"k": "v"}) == b"data key"


@pytest.mark.parametrize(
    ("bound", "offered"),
    [
        ({"ab": "c"}, {"a": "bc"}),
        ({"a": "bc"}, {"ab": "c"}),
        ({"a": "b", "c": "d"}, {"a": "bc", "": "d"}),
        ({"k": "v"}, {}),
        ({}, {"k": "v"}),
        ({"k": "v"}, {"K": "v"}),
    ],
)
def test_context_must_match_exactly_without_separator_ambiguity(bound, offered):
    assert encode_context(bound) != encode_context(offered)
    blob = _seal(context=bound)
    with pytest.raises(CiphertextError):
        open_blob(SECRET, parse(blob), key_arn=KEY_ARN, context=offered)


def test_context_order_does_not_matter():
    assert encode_context({"a": "1", "b": "2"}) == encode_context({"b": "2", "a": "1"})


def test_key_arn_is_bound():
    blob = _seal()
    with pytest.raises(CiphertextError):
        open_blob(SECRET, parse(blob), key_arn=KEY_ARN.replace("111122223333", "444455556666"),
                  context=None)


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_flipped_bit_is_refused(data):
    blob = _seal(b"secret data key!", {"aws:ecs:clusterName": "prod"})
    index = data.draw(st.integers(0, len(blob) - 1))
    bit = data.draw(st.integers(0, 7))
    damaged = bytearray(blob)
    damaged[index] ^= 1 << bit
    with pytest.raises(CiphertextError):
        open_blob(SECRET, parse(bytes(damaged)), key_arn=KEY_ARN,
                  context={"aws:ecs:clusterName": "prod"})


@pytest.mark.parametrize("blob", [b"", b"\x01", b"\x02" + b"\x00" * 80, b"\x01\x24" + b"a" * 40])
def test_malformed_blobs_are_refused(blob):
    with pytest.raises(CiphertextError):
        parse(blob)


def test_destroyed_material_opens_nothing():
    blob = _seal()
    with pytest.raises(CiphertextError, match="destroyed"):
        open_blob(b"", parse(blob), key_arn=KEY_ARN, context=None)
