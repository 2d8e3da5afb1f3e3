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


class _CipherSpy:
    """Wraps a bound sector cipher and records each call as (direction, units, bytes)."""

    def __init__(self, inner, unit: int, seen: list) -> None:
        self._inner, self._unit, self._seen = inner, unit, seen
        self.threads = inner.threads

    def encrypt(self, src, dst, first_sector, metadata=None, sectors=None, nonces_given=False):
        n = memoryview(src).nbytes
        self._seen.append(("enc", n // self._unit, n))
        return self._inner.encrypt(src, dst, first_sector, metadata, sectors, nonces_given)

    def decrypt(self, src, dst, first_sector, metadata=None, sectors=None):
        n = memoryview(src).nbytes
        self._seen.append(("dec", n // self._unit, n))
        return self._inner.decrypt(src, dst, first_sector, metadata, sectors)


def spy_on_bound_ciphers(monkeypatch) -> list:
    """Every cipher bound from now on (e.g. by an EncryptedVolume) records its calls."""
    from simulator.crypt import engines

    seen: list = []
    real = engines.Engine.bind

    def bind(self, spec, key, threads=1):
        spec = CipherSpec.parse(spec) if isinstance(spec, str) else spec
        return _CipherSpy(real(self, spec, key, threads), spec.sector_size, seen)

    monkeypatch.setattr(engines.Engine, "bind", bind)
    return seen


def skip_unless_runs(engine_name: str, spec) -> None:
    """Skip, saying why, when a backend does not run a cipher (IPP has no ChaCha20)."""
    from simulator.crypt import get_engine

    if not get_engine(engine_name).supports(spec):
        pytest.skip(f"{engine_name} does not run {spec}")
