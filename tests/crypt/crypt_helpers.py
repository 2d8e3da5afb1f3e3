"""Shared test helpers: the native-engine skip marker and an independent reference of the
sector formats written straight from ARCHITECTURE.md with pyca/cryptography one-shot calls."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from simulator.crypt import CipherSpec, native_available, native_unavailable_reason

_skip_without_native = pytest.mark.skipif(
    not native_available(), reason=f"native engine not built: {native_unavailable_reason()}"
)


def requires_native(func):
    """Mark a test ``native`` and skip it, saying why, when the extension is absent."""
    return pytest.mark.native(_skip_without_native(func))

ALL_SPECS = [
    ("aes-xts-plain64", 256),
    ("aes-xts-plain64", 512),
    ("aes-gcm-random", 128),
    ("aes-gcm-random", 256),
    ("chacha20-poly1305-random", 256),
    ("null", 0),
]


def reference_encrypt(
    spec: CipherSpec, key: bytes, plaintext: bytes, first: int, nonces: list[bytes] | None
) -> tuple[bytes, bytes | None]:
    """Encrypt sector by sector as the documented format says (no engine code involved)."""
    size = spec.sector_size
    out, meta = [], []
    for i in range(len(plaintext) // size):
        block = plaintext[i * size : (i + 1) * size]
        sector = (first + i).to_bytes(8, "little")
        if spec.name == "null":
            out.append(block)
        elif spec.name == "aes-xts-plain64":
            enc = Cipher(algorithms.AES(key), modes.XTS(sector + bytes(8))).encryptor()
            out.append(enc.update(block) + enc.finalize())
        else:
            assert nonces is not None
            nonce = nonces[i]
            aead = AESGCM(key) if spec.name == "aes-gcm-random" else ChaCha20Poly1305(key)
            sealed = aead.encrypt(nonce, block, sector + nonce)
            out.append(sealed[:size])
            meta.append(nonce + sealed[size:])
    return b"".join(out), (b"".join(meta) if spec.is_aead else None)
