"""Cipher configurations: what dm-crypt would be set up with, and what each one costs.

A :class:`CipherSpec` names the cipher (cryptsetup spelling), the key size and the sector size,
and derives the figures the experiments compare: key length, per-sector metadata, whether
tampering is detected, the fraction of the raw device lost to metadata and journal, and how
many sector writes one key may safely take.

Sector formats (ARCHITECTURE.md; any standard implementation can read them):

* ``aes-xts-plain64``: tweak = sector index in ``sector_size`` units, 64-bit little endian,
  zero-padded to 16 bytes (dm-crypt ``iv_large_sectors``); key = K1 ‖ K2 (256 or 512 bits).
* ``aes-gcm-random``, ``chacha20-poly1305-random``: a fresh random 96-bit nonce per sector
  write; metadata per sector = nonce (12) ‖ tag (16); AAD = sector index (64-bit LE) ‖ nonce.
* ``null``: plaintext copy, the baseline.
"""

from __future__ import annotations

import hmac
import operator
from dataclasses import dataclass
from typing import Any

from .errors import InvalidCipherSpecError, InvalidKeyError

NONCE_SIZE = 12
TAG_SIZE = 16
AEAD_METADATA_SIZE = NONCE_SIZE + TAG_SIZE  # 28 bytes a sector in dm-integrity metadata

#: dm-integrity journal (https://docs.kernel.org/admin-guide/device-mapper/dm-integrity.html):
#: min(64 MiB, 1/128 of the device), the size the simulator assumes for it.
JOURNAL_MAX_BYTES = 64 * 1024 * 1024
JOURNAL_FRACTION = 1 / 128

#: NIST SP 800-38D section 8.3: with random 96-bit IVs the total number of invocations of the
#: authenticated encryption function shall not exceed 2**32 for one key (this keeps the chance
#: of a nonce collision below 2**-32).  Each sector write is one invocation.  RFC 8439 sets no
#: such limit for ChaCha20-Poly1305, but random 96-bit nonces collide just as fast (birthday
#: bound), so the same limit is applied to it; cryptsetup warns about both.
RANDOM_NONCE_LIMIT = 2**32

SECTOR_SIZES = (512, 1024, 2048, 4096)  # dm-crypt: 512..4096, powers of two

# name -> (algorithm id used by the engines, allowed key sizes in bits, default key bits)
_CIPHERS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "null": (0, (0,), 0),
    "aes-xts-plain64": (1, (256, 512), 512),
    "aes-gcm-random": (2, (128, 256), 256),
    "chacha20-poly1305-random": (3, (256,), 256),
}

ALG_NULL, ALG_XTS, ALG_GCM, ALG_CHACHA = 0, 1, 2, 3

_OPENSSL_NAMES = {
    ("aes-xts-plain64", 256): "aes-128-xts",
    ("aes-xts-plain64", 512): "aes-256-xts",
    ("aes-gcm-random", 128): "aes-128-gcm",
    ("aes-gcm-random", 256): "aes-256-gcm",
    ("chacha20-poly1305-random", 256): "chacha20-poly1305",
}


def cipher_key_bits() -> dict[str, tuple[int, ...]]:
    """Each cipher's key sizes in bits, its default (what ``CipherSpec.parse`` takes when no
    size is given) first: the table other layers (the benchmark specs) offer and check."""
    return {
        name: (default, *(b for b in bits if b != default))
        for name, (_, bits, default) in _CIPHERS.items()
    }


def valid_combinations() -> str:
    """A human-readable list of the accepted cipher, key and sector sizes (for error messages)."""
    parts = [
        f"{name} with key_bits in {list(bits)}" for name, (_, bits, _default) in _CIPHERS.items()
    ]
    return "; ".join(parts) + f"; sector_size in {list(SECTOR_SIZES)}"


def _as_int(value: Any, what: str) -> int:
    """An integer argument (ints and numpy integers; not bool, float or str)."""
    if isinstance(value, bool):
        raise InvalidCipherSpecError(f"{what} must be an integer, not a bool ({value!r})")
    try:
        return operator.index(value)
    except TypeError:
        raise InvalidCipherSpecError(
            f"{what} must be an integer, not {type(value).__name__} ({value!r}); "
            f"valid: {valid_combinations()}"
        ) from None


@dataclass(frozen=True)
class CipherSpec:
    """One dm-crypt style configuration: cipher name, key size in bits, sector size in bytes."""

    name: str
    key_bits: int
    sector_size: int = 4096

    def __post_init__(self) -> None:
        # numpy integers are integers; floats, strings and bools are not (512.0 would make
        # key_bytes a float and str(spec) "…:512.0:…")
        for what in ("key_bits", "sector_size"):
            object.__setattr__(self, what, _as_int(getattr(self, what), what))
        entry = _CIPHERS.get(self.name)
        if entry is None:
            raise InvalidCipherSpecError(
                f"unknown cipher {self.name!r}; valid: {valid_combinations()}"
            )
        if self.key_bits not in entry[1]:
            raise InvalidCipherSpecError(
                f"{self.name} does not take a {self.key_bits}-bit key "
                f"(valid: {list(entry[1])}); all valid: {valid_combinations()}"
            )
        if self.sector_size not in SECTOR_SIZES:
            raise InvalidCipherSpecError(
                f"sector size {self.sector_size} is not a power of two in 512..4096 "
                f"(valid: {list(SECTOR_SIZES)})"
            )

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(
        cls, name: str | CipherSpec, key_bits: int | None = None, sector_size: int | None = None
    ) -> CipherSpec:
        """Build a spec from a name (``"aes-xts-plain64"`` or ``"aes-xts-plain64:512:4096"``).

        Missing parts take the defaults: the largest key of the cipher, 4096-byte sectors.
        Raises :class:`InvalidCipherSpecError` (a ``ValueError``) listing what is valid.
        """
        if isinstance(name, CipherSpec):
            return cls(
                name.name,
                name.key_bits if key_bits is None else key_bits,
                name.sector_size if sector_size is None else sector_size,
            )
        if not isinstance(name, str):
            raise InvalidCipherSpecError(f"cipher name must be a string, not {type(name).__name__}")
        parts = name.strip().lower().split(":")
        if len(parts) > 3 or not parts[0]:
            raise InvalidCipherSpecError(
                f"cannot parse {name!r}: expected NAME[:KEY_BITS[:SECTOR_SIZE]]; "
                f"valid: {valid_combinations()}"
            )
        try:
            str_bits = int(parts[1]) if len(parts) > 1 and parts[1] else None
            str_sector = int(parts[2]) if len(parts) > 2 and parts[2] else None
        except ValueError:
            raise InvalidCipherSpecError(
                f"cannot parse {name!r}: key bits and sector size must be integers"
            ) from None
        for given, from_str, what in (
            (key_bits, str_bits, "key_bits"),
            (sector_size, str_sector, "sector_size"),
        ):
            if given is not None and from_str is not None and given != from_str:
                raise InvalidCipherSpecError(f"{what} given twice and different in {name!r}")
        cipher = parts[0]
        entry = _CIPHERS.get(cipher)
        if entry is None:
            raise InvalidCipherSpecError(
                f"unknown cipher {cipher!r}; valid: {valid_combinations()}"
            )
        bits = key_bits if key_bits is not None else str_bits
        sector = sector_size if sector_size is not None else str_sector
        return cls(cipher, entry[2] if bits is None else bits, 4096 if sector is None else sector)

    # ------------------------------------------------------------------ derived figures
    @property
    def algorithm(self) -> int:
        """The engines' algorithm id (ALG_NULL, ALG_XTS, ALG_GCM, ALG_CHACHA)."""
        return _CIPHERS[self.name][0]

    @property
    def key_bytes(self) -> int:
        """Length of the key the engines take, in bytes (XTS: K1 ‖ K2)."""
        return self.key_bits // 8

    @property
    def is_aead(self) -> bool:
        """True for the authenticated modes (GCM, ChaCha20-Poly1305)."""
        return self.algorithm in (ALG_GCM, ALG_CHACHA)

    @property
    def detects_tampering(self) -> bool:
        """Whether a modified, replaced or moved sector is detected on read (AEAD only)."""
        return self.is_aead

    @property
    def metadata_size(self) -> int:
        """Per-sector metadata in bytes: 28 (nonce 12 ‖ tag 16) for AEAD, 0 otherwise."""
        return AEAD_METADATA_SIZE if self.is_aead else 0

    @property
    def metadata_ratio(self) -> float:
        """Metadata bytes per data byte (28/512 ≈ 5.5 %, 28/4096 ≈ 0.68 % for AEAD)."""
        return self.metadata_size / self.sector_size

    @property
    def nonce_limit(self) -> int | None:
        """Sector writes one key may take (random 96-bit nonces: 2**32, NIST SP 800-38D 8.3).

        ``None`` when the mode has no nonce (XTS, null).
        """
        return RANDOM_NONCE_LIMIT if self.is_aead else None

    @property
    def nonce_limit_bytes(self) -> int | None:
        """Bytes that may be written under one key before the nonce limit (limit × sector)."""
        return None if self.nonce_limit is None else self.nonce_limit * self.sector_size

    @property
    def openssl_name(self) -> str | None:
        """The cipher's name for ``openssl speed -evp`` (None for null)."""
        return _OPENSSL_NAMES.get((self.name, self.key_bits))

    def journal_bytes(self, device_bytes: int) -> int:
        """dm-integrity journal size for a device: min(64 MiB, device/128); 0 without AEAD."""
        if not self.is_aead:
            return 0
        return min(JOURNAL_MAX_BYTES, int(device_bytes * JOURNAL_FRACTION))

    def data_bytes(self, device_bytes: int) -> int:
        """Usable data bytes of a raw device of ``device_bytes`` (whole sectors).

        AEAD: the journal comes off first, then each data sector needs 28 bytes of metadata
        (tags interleaved as dm-integrity does; its superblock and rounding are ignored).
        """
        if device_bytes < 0:
            raise ValueError("device size must be >= 0")
        room = device_bytes - self.journal_bytes(device_bytes)
        sectors = room // (self.sector_size + self.metadata_size)
        return sectors * self.sector_size

    def metadata_bytes(self, device_bytes: int) -> int:
        """Bytes of per-sector metadata (nonces and tags) on a raw device of this size."""
        return self.data_bytes(device_bytes) // self.sector_size * self.metadata_size

    def capacity_overhead(self, device_bytes: int | None = None) -> float:
        """Fraction of the raw device lost to metadata and journal (0.0 for XTS and null).

        Without ``device_bytes``: the per-sector share alone, metadata / sector (28/512 ≈ 5.5 %,
        28/4096 ≈ 0.68 % for AEAD, dm-integrity's per-sector tags), no journal.
        """
        if device_bytes is None:
            return self.metadata_ratio
        if device_bytes <= 0:
            raise ValueError("device size must be > 0")
        if not self.is_aead:
            return 0.0
        return 1.0 - self.data_bytes(device_bytes) / device_bytes

    # ------------------------------------------------------------------ keys
    def check_key(self, key: Any) -> bytes:
        """Return the key as bytes after checking its length (and, for XTS, K1 != K2).

        OpenSSL 3.0 refuses XTS *encryption* with K1 == K2 (IEEE 1619 / FIPS IG A.9 duplicate
        key check, "xts duplicated keys") and pyca/cryptography refuses it too; decryption
        would be allowed by both.  The simulator refuses such keys in both directions so the
        two engines behave alike.
        """
        if isinstance(key, str):
            raise InvalidKeyError("key must be bytes, not str")
        try:
            raw = memoryview(key).tobytes()
        except TypeError:
            raise InvalidKeyError(f"key must be bytes-like, not {type(key).__name__}") from None
        if len(raw) != self.key_bytes:
            raise InvalidKeyError(
                f"{self} needs a {self.key_bytes}-byte key, got {len(raw)} bytes"
            )
        if self.algorithm == ALG_XTS:
            half = self.key_bytes // 2
            if hmac.compare_digest(raw[:half], raw[half:]):
                raise InvalidKeyError(
                    "XTS key halves K1 and K2 are equal; OpenSSL refuses such keys "
                    "(IEEE 1619 duplicate-key check)"
                )
        return raw

    def __str__(self) -> str:
        return f"{self.name}:{self.key_bits}:{self.sector_size}"

    def to_dict(self) -> dict[str, Any]:
        """The spec and its derived figures, for results files."""
        return {
            "name": self.name,
            "key_bits": self.key_bits,
            "sector_size": self.sector_size,
            "key_bytes": self.key_bytes,
            "metadata_size": self.metadata_size,
            "detects_tampering": self.detects_tampering,
            "nonce_limit": self.nonce_limit,
        }
