"""Engines: who runs the per-sector cipher loop, and which library they use.

* ``native-ipp``: the C extension ``simulator.crypt._native`` over Intel IPP Crypto
  (``libippcp.so`` from the ``ipp-crypto`` wheel, dlopen()ed at run time: see ``ipp.py``);
  AES-XTS and AES-GCM with the library's CPU-dispatched code (AVX-512 VAES "k1" where the CPU
  has it).
* ``native-openssl``: the same C loops over the system libcrypto (OpenSSL >= 3.0), every
  cipher; XTS and the AEADs call the provider's cipher functions directly (``xts_path``,
  ``aead_path``), which saves the EVP layer's ~60 ns a sector for XTS and its parameter
  lookups per message for GCM and ChaCha20-Poly1305 (1.3x at 512-byte sectors);
  ``FARGATE_SIM_NATIVE_EVP_ONLY=1`` selects the EVP loops.
* ``cryptography``: portable, pure Python over pyca/cryptography (its bundled OpenSSL).
* ``native`` (and ``auto`` where the extension loads): per cipher and key size, the fastest
  native backend that loaded and passed the known-answer self-test (``selftest.py``),
  measured once in this process (``describe(spec)`` gives the figures); ``auto`` is the
  ``cryptography`` engine where no native backend loads.  The Python loop is not a
  candidate beside a native one: it pays Python work per sector and loses by 5-20x.

Every engine reports where its figures come from (:meth:`Engine.describe`) and binds a key
once (:meth:`Engine.bind`) into a sector cipher whose ``encrypt``/``decrypt`` calls pay only
for checking their buffers: the native ones are C objects, no Python between the caller and
the library.  All backends write byte-identical sectors for the same key, sector and nonce,
and read what the others wrote.
"""

from __future__ import annotations

import hmac
import importlib
import logging
import operator
import os
import struct
import sys
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any, Literal, Protocol

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from . import ipp as _ipp_finder
from .errors import (
    BackendError,
    EngineUnavailableError,
    IntegrityError,
    InvalidCipherSpecError,
    InvalidKeyError,
)
from .spec import (
    AEAD_METADATA_SIZE,
    ALG_CHACHA,
    ALG_GCM,
    ALG_NULL,
    ALG_XTS,
    NONCE_SIZE,
    TAG_SIZE,
    CipherSpec,
)

log = logging.getLogger(__name__)

_native: Any
try:  # the optional C extension (no type stub: its objects are Any here)
    _native = importlib.import_module(f"{__package__}._native")
except ImportError as _exc:  # not built, or libcrypto missing at run time
    _native = None
    _NATIVE_REASON: str | None = (
        f"the extension simulator.crypt._native is not importable ({_exc}); build it with "
        "`python setup.py build_ext --inplace` (needs gcc and the OpenSSL >= 3.0 headers) "
        "or reinstall the package"
    )
else:
    _NATIVE_REASON = None
if _native is not None and os.environ.get("FARGATE_SIM_DISABLE_NATIVE") == "1":
    _native = None
    _NATIVE_REASON = "disabled by FARGATE_SIM_DISABLE_NATIVE=1"

NonceMode = Literal["random", "given"]
_U64 = 1 << 64
_ALG_BY_NAME = {"null": ALG_NULL, "xts": ALG_XTS, "gcm": ALG_GCM, "chacha20-poly1305": ALG_CHACHA}
_MAX_THREADS = 64
#: the spec each single-message cipher name belongs to
_MESSAGE_SPEC = {"xts": "aes-xts-plain64", "gcm": "aes-gcm-random",
                 "chacha20-poly1305": "chacha20-poly1305-random", "null": "null"}
#: key sizes (bytes) of the single-message and data-unit calls: those the data path offers (the
#: native backends have no AES-192)
_MESSAGE_KEY_BYTES = {"xts": (32, 64), "gcm": (16, 32), "chacha20-poly1305": (32,)}


def _message_key(cipher: str, key: Any) -> bytes:
    """A single-message or data-unit call's key, checked as CipherSpec.check_key checks a
    volume's (InvalidKeyError: wrong length, XTS halves equal) for every backend alike."""
    if isinstance(key, str | int):
        raise TypeError(f"key must be bytes-like, not {type(key).__name__}")
    try:
        raw = bytes(flat_bytes(memoryview(key)))
    except TypeError:
        raise TypeError(f"key must be bytes-like, not {type(key).__name__}") from None
    sizes = _MESSAGE_KEY_BYTES[cipher]
    if len(raw) not in sizes:
        raise InvalidKeyError(f"{cipher} needs a key of {' or '.join(map(str, sizes))} bytes, "
                              f"got {len(raw)}")
    if cipher == "xts" and hmac.compare_digest(raw[: len(raw) // 2], raw[len(raw) // 2 :]):
        raise InvalidKeyError("XTS key halves K1 and K2 are equal; OpenSSL refuses such keys "
                              "(IEEE 1619 duplicate-key check)")
    return raw

#: the concrete backends, fastest-first when nothing has been measured
BACKENDS = ("native-ipp", "native-openssl", "cryptography")
ALIASES = ("auto", "native")


def native_available() -> bool:
    """True when the native OpenSSL engine was built and loads (CI requires it)."""
    return _native is not None and _backend_problem("native-openssl") is None


def native_unavailable_reason() -> str | None:
    """Why the native OpenSSL engine is unavailable, or None when it is available."""
    if _native is None:
        return _NATIVE_REASON
    return _backend_problem("native-openssl")


def ipp_available() -> bool:
    """True when the IPP Crypto backend loaded and passed its self-test."""
    return _backend_problem("native-ipp") is None


def ipp_unavailable_reason() -> str | None:
    """One line saying why the IPP Crypto backend is not in use, or None when it is."""
    return _backend_problem("native-ipp")


def engine_unavailable_reason(name: str) -> str | None:
    """Why engine ``name`` (a backend or alias) cannot be used here, or None when it can."""
    if name in ALIASES:
        if name == "auto" or any(_load(b) is not None for b in BACKENDS[:2]):
            return None
        return (f"native engine unavailable: {native_unavailable_reason()}; "
                f"native-ipp: {ipp_unavailable_reason()}")
    if name not in BACKENDS:
        return f"unknown engine {name!r}; valid: {', '.join((*BACKENDS, *ALIASES))}"
    return _backend_problem(name)


class SectorCipher(Protocol):
    """A key bound to one cipher, sector size and thread count (see :meth:`Engine.bind`)."""

    threads: int

    def encrypt(self, src: Any, dst: Any, first_sector: int, metadata: Any = None,
                sectors: Any = None, nonces_given: bool = False) -> None: ...

    def decrypt(self, src: Any, dst: Any, first_sector: int, metadata: Any = None,
                sectors: Any = None) -> None: ...


#: The largest XTS data unit IEEE 1619 allows: 2^20 blocks of 16 bytes.
_XTS_MAX_UNIT = 16 << 20


def flat_bytes(view: memoryview) -> memoryview:
    """``view`` as one dimension of unsigned bytes: ``cast("B")``, which CPython refuses for
    an empty view of several dimensions (a numpy array of shape (0, 4096)), made total."""
    if view.nbytes:
        return view.cast("B")
    return memoryview(b"") if view.readonly else memoryview(bytearray())


def _byte_view(obj: Any, what: str, writable: bool) -> memoryview:
    """A flat unsigned-byte view of a buffer (bytes, bytearray, memoryview, numpy array)."""
    if isinstance(obj, str):
        raise TypeError(f"{what} must be a bytes-like buffer, not str")
    try:
        view = memoryview(obj)
    except TypeError:
        raise TypeError(f"{what} must be a bytes-like buffer, not {type(obj).__name__}") from None
    if not view.c_contiguous:
        raise ValueError(f"{what} must be C-contiguous")
    if writable and view.readonly:
        raise TypeError(f"{what} must be writable (bytearray, memoryview, numpy array)")
    if view.format != "B" or view.ndim != 1:
        view = flat_bytes(view)
    return view


#: struct formats of a ``sectors`` buffer: 64-bit integers (signed ones checked for negatives;
#: raw bytes are taken as packed native uint64, as the native backends read them)
_SECTOR_FORMATS = {"Q": False, "=Q": False, "@Q": False, "L": False, "N": False,
                   "q": True, "=q": True, "@q": True, "l": True, "n": True, "B": False,
                   # explicitly little-endian: the native order only where it is little-endian
                   **({"<Q": False, "<q": True} if sys.byteorder == "little" else {})}


def _sector_numbers(sectors: Any, n: int) -> memoryview:
    """A ``sectors`` argument as n uint64 numbers, checked as the native backends check it."""
    if isinstance(sectors, str):
        raise TypeError("sectors must be a bytes-like buffer, not str")
    try:
        view = memoryview(sectors)
    except TypeError:
        raise TypeError(
            f"sectors must be a bytes-like buffer, not {type(sectors).__name__}") from None
    if not view.c_contiguous:
        raise ValueError("sectors must be C-contiguous")
    signed = _SECTOR_FORMATS.get(view.format)
    if signed is None or (view.format != "B" and view.itemsize != 8):
        raise ValueError("sectors must be 64-bit integers (a numpy uint64 or int64 array, "
                         f"array('Q')), not format {view.format!r}")
    raw = flat_bytes(view)
    if raw.nbytes != 8 * n or _span(raw)[0] % 8:
        raise ValueError(f"sectors is {raw.nbytes} bytes, expected {8 * n} aligned "
                         "(one uint64 per sector)")
    numbers = raw.cast("q" if signed else "Q")
    if signed and n and min(numbers) < 0:
        raise ValueError(f"sectors holds a negative sector number ({min(numbers)})")
    return raw.cast("Q")


def _index(value: Any, what: str) -> int:
    """An integer argument: ints and numpy integers, not bools, floats or strings."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an int, not a bool")
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f"{what} must be an int, not {type(value).__name__}") from None


def _span(view: memoryview) -> tuple[int, int]:
    """(address, length) of a flat byte view, for overlap checks."""
    if view.nbytes == 0:
        return 0, 0
    return int(np.frombuffer(view, dtype=np.uint8).ctypes.data), view.nbytes


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> bool:
    return a[1] > 0 and b[1] > 0 and a[0] < b[0] + b[1] and b[0] < a[0] + a[1]


def _check_aliasing(src: memoryview, dst: memoryview, meta: memoryview | None,
                    sectors: Any = None) -> None:
    """Refuse buffers that overlap except exactly in place (src is dst): an engine writing
    sector i of dst over sector i+1 of src would silently encrypt the wrong data; likewise
    sector numbers that the output or the nonces written would change mid-batch."""
    s, d = _span(src), _span(dst)
    if s != d and _overlap(s, d):
        raise ValueError("source and destination overlap partially (in place must be exact)")
    m = _span(meta) if meta is not None else (0, 0)
    if meta is not None and (_overlap(m, s) or _overlap(m, d)):
        raise ValueError("metadata overlaps the source or destination")
    if sectors is not None:
        n = _span(flat_bytes(memoryview(sectors)))
        if _overlap(n, d):
            raise ValueError("sectors overlaps the destination")
        if _overlap(n, m):
            raise ValueError("sectors overlaps the metadata")


def _check_first(first: Any, n: int, what: str = "first_sector") -> int:
    first = _index(first, what)
    if not 0 <= first < _U64 or first + n > _U64:
        raise ValueError(
            f"{what} must be an int with 0 <= {what} < 2**64 and {what} + n <= 2**64 "
            f"(got {first} with n={n})"
        )
    return first


class Engine:
    """Runs a cipher over whole sectors of a buffer; see the module doc for the kinds."""

    name: str = "abstract"
    openssl_version: str = ""
    #: the cipher names (CipherSpec.name) this engine runs
    ciphers: tuple[str, ...] = ("null", "aes-xts-plain64", "aes-gcm-random",
                                "chacha20-poly1305-random")

    # ------------------------------------------------------------------ public API
    def supports(self, spec: CipherSpec | str) -> bool:
        """Whether this engine runs ``spec``'s cipher."""
        return _as_spec(spec).name in self.ciphers

    def describe(self) -> dict[str, str]:
        """Provenance of this engine's figures: ``engine``, ``library``, ``version`` and
        ``code_path`` (the CPU code the library dispatched), plus engine-specific keys."""
        raise NotImplementedError

    def threads_used(self, spec: CipherSpec | str, nbytes: int, threads: int) -> int:
        """How many threads a batch of ``nbytes`` bound with ``threads`` actually runs on: a
        batch is split only where it pays, so a harness divides CPU time by these, not by
        the threads asked for."""
        return max(1, min(threads, nbytes // _as_spec(spec).sector_size))

    def bind(self, spec: CipherSpec | str, key: Any, threads: int = 1) -> SectorCipher:
        """A sector cipher keyed once: ``encrypt(src, dst, first_sector, metadata=None,
        sectors=None, nonces_given=False)`` / ``decrypt(...)``.

        Everything about the key and configuration is checked here; a call checks only its
        buffers (sizes, writability, overlap, sector range).  ``sectors`` (a C-contiguous
        uint64 buffer, one number per sector) gathers sectors that are not consecutive.
        """
        spec, key, threads = self._bind_args(spec, key, threads)
        return self._bind(spec, key, threads)

    def encrypt_sectors(
        self,
        spec: CipherSpec,
        key: Any,
        src: Any,
        dst: Any,
        first_sector: int,
        metadata: Any = None,
        threads: int = 1,
        *,
        nonces: NonceMode = "random",
    ) -> None:
        """Encrypt ``len(src) // spec.sector_size`` sectors starting at ``first_sector``.

        ``dst`` (same length, may be ``src`` itself) receives the ciphertext; for AEAD specs
        ``metadata`` (n × 28 bytes) receives nonce ‖ tag per sector.  ``nonces="given"`` uses
        the nonces already in ``metadata`` instead of fresh random ones (tests, reproducibility;
        never reuse a nonce with real data).  One-off calls; bind once for many.
        """
        args = self._prepare(spec, key, src, dst, first_sector, metadata, threads, True, nonces)
        self._crypt(*args)

    def decrypt_sectors(
        self,
        spec: CipherSpec,
        key: Any,
        src: Any,
        dst: Any,
        first_sector: int,
        metadata: Any = None,
        threads: int = 1,
    ) -> None:
        """Decrypt sectors; AEAD specs verify every tag against ``metadata``.

        Raises :class:`IntegrityError` (``OSError``/``EIO``) naming the first failing absolute
        sector; the output of failing sectors is zeroed, never left as unauthenticated data.
        """
        args = self._prepare(spec, key, src, dst, first_sector, metadata, threads, False, "given")
        self._crypt(*args)

    def crypt_units(
        self,
        cipher: str,
        encrypt: bool,
        key: Any,
        src: Any,
        dst: Any,
        first_unit: int,
        unit_size: int,
        metadata: Any = None,
        *,
        nonces: NonceMode = "random",
    ) -> None:
        """The sector loop with any data-unit size >= 16 bytes (``cipher``: null, xts, gcm,
        chacha20-poly1305): for checking the engines against published vectors whose data
        units are not disk sectors (e.g. IEEE 1619 / NIST XTSVS 32-byte units)."""
        if cipher not in _ALG_BY_NAME:
            raise InvalidCipherSpecError(f"unknown cipher {cipher!r}; valid: {list(_ALG_BY_NAME)}")
        if cipher != "null" and not self.supports(_MESSAGE_SPEC[cipher]):
            raise InvalidCipherSpecError(f"engine {self.name} does not run {cipher}")
        unit_size = _index(unit_size, "unit_size")
        if not 16 <= unit_size <= 1 << 24:
            raise ValueError("unit_size must be in 16..16 MiB")
        alg = _ALG_BY_NAME[cipher]
        raw_key = _message_key(cipher, key) if alg != ALG_NULL else b""
        srcv = _byte_view(src, "src", False)
        dstv = _byte_view(dst, "dst", True)
        if srcv.nbytes % unit_size or srcv.nbytes != dstv.nbytes:
            raise ValueError("src and dst must be the same multiple of unit_size")
        n = srcv.nbytes // unit_size
        first_unit = _check_first(first_unit, n, "first_unit")
        if nonces not in ("random", "given"):
            raise ValueError("nonces must be 'random' or 'given'")
        metav = None
        if alg in (ALG_GCM, ALG_CHACHA):
            if metadata is None:
                raise ValueError(f"{cipher} needs a metadata buffer of {n * 28} bytes")
            metav = _byte_view(metadata, "metadata", bool(encrypt))
            if metav.nbytes != n * AEAD_METADATA_SIZE:
                raise ValueError(
                    f"metadata is {metav.nbytes} bytes, expected {n * AEAD_METADATA_SIZE}"
                )
        _check_aliasing(srcv, dstv, metav)
        self._crypt(
            alg, bool(encrypt), raw_key, srcv, dstv, first_unit, unit_size, metav, 1,
            nonces == "given",
        )

    def crypt_message(
        self,
        cipher: str,
        encrypt: bool,
        key: bytes,
        iv: bytes,
        data: bytes,
        aad: bytes = b"",
        tag: bytes | None = None,
    ) -> tuple[bytes, bytes | None] | None:
        """One message with an explicit IV/tweak and AAD, through the engine's own cipher
        calls: for published test vectors.  Returns (output, tag) or None when a tag fails.
        Checked here alike for every backend (cipher, key, tweak, length)."""
        if cipher not in _ALG_BY_NAME or cipher == "null":
            raise InvalidCipherSpecError(f"unknown cipher {cipher!r}; valid: "
                                         f"{[c for c in _ALG_BY_NAME if c != 'null']}")
        if not self.supports(_MESSAGE_SPEC[cipher]):
            raise InvalidCipherSpecError(f"engine {self.name} does not run {cipher}")
        raw = _message_key(cipher, key)
        ivb = bytes(_byte_view(iv, "iv", False))
        datab = bytes(_byte_view(data, "data", False))
        tagb = None if tag is None else bytes(_byte_view(tag, "tag", False))
        if cipher == "xts":
            if len(ivb) != 16:
                raise ValueError(f"an XTS tweak is 16 bytes, not {len(ivb)}")
            if len(datab) < 16:
                raise ValueError(f"XTS needs at least one 16-byte block, got {len(datab)} bytes")
            if len(datab) > _XTS_MAX_UNIT:  # IEEE 1619-2018 5.1: at most 2^20 blocks a unit
                raise ValueError(f"an XTS data unit is at most 2^20 blocks ({_XTS_MAX_UNIT} "
                                 f"bytes), got {len(datab)} bytes")
        else:
            if len(ivb) != 12:  # what every backend runs alike (and the volume uses)
                raise ValueError(f"{cipher} takes a 12-byte nonce here, not {len(ivb)} bytes")
            if tagb is not None and len(tagb) != 16:
                raise ValueError(f"{cipher} tags are 16 bytes, not {len(tagb)}")
            if not encrypt and tagb is None:
                raise ValueError(f"{cipher} decryption needs the tag")
        return self._message(cipher, bool(encrypt), raw, ivb, datab,
                             bytes(_byte_view(aad, "aad", False)), tagb)

    def _message(self, cipher: str, encrypt: bool, key: bytes, iv: bytes, data: bytes,
                 aad: bytes, tag: bytes | None) -> tuple[bytes, bytes | None] | None:
        raise NotImplementedError

    # ------------------------------------------------------------------ internals
    def _bind_args(self, spec: Any, key: Any, threads: Any) -> tuple[CipherSpec, bytes, int]:
        spec = _as_spec(spec)
        if not self.supports(spec):
            raise InvalidCipherSpecError(
                f"engine {self.name} does not run {spec.name} (it runs {', '.join(self.ciphers)})"
            )
        raw_key = b"" if spec.algorithm == ALG_NULL and not key else spec.check_key(key)
        threads = _index(threads, "threads")
        if threads < 1:
            raise ValueError(f"threads must be an int >= 1, not {threads}")
        return spec, raw_key, min(threads, _MAX_THREADS)

    def _bind(self, spec: CipherSpec, key: bytes, threads: int) -> SectorCipher:
        raise NotImplementedError

    def _prepare(
        self,
        spec: CipherSpec,
        key: Any,
        src: Any,
        dst: Any,
        first_sector: int,
        metadata: Any,
        threads: int,
        encrypt: bool,
        nonces: str,
    ) -> tuple[Any, ...]:
        """Validate the public arguments once; returns the argument tuple of ``_crypt``."""
        if isinstance(spec, str):
            spec = CipherSpec.parse(spec)
        if not isinstance(spec, CipherSpec):
            raise TypeError("spec must be a CipherSpec")
        if not self.supports(spec):
            raise InvalidCipherSpecError(f"engine {self.name} does not run {spec.name}")
        raw_key = spec.check_key(key) if spec.algorithm != ALG_NULL else b""
        srcv = _byte_view(src, "src", False)
        dstv = _byte_view(dst, "dst", True)
        size = spec.sector_size
        if srcv.nbytes % size:
            raise ValueError(
                f"src is {srcv.nbytes} bytes, not a multiple of the {size}-byte sector"
            )
        if dstv.nbytes != srcv.nbytes:
            raise ValueError(f"dst is {dstv.nbytes} bytes, src {srcv.nbytes}: they must match")
        n = srcv.nbytes // size
        first_sector = _check_first(first_sector, n)
        if nonces not in ("random", "given"):
            raise ValueError("nonces must be 'random' or 'given'")
        threads = _index(threads, "threads")
        if threads < 1:
            raise ValueError(f"threads must be an int >= 1, not {threads}")
        threads = min(threads, max(n, 1), _MAX_THREADS)  # more workers than sectors would idle
        metav = None
        if spec.is_aead:
            if metadata is None:
                raise ValueError(f"{spec.name} needs a metadata buffer of {n * 28} bytes")
            metav = _byte_view(metadata, "metadata", encrypt)
            if metav.nbytes != n * AEAD_METADATA_SIZE:
                raise ValueError(
                    f"metadata is {metav.nbytes} bytes, expected {n * AEAD_METADATA_SIZE} "
                    "(28 per sector: nonce 12 ‖ tag 16)"
                )
        elif metadata is not None:
            raise ValueError(f"{spec.name} keeps no per-sector metadata; pass metadata=None")
        return (
            spec.algorithm, encrypt, raw_key, srcv, dstv, first_sector, size, metav, threads,
            nonces == "given",
        )

    def _crypt(
        self,
        alg: int,
        encrypt: bool,
        key: Any,
        src: memoryview,
        dst: memoryview,
        first: int,
        unit: int,
        meta: memoryview | None,
        threads: int,
        nonces_given: bool,
        sectors: Any = None,
    ) -> None:
        """Validated core: run the loop, raise IntegrityError on the first failing tag.

        ``sectors``: a C-contiguous uint64 array giving each unit's sector number instead of
        ``first + i`` (gathered batches).
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} openssl={self.openssl_version!r}>"


def _as_spec(spec: Any) -> CipherSpec:
    if isinstance(spec, str):
        return CipherSpec.parse(spec)
    if not isinstance(spec, CipherSpec):
        raise TypeError("spec must be a CipherSpec or a cipher string")
    return spec


# ---------------------------------------------------------------------- cryptography engine

class CryptographyEngine(Engine):
    """Portable engine over pyca/cryptography (its bundled OpenSSL)."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.hazmat.backends.openssl.backend import backend

        self.openssl_version = backend.openssl_version_text()

    def describe(self) -> dict[str, str]:
        import cryptography

        return {
            "engine": self.name,
            "library": f"pyca/cryptography {cryptography.__version__} (bundled OpenSSL)",
            "version": self.openssl_version,
            # the bundled OpenSSL detects the CPU as the system one does (CPUID, and the same
            # OPENSSL_ia32cap variable): what it can dispatch over, in the same words
            "code_path": f"{openssl_code_path()}, as OpenSSL detects this CPU "
                         f"(per-sector Python loop)",
        }

    def _bind(self, spec: CipherSpec, key: bytes, threads: int) -> SectorCipher:
        return _PythonSectorCipher(self, spec, key, threads)

    def threads_used(self, spec: CipherSpec | str, nbytes: int, threads: int) -> int:
        """Always one: the per-sector loop holds the GIL, so worker threads only added their
        hand-offs (two threads ran at 0.12-0.60x of one, 8 KiB to 1 MiB batches)."""
        return 1

    def _crypt(self, alg, encrypt, key, src, dst, first, unit, meta, threads, nonces_given,
               sectors=None):
        # The native engine refuses overlapping buffers in C; here Python must.
        _check_aliasing(src, dst, meta, sectors)
        n = src.nbytes // unit
        # one sector number per unit: first + i, or the gathered batch's own numbers
        numbers = range(first, first + n) if sectors is None else _sector_numbers(sectors, n)
        if n == 0:
            return
        if alg in (ALG_GCM, ALG_CHACHA) and encrypt and not nonces_given:
            nonces = os.urandom(NONCE_SIZE * n)  # one call per batch
            for i in range(n):
                meta[i * AEAD_METADATA_SIZE : i * AEAD_METADATA_SIZE + NONCE_SIZE] = nonces[
                    i * NONCE_SIZE : (i + 1) * NONCE_SIZE
                ]
        # on the calling thread whatever ``threads`` says (threads_used): the loop holds the GIL
        bad = self._range(alg, encrypt, key, src, dst, numbers, unit, meta, 0, n)
        if bad[0]:
            raise IntegrityError(numbers[bad[1]], bad[0])

    @staticmethod
    def _range(alg, encrypt, key, src, dst, numbers, unit, meta, start, stop) -> tuple[int, int]:
        """Units [start, stop) of a batch (``numbers[i]`` is unit i's sector number); returns
        (failures, first failing index)."""
        if alg == ALG_NULL:
            dst[start * unit : stop * unit] = src[start * unit : stop * unit]
            return 0, -1
        if alg == ALG_XTS:
            aes = algorithms.AES(key)
            xts = modes.XTS
            new = Cipher
            for i in range(start, stop):
                c = new(aes, xts(numbers[i].to_bytes(16, "little")))
                ctx = c.encryptor() if encrypt else c.decryptor()
                lo = i * unit
                ctx.update_into(src[lo : lo + unit], dst[lo : lo + unit])
                ctx.finalize()
            return 0, -1
        aead = AESGCM(key) if alg == ALG_GCM else ChaCha20Poly1305(key)
        scratch = bytearray(unit + TAG_SIZE)
        sv = memoryview(scratch)
        aad = bytearray(8 + NONCE_SIZE)
        pack = struct.Struct("<Q").pack_into
        failures, first_bad = 0, -1
        for i in range(start, stop):
            m = i * AEAD_METADATA_SIZE
            nonce = meta[m : m + NONCE_SIZE]
            pack(aad, 0, numbers[i])
            aad[8:] = nonce
            lo = i * unit
            if encrypt:
                aead.encrypt_into(nonce, src[lo : lo + unit], aad, scratch)
                dst[lo : lo + unit] = sv[:unit]
                meta[m + NONCE_SIZE : m + AEAD_METADATA_SIZE] = sv[unit:]
            else:
                sv[:unit] = src[lo : lo + unit]
                sv[unit:] = meta[m + NONCE_SIZE : m + AEAD_METADATA_SIZE]
                out = dst[lo : lo + unit]
                try:
                    aead.decrypt_into(nonce, scratch, aad, out)
                except InvalidTag:
                    out[:] = bytes(unit)  # never hand out unauthenticated plaintext
                    failures += 1
                    if first_bad < 0:
                        first_bad = i
        return failures, first_bad

    def _message(self, cipher, encrypt, key, iv, data, aad, tag):
        alg = _ALG_BY_NAME[cipher]
        if alg == ALG_XTS:
            c = Cipher(algorithms.AES(key), modes.XTS(iv))
            ctx = c.encryptor() if encrypt else c.decryptor()
            return ctx.update(data) + ctx.finalize(), None
        aead = AESGCM(key) if alg == ALG_GCM else ChaCha20Poly1305(key)
        if encrypt:
            out = aead.encrypt(iv, data, aad)
            return out[: len(data)], out[len(data) :]
        try:
            return aead.decrypt(iv, bytes(data) + bytes(tag or b""), aad), None
        except InvalidTag:
            return None


class _PythonSectorCipher:
    """The portable engine's bound cipher: the same call shape as the native ``Bound``."""

    __slots__ = ("_aead", "_alg", "_engine", "_key", "_unit", "threads")

    def __init__(self, engine: CryptographyEngine, spec: CipherSpec, key: bytes,
                 threads: int) -> None:
        self._engine, self._alg, self._key = engine, spec.algorithm, key
        self._unit, self._aead, self.threads = spec.sector_size, spec.is_aead, threads

    def encrypt(self, src: Any, dst: Any, first_sector: int, metadata: Any = None,
                sectors: Any = None, nonces_given: bool = False) -> None:
        """Encrypt whole sectors (see :meth:`Engine.bind`)."""
        self._run(True, src, dst, first_sector, metadata, sectors, bool(nonces_given))

    def decrypt(self, src: Any, dst: Any, first_sector: int, metadata: Any = None,
                sectors: Any = None) -> None:
        """Decrypt whole sectors, verifying AEAD tags (see :meth:`Engine.bind`)."""
        self._run(False, src, dst, first_sector, metadata, sectors, True)

    def _run(self, enc, src, dst, first, meta, sectors, nonces_given) -> None:
        srcv, dstv = _byte_view(src, "src", False), _byte_view(dst, "dst", True)
        unit = self._unit
        if srcv.nbytes % unit or dstv.nbytes != srcv.nbytes:
            raise ValueError(f"src and dst must be the same multiple of the {unit}-byte sector")
        n = srcv.nbytes // unit
        first = _check_first(first, n if sectors is None else 0)  # checked either way
        if sectors is not None:
            sectors = _sector_numbers(sectors, n)
            first = 0
        metav = None
        if self._aead:
            if meta is None:
                raise ValueError(f"this cipher needs a metadata buffer of {n * 28} bytes")
            metav = _byte_view(meta, "metadata", enc)
            if metav.nbytes != n * AEAD_METADATA_SIZE:
                raise ValueError(f"metadata is {metav.nbytes} bytes, expected {n * 28}")
        elif meta is not None:
            raise ValueError("this cipher keeps no per-sector metadata; pass None")
        self._engine._crypt(self._alg, enc, self._key, srcv, dstv, first, unit, metav,
                            self.threads, nonces_given, sectors)


# ---------------------------------------------------------------------- native engines


class _NativeEngine(Engine):
    """Shared by the two native backends: a C ``Bound`` per key (see ``_native.c``)."""

    backend: int = 0

    def _bind(self, spec: CipherSpec, key: bytes, threads: int) -> SectorCipher:
        return self._new_bound(spec.algorithm, key, spec.sector_size, threads)

    def threads_used(self, spec: CipherSpec | str, nbytes: int, threads: int) -> int:
        """As batch_run() in _native.c splits: a worker per ``split_bytes`` (128 KiB) of the
        batch, at most ``threads``, at least one.  (A batch under 1 MiB may yet run alone when
        no worker is awake: the harness sees that as less CPU per thread.)"""
        units = nbytes // _as_spec(spec).sector_size
        return max(1, min(threads, nbytes // _native.split_bytes(), units))

    def _new_bound(self, alg: int, key: bytes, unit: int, threads: int) -> Any:
        try:
            return _native.Bound(self.backend, alg, key, unit, threads, IntegrityError,
                                 BackendError)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None

    def _crypt(self, alg, encrypt, key, src, dst, first, unit, meta, threads, nonces_given,
               sectors=None):
        bound = self._new_bound(alg, key, unit, threads)
        if encrypt:
            bound.encrypt(src, dst, first, meta, sectors, nonces_given)
        else:
            bound.decrypt(src, dst, first, meta, sectors)

    def ceiling(
        self,
        spec: CipherSpec | str,
        unit_bytes: int = 4096,
        seconds: float = 1.0,
        decrypt: bool = False,
        buffer_bytes: int | None = None,
    ) -> float:
        """Throughput in bytes/s of the library's own loop over ``unit_bytes`` data units
        (one key, in place, no per-call framework), measured in this process: the ceiling
        this engine's figures are compared with.

        ``buffer_bytes`` defaults to one data unit, as ``openssl speed`` does (hot in L1).
        """
        spec = _as_spec(spec)
        if spec.algorithm == ALG_NULL:
            raise InvalidCipherSpecError("the null cipher has no library ceiling")
        if not self.supports(spec):
            raise InvalidCipherSpecError(f"engine {self.name} does not run {spec.name}")
        key = _random_key(spec)
        buf = bytearray(buffer_bytes or unit_bytes)
        units = len(buf) // unit_bytes
        if units == 0:
            raise ValueError("buffer_bytes must hold at least one unit")
        iterations = 16
        while True:  # calibrate to ~5 % of the budget, then run the rest
            elapsed = self._loop(spec.algorithm, not decrypt, key, buf, unit_bytes, iterations)
            if elapsed >= seconds * 0.05 or iterations >= 1 << 40:
                break
            iterations *= 4
        iterations = max(1, int(iterations * seconds / max(elapsed, 1e-9)))
        elapsed = self._loop(spec.algorithm, not decrypt, key, buf, unit_bytes, iterations)
        return iterations * units * unit_bytes / elapsed

    def _loop(self, alg: int, enc: bool, key: bytes, buf: bytearray, unit: int,
              iterations: int) -> float:
        raise NotImplementedError


class OpenSSLEngine(_NativeEngine):
    """The C loop over the system libcrypto; every cipher."""

    name = "native-openssl"
    backend = 0

    def __init__(self) -> None:
        if _native is None:
            raise EngineUnavailableError(f"native engine unavailable: {_NATIVE_REASON}")
        self.openssl_version = _native.openssl_version()
        self.backend = _native.BACKEND_OPENSSL

    @property
    def xts_path(self) -> str:
        """"provider" (OpenSSL provider functions called directly) or "evp" (the
        EVP_CipherInit_ex loop): how XTS sectors are processed by keys bound from now on."""
        return str(_native.xts_path())

    @property
    def aead_path(self) -> str:
        """"provider" or "evp": how AES-GCM and ChaCha20-Poly1305 sectors are processed by
        keys bound from now on (as ``xts_path``)."""
        return str(_native.aead_path())

    def describe(self) -> dict[str, str]:
        return {
            "engine": self.name,
            "library": "OpenSSL libcrypto (system)",
            "version": self.openssl_version,
            "code_path": openssl_code_path(),
            "xts_path": self.xts_path,
            "aead_path": self.aead_path,
        }

    def _loop(self, alg, enc, key, buf, unit, iterations):
        return _native.ceiling(alg, enc, key, buf, unit, iterations)

    def _message(self, cipher, encrypt, key, iv, data, aad, tag):
        alg = _ALG_BY_NAME[cipher]
        kwargs: dict[str, Any] = {"aad": aad}
        if tag is not None:
            kwargs["tag"] = tag
        try:
            return _native.crypt_one(alg, encrypt, key, iv, data, **kwargs)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None


#: the name this class had when it was the only native engine
NativeEngine = OpenSSLEngine


def _ipp_package() -> str:
    """The pip distribution the library came from, as its users know it (its own version
    string, ippcpGetLibVersion, is the library's: e.g. 2.3.0 in ipp-crypto 2026.2.0)."""
    from importlib import metadata

    try:
        return f"ipp-crypto {metadata.version('ipp-crypto')}"
    except metadata.PackageNotFoundError:
        return "not from the ipp-crypto wheel"


class IppEngine(_NativeEngine):
    """The C loop over Intel IPP Crypto (dlopen()ed); AES-XTS and AES-GCM."""

    name = "native-ipp"
    ciphers = ("null", "aes-xts-plain64", "aes-gcm-random")

    def __init__(self) -> None:
        if _native is None:
            raise EngineUnavailableError(f"native extension unavailable: {_NATIVE_REASON}")
        path, note = _ipp_finder.find_library()
        if path is None:
            raise EngineUnavailableError(f"IPP Crypto unavailable: {note}")
        # dlopen() of a damaged file could kill this process (SIGBUS, SIGSEGV): the file is
        # checked (find_library() gives absolute paths only), then loaded in a child first
        broken = _ipp_finder.damaged(path)
        if broken is None and not _native.ipp_loaded():
            broken = _ipp_finder.unloadable(path)
        if broken is not None:
            raise EngineUnavailableError(f"IPP Crypto unavailable: {broken}")
        try:
            self.info: dict[str, Any] = dict(_native.ipp_load(path))
        except OSError as exc:
            raise EngineUnavailableError(f"IPP Crypto unavailable: {exc}") from None
        # a process loads the library once: the one it runs, not the one found now (after
        # FARGATE_SIM_IPP_LIBRARY changed, say), is what the results must name
        self.path = os.fsdecode(self.info.pop("path", path))
        if self.path != path:
            log.info("IPP Crypto: %s was found, but this process runs %s, loaded first",
                     path, self.path)
        self.backend = _native.BACKEND_IPP
        self.openssl_version = _native.openssl_version()  # nonces still come from RAND_bytes

    def describe(self) -> dict[str, str]:
        return {
            "engine": self.name,
            "library": f"Intel IPP Crypto ({self.path})",
            "package": _ipp_package(),
            "version": str(self.info["version"]),
            "code_path": str(self.info["target_cpu"]),
            "dispatch": str(self.info["name"]),
            "cpu_features": f"0x{self.info['cpu_features']:x} (enabled "
                            f"0x{self.info['enabled_features']:x})",
            "nonces": f"RAND_bytes of {self.openssl_version}",
        }

    def _loop(self, alg, enc, key, buf, unit, iterations):
        return _native.ipp_ceiling(alg, enc, key, buf, unit, iterations)

    def _message(self, cipher, encrypt, key, iv, data, aad, tag):
        alg = _ALG_BY_NAME[cipher]
        kwargs: dict[str, Any] = {"aad": aad}
        if tag is not None:
            kwargs["tag"] = tag
        try:
            return _native.ipp_crypt_one(alg, encrypt, key, iv, data, **kwargs)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None


#: CPUID bits OpenSSL's AES code dispatches on, by OPENSSL_ia32cap word and bit
#: (https://docs.openssl.org/3.0/man3/OPENSSL_ia32cap/)
_IA32CAP_FEATURES = (
    ("aesni", 1, 25), ("pclmulqdq", 1, 1), ("avx", 1, 28), ("avx2", 2, 5),
    ("avx512f", 2, 16), ("vaes", 3, 9), ("vpclmulqdq", 3, 10),
)


def openssl_code_path() -> str:
    """The CPU features the system libcrypto detected (``OPENSSL_ia32cap``), e.g.
    ``aesni+pclmulqdq+avx+avx2+avx512f+vaes+vpclmulqdq``; whether its XTS/GCM code uses the
    vector AES ones depends on the OpenSSL version (3.0 has no VAES code for XTS or GCM)."""
    info = _native.openssl_cpu_settings() if _native is not None else None
    if info is None:  # no native extension to ask: the kernel's view of the same features
        return _cpuinfo_code_path()
    if not info.startswith("OPENSSL_ia32cap="):
        return f"not x86 ({info or 'no CPU settings reported'})"
    # "OPENSSL_ia32cap=0x<lo>:0x<hi>", then " env:<the variable>" when OPENSSL_ia32cap is set
    # (the value shown is what the library uses, the mask applied)
    caps, _, env = info.split("=", 1)[1].partition(" env:")
    try:
        lo, hi = (int(part, 16) for part in caps.split(":")[:2])
    except ValueError:
        return info
    words = (lo & 0xFFFFFFFF, lo >> 32, hi & 0xFFFFFFFF, hi >> 32)
    names = [name for name, word, bit in _IA32CAP_FEATURES if words[word] >> bit & 1]
    path = "+".join(names) or "generic"
    return f"{path} (OPENSSL_ia32cap={env.strip()})" if env.strip() else path


#: /proc/cpuinfo's flag for each feature of _IA32CAP_FEATURES
_CPUINFO_FLAGS = {"aesni": "aes", "pclmulqdq": "pclmulqdq", "avx": "avx", "avx2": "avx2",
                  "avx512f": "avx512f", "vaes": "vaes", "vpclmulqdq": "vpclmulqdq"}


def _cpuinfo_code_path(path: str = "/proc/cpuinfo") -> str:
    """The features of ``openssl_code_path()`` as the kernel lists them (no native extension
    to ask libcrypto): ``aesni+pclmulqdq+...`` (from /proc/cpuinfo), or why not known."""
    try:
        with open(path, encoding="ascii", errors="replace") as fh:
            flags = next((line.split(":", 1)[1].split() for line in fh
                          if line.startswith("flags")), None)
    except OSError as exc:
        return f"CPU features unknown ({path}: {exc.strerror})"
    if flags is None:
        return f"CPU features unknown (no flags line in {path}: not x86?)"
    have = set(flags)
    names = [name for name, _, _ in _IA32CAP_FEATURES if _CPUINFO_FLAGS[name] in have]
    return ("+".join(names) or "generic") + " (from /proc/cpuinfo)"


def _random_key(spec: CipherSpec) -> bytes:
    """A fresh random key for the spec (XTS halves distinct with overwhelming probability)."""
    while True:
        key = os.urandom(spec.key_bytes)
        try:
            return spec.check_key(key)
        except InvalidKeyError:  # pragma: no cover - 2**-256 chance
            continue


# ---------------------------------------------------------------------- selection

_instances: dict[str, Engine] = {}
_problems: dict[str, str | None] = {}
_instances_lock = threading.RLock()
_CLASSES: dict[str, Callable[[], Engine]] = {
    "native-ipp": IppEngine, "native-openssl": OpenSSLEngine, "cryptography": CryptographyEngine,
}


def _load(name: str) -> Engine | None:
    """The backend called ``name``, created and self-tested once; None (reason recorded)
    when it cannot run here.  A self-test failure is logged and warned about."""
    from .selftest import SelfTestFailure, run_self_test

    with _instances_lock:
        if name in _instances:
            return _instances[name]
        if name in _problems:
            return None
        if name != "cryptography" and _native is None:
            _problems[name] = _NATIVE_REASON
            return None
        try:
            engine = _CLASSES[name]()
            run_self_test(engine)
        except EngineUnavailableError as exc:
            _problems[name] = str(exc)
            return None
        except (SelfTestFailure, BackendError, ValueError) as exc:
            why = f"{name} disabled: known-answer self-test failed: {exc}"
            log.error(why)
            warnings.warn(why, RuntimeWarning, stacklevel=3)
            _problems[name] = why
            return None
        _instances[name] = engine
        _problems[name] = None
        return engine


def _backend_problem(name: str) -> str | None:
    _load(name)
    return _problems.get(name)


class SelectingEngine(Engine):
    """``native`` (``auto``): per cipher, key size and sector size, the fastest candidate
    backend, measured once on first use (bound encryption of 256 KiB in the spec's sectors)."""

    def __init__(self, name: str, candidates: tuple[str, ...],
                 fallback: str | None = None) -> None:
        self.name = name
        self._candidates = [e for e in (_load(c) for c in candidates) if e is not None]
        if not self._candidates:
            raise EngineUnavailableError(f"engine {name!r}: no backend available")
        #: for a cipher no candidate runs (``auto``: "cryptography", e.g. ChaCha20-Poly1305
        #: where only IPP passed its self-test)
        self._fallback = _load(fallback) if fallback else None
        self._choice: dict[tuple[str, int, int], tuple[Engine, dict[str, float]]] = {}
        openssl = _instances.get("native-openssl") or self._candidates[-1]
        self.openssl_version = openssl.openssl_version
        self.ciphers = tuple(sorted({c for e in self._candidates for c in e.ciphers}))

    def engine_for(self, spec: CipherSpec | str) -> Engine:
        """The backend this engine runs ``spec`` on."""
        return self._select(_as_spec(spec))[0]

    def _select(self, spec: CipherSpec) -> tuple[Engine, dict[str, float]]:
        key = (spec.name, spec.key_bits, spec.sector_size)
        with _instances_lock:
            if key not in self._choice:
                able = [e for e in self._candidates if e.supports(spec)]
                if not able and self._fallback is not None and self._fallback.supports(spec):
                    able = [self._fallback]
                if not able:
                    raise InvalidCipherSpecError(f"engine {self.name} cannot run {spec.name}")
                rates = {e.name: _quick_rate(e, spec) for e in able} if len(able) > 1 else {}
                best = max(able, key=lambda e: rates.get(e.name, 0.0))
                self._choice[key] = (best, rates)
            return self._choice[key]

    def describe(self, spec: CipherSpec | str | None = None) -> dict[str, str]:
        """With ``spec``: the chosen backend's description plus the measured ``selection``;
        without: the candidates and the choices made so far."""
        if spec is not None:
            chosen, rates = self._select(_as_spec(spec))
            out = dict(chosen.describe())
            out["selected_by"] = self.name
            out["selection"] = ", ".join(f"{n} {r / 1e9:.2f} GB/s" for n, r in rates.items()) \
                or "only candidate"
            return out
        made = ", ".join(f"{n}:{k}:{z} -> {e.name}"
                         for (n, k, z), (e, _) in self._choice.items())
        return {
            "engine": self.name,
            "library": " | ".join(e.describe()["library"] for e in self._candidates),
            "version": " | ".join(e.describe()["version"] for e in self._candidates),
            "code_path": " | ".join(e.describe()["code_path"] for e in self._candidates),
            "candidates": ", ".join(e.name for e in self._candidates),
            "choices": made or "none yet (chosen per cipher on first use)",
        }

    def supports(self, spec: CipherSpec | str) -> bool:
        return any(e.supports(spec) for e in self._candidates) or (
            self._fallback is not None and self._fallback.supports(spec))

    def _bind(self, spec, key, threads):
        return self.engine_for(spec)._bind(spec, key, threads)

    def threads_used(self, spec: CipherSpec | str, nbytes: int, threads: int) -> int:
        return self.engine_for(spec).threads_used(spec, nbytes, threads)

    def encrypt_sectors(self, spec, key, src, dst, first_sector, metadata=None, threads=1, *,
                        nonces="random"):
        self.engine_for(spec).encrypt_sectors(spec, key, src, dst, first_sector, metadata,
                                              threads, nonces=nonces)

    def decrypt_sectors(self, spec, key, src, dst, first_sector, metadata=None, threads=1):
        self.engine_for(spec).decrypt_sectors(spec, key, src, dst, first_sector, metadata,
                                              threads)

    def crypt_units(self, cipher, *args, **kwargs):
        return self.engine_for(_MESSAGE_SPEC.get(cipher, "null")).crypt_units(
            cipher, *args, **kwargs)

    def crypt_message(self, cipher, *args, **kwargs):
        return self.engine_for(_MESSAGE_SPEC.get(cipher, "null")).crypt_message(
            cipher, *args, **kwargs)

    def ceiling(self, spec: CipherSpec | str, unit_bytes: int = 4096, seconds: float = 1.0,
                decrypt: bool = False, buffer_bytes: int | None = None) -> float:
        """The chosen native backend's own loop (see :meth:`_NativeEngine.ceiling`)."""
        engine = self.engine_for(spec)
        if not isinstance(engine, _NativeEngine):
            raise EngineUnavailableError("no native backend runs this cipher here")
        return engine.ceiling(spec, unit_bytes, seconds, decrypt, buffer_bytes)


def _quick_rate(engine: Engine, spec: CipherSpec) -> float:
    """Bytes/s of a bound encrypt of 256 KiB (best of a few), for choosing a backend."""
    size = max(spec.sector_size, (256 << 10) // spec.sector_size * spec.sector_size)
    bound = engine.bind(spec, _random_key(spec) if spec.key_bytes else b"")
    src, dst = bytearray(size), bytearray(size)
    meta = bytearray(size // spec.sector_size * AEAD_METADATA_SIZE) if spec.is_aead else None
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        bound.encrypt(src, dst, 0, meta)
        best = min(best, time.perf_counter() - t0)
    return size / max(best, 1e-9)


def get_engine(name: str | Engine = "auto") -> Engine:
    """The engine called ``name``: a backend ("native-ipp", "native-openssl",
    "cryptography") or "native" (per cipher, the fastest native backend) or "auto" ("native"
    where a native backend loads, else "cryptography").  Raises
    :class:`EngineUnavailableError` saying why a backend cannot run here and ``ValueError``
    for unknown names."""
    if isinstance(name, Engine):
        return name
    if name in _CLASSES:
        engine = _load(name)
        if engine is None:
            raise EngineUnavailableError(f"engine {name!r} unavailable: {_problems.get(name)}")
        return engine
    if name not in ALIASES:
        raise ValueError(
            f"unknown engine {name!r}; valid: {', '.join(repr(n) for n in (*BACKENDS, *ALIASES))}"
        )
    natives = tuple(b for b in BACKENDS[:2] if _load(b) is not None)
    if not natives:  # neither native backend loads, or neither passed its self-test
        if name == "native":
            raise EngineUnavailableError(
                f"native engine unavailable: {native_unavailable_reason()}; "
                f"native-ipp: {ipp_unavailable_reason()}"
            )
        return get_engine("cryptography")  # "auto" without a native backend
    # per cipher the faster native backend that passed its self-test; where OpenSSL did
    # not, "auto" runs what IPP cannot (ChaCha20-Poly1305) on "cryptography"
    key = "native" if name == "native" or "native-openssl" in natives else "auto"
    with _instances_lock:
        engine = _instances.get(key)
        if engine is None:
            engine = _instances[key] = SelectingEngine(
                key, natives, fallback="cryptography" if key == "auto" else None)
        return engine


def available_engines() -> list[str]:
    """Names of the backends usable in this process (loaded and self-tested), fastest
    library first; "cryptography" always."""
    return [name for name in BACKENDS if _load(name) is not None]


def time_engine(
    engine: Engine, spec: CipherSpec, batch_bytes: int = 1 << 20, seconds: float = 0.5,
    decrypt: bool = False, threads: int = 1,
) -> float:
    """Bytes/s of ``engine``'s bound cipher over ``batch_bytes`` batches for about
    ``seconds`` (a quick figure for the harness and the compare script; benchmarks use
    pytest-benchmark)."""
    key = _random_key(spec) if spec.key_bytes else b""
    bound = engine.bind(spec, key, threads)
    src = bytearray(os.urandom(batch_bytes))
    dst = bytearray(batch_bytes)
    n = batch_bytes // spec.sector_size
    meta = bytearray(n * spec.metadata_size) if spec.is_aead else None
    bound.encrypt(src, dst, 0, meta)
    if decrypt:
        src, dst = dst, src
    call = bound.decrypt if decrypt else bound.encrypt
    done, t0 = 0, time.perf_counter()
    while True:
        call(src, dst, 0, meta)
        done += batch_bytes
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed
