"""The ciphertext blob of symmetric KMS keys: AES-256-GCM with the encryption context as AAD.

Layout, format version 1 (all integers big-endian)::

    offset      size  field
    0           1     format version = 0x01
    1           1     L: length of the key id in bytes
    2           L     key id, ASCII (``1234abcd-12ab-...`` or ``mrk-...``)
    2+L         32    key material id (the 64-hex-digit KeyMaterialId as 32 raw bytes)
    34+L        12    GCM nonce (96 random bits, fresh per blob)
    46+L        n     AES-256-GCM ciphertext (n = plaintext length)
    46+L+n      16    GCM tag

The additional authenticated data binds everything the blob claims about itself and the
encryption context::

    AAD = header (bytes 0 .. 34+L) || u16 len(key ARN) || key ARN || canonical(context)
    canonical(context) = u32 pair count || for each pair, sorted by the key's UTF-8 bytes:
                         u32 len(key) || key UTF-8 || u32 len(value) || value UTF-8

Every key and value is length-prefixed, so ``{"ab": "c"}`` and ``{"a": "bc"}`` canonicalise
differently (emulators that concatenate pairs without separators confuse them). Changing any
byte of the blob, the key, the material version or the context makes ``open_blob`` fail.
Format versions other than 1 are refused; a future layout gets a new version byte.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

FORMAT_VERSION = 1
NONCE_BYTES = 12
TAG_BYTES = 16
MATERIAL_ID_BYTES = 32
_U32 = struct.Struct(">I")
_U16 = struct.Struct(">H")


class CiphertextError(ValueError):
    """The blob is malformed, or does not open under the given key, material and context."""


@dataclass(frozen=True)
class BlobHeader:
    """What a blob says about itself: format version, key id, key material id."""

    version: int
    key_id: str
    material_id: str
    header: bytes
    nonce: bytes
    body: bytes  # ciphertext || tag


def encode_context(context: Mapping[str, str] | None) -> bytes:
    """The unambiguous canonical encoding of an encryption context (see the module docstring)."""
    if not context:
        return b"\x00\x00\x00\x00"
    # Sorted by key as text: UTF-8 keeps code point order, so this is the order of the
    # encoded keys (and keys are unique, so values are never compared).
    pack = _U32.pack
    parts = [pack(len(context))]
    for k, v in sorted(context.items()):
        kb, vb = k.encode("utf-8"), v.encode("utf-8")
        parts += (pack(len(kb)), kb, pack(len(vb)), vb)
    return b"".join(parts)


def _header(key_id: str, material_id: str) -> bytes:
    kid = key_id.encode("ascii")
    if len(kid) > 255:
        raise ValueError("key id longer than 255 bytes")
    mid = bytes.fromhex(material_id)
    if len(mid) != MATERIAL_ID_BYTES:
        raise ValueError("key material id must be 64 hex digits")
    return bytes((FORMAT_VERSION, len(kid))) + kid + mid


def _aad(header: bytes, key_arn: str, context: Mapping[str, str] | None) -> bytes:
    arn = key_arn.encode("utf-8")
    return header + _U16.pack(len(arn)) + arn + encode_context(context)


def seal(
    secret: bytes,
    *,
    key_id: str,
    key_arn: str,
    material_id: str,
    plaintext: bytes,
    context: Mapping[str, str] | None,
) -> bytes:
    """Encrypt ``plaintext`` under ``secret`` into a version-1 blob bound to key and context."""
    header = _header(key_id, material_id)
    nonce = os.urandom(NONCE_BYTES)
    body = AESGCM(secret).encrypt(nonce, plaintext, _aad(header, key_arn, context))
    return header + nonce + body


def parse(blob: bytes) -> BlobHeader:
    """Split a blob into its fields; raise CiphertextError when it cannot be a version-1 blob."""
    if not isinstance(blob, bytes | bytearray):
        raise CiphertextError("the ciphertext must be bytes")
    blob = bytes(blob)
    if len(blob) < 2:
        raise CiphertextError("the ciphertext is too short")
    version, n = blob[0], blob[1]
    if version != FORMAT_VERSION:
        raise CiphertextError(f"unknown ciphertext format version {version}")
    end_header = 2 + n + MATERIAL_ID_BYTES
    if len(blob) < end_header + NONCE_BYTES + TAG_BYTES:
        raise CiphertextError("the ciphertext is too short")
    try:
        key_id = blob[2 : 2 + n].decode("ascii")
    except UnicodeDecodeError:
        raise CiphertextError("the ciphertext names no valid key id") from None
    material_id = blob[2 + n : end_header].hex()
    return BlobHeader(
        version,
        key_id,
        material_id,
        blob[:end_header],
        blob[end_header : end_header + NONCE_BYTES],
        blob[end_header + NONCE_BYTES :],
    )


def open_blob(
    secret: bytes, parsed: BlobHeader, *, key_arn: str, context: Mapping[str, str] | None
) -> bytes:
    """Decrypt a parsed blob; raise CiphertextError on any mismatch (tag, key, context)."""
    if not secret:
        raise CiphertextError("the key material has been destroyed")
    try:
        return AESGCM(secret).decrypt(
            parsed.nonce, parsed.body, _aad(parsed.header, key_arn, context)
        )
    except InvalidTag:
        raise CiphertextError(
            "the ciphertext does not authenticate under this key and encryption context"
        ) from None
