"""Engines: who runs the per-sector cipher loop.

* ``cryptography``: portable, pure Python over pyca/cryptography.  XTS needs a new cipher
  context per sector (pyca cannot reset only the tweak); the AEAD modes use
  ``encrypt_into``/``decrypt_into`` with one preallocated scratch buffer.
* ``native``: the C extension ``simulator.crypt._native`` over the system libcrypto: one
  cipher context per worker with only the IV reset per sector, the GIL released for the
  whole batch, batches split across persistent pthread workers, nonces from one ``RAND_bytes``
  call per batch.  GCM and ChaCha20-Poly1305 use ``EVP_CipherInit_ex(ctx, NULL, NULL, NULL,
  iv, -1)``; XTS calls the same init/update functions of the OpenSSL provider directly
  (``OSSL_PROVIDER_query_operation``), which saves the EVP layer's ~60 ns a sector (10 % at
  4 KiB); ``FARGATE_SIM_NATIVE_EVP_ONLY=1`` or ``_native.set_xts_direct(False)`` selects the
  EVP loop (``NativeEngine.xts_path`` says which is in use).
* ``auto``: native when it was built, else cryptography (``engine.name`` says which).

Both engines write byte-identical sectors for the same key, sector index and nonce, and read
what the other wrote.
"""

from __future__ import annotations

import operator
import os
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

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

try:  # the optional C extension
    from . import _native
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


def native_available() -> bool:
    """True when the native OpenSSL engine was built and loads."""
    return _native is not None


def native_unavailable_reason() -> str | None:
    """Why the native engine is unavailable, or None when it is available."""
    return _NATIVE_REASON


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
        view = view.cast("B")
    return view


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


def _check_aliasing(src: memoryview, dst: memoryview, meta: memoryview | None) -> None:
    """Refuse buffers that overlap except exactly in place (src is dst): an engine writing
    sector i of dst over sector i+1 of src would silently encrypt the wrong data."""
    s, d = _span(src), _span(dst)
    if s != d and _overlap(s, d):
        raise ValueError("source and destination overlap partially (in place must be exact)")
    if meta is not None:
        m = _span(meta)
        if _overlap(m, s) or _overlap(m, d):
            raise ValueError("metadata overlaps the source or destination")


def _check_first(first: Any, n: int, what: str = "first_sector") -> int:
    first = _index(first, what)
    if not 0 <= first < _U64 or first + n > _U64:
        raise ValueError(
            f"{what} must be an int with 0 <= {what} < 2**64 and {what} + n <= 2**64 "
            f"(got {first} with n={n})"
        )
    return first


class Engine:
    """Runs a cipher over whole sectors of a buffer; see the module doc for the two kinds."""

    name: str = "abstract"
    openssl_version: str = ""

    # ------------------------------------------------------------------ public API
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
        never reuse a nonce with real data).
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
        unit_size = _index(unit_size, "unit_size")
        if not 16 <= unit_size <= 1 << 24:
            raise ValueError("unit_size must be in 16..16 MiB")
        alg = _ALG_BY_NAME[cipher]
        if isinstance(key, str | int):
            raise TypeError(f"key must be bytes-like, not {type(key).__name__}")
        raw_key = bytes(memoryview(key).cast("B")) if alg != ALG_NULL else b""
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
        calls: for published test vectors.  Returns (output, tag) or None when a tag fails."""
        raise NotImplementedError

    # ------------------------------------------------------------------ internals
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
        threads = min(threads, max(n, 1))  # more workers than sectors would idle
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

        ``sectors`` (internal, for gathered batches such as ``EncryptedVolume.writev``): a
        C-contiguous uint64 array giving each unit's sector number instead of ``first + i``.
        """
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r} openssl={self.openssl_version!r}>"


# ---------------------------------------------------------------------- cryptography engine

_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _get_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(max_workers=32, thread_name_prefix="crypt")
        return _executor


class CryptographyEngine(Engine):
    """Portable engine over pyca/cryptography (its bundled OpenSSL)."""

    name = "cryptography"

    def __init__(self) -> None:
        from cryptography.hazmat.backends.openssl.backend import backend

        self.openssl_version = backend.openssl_version_text()

    def _crypt(self, alg, encrypt, key, src, dst, first, unit, meta, threads, nonces_given,
               sectors=None):
        # The native engine refuses overlapping buffers in C; here Python must.
        _check_aliasing(src, dst, meta)
        n = src.nbytes // unit
        # one sector number per unit: first + i, or the gathered batch's own numbers
        numbers = range(first, first + n) if sectors is None else memoryview(sectors).cast(
            "B").cast("Q")
        if n == 0:
            return
        if alg in (ALG_GCM, ALG_CHACHA) and encrypt and not nonces_given:
            nonces = os.urandom(NONCE_SIZE * n)  # one call per batch
            for i in range(n):
                meta[i * AEAD_METADATA_SIZE : i * AEAD_METADATA_SIZE + NONCE_SIZE] = nonces[
                    i * NONCE_SIZE : (i + 1) * NONCE_SIZE
                ]
        threads = min(threads, n)
        if threads <= 1:
            bad = self._range(alg, encrypt, key, src, dst, numbers, unit, meta, 0, n)
        else:
            step, extra = divmod(n, threads)
            bounds, start = [], 0
            for t in range(threads):
                stop = start + step + (1 if t < extra else 0)
                bounds.append((start, stop))
                start = stop
            pool = _get_executor()
            futures = [
                pool.submit(self._range, alg, encrypt, key, src, dst, numbers, unit, meta, a, b)
                for a, b in bounds
            ]
            results = [f.result() for f in futures]
            bad = [0, -1]
            for count, idx in results:
                if count:
                    bad[0] += count
                    if bad[1] < 0 or idx < bad[1]:
                        bad[1] = idx
            bad = (bad[0], bad[1])
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

    def crypt_message(self, cipher, encrypt, key, iv, data, aad=b"", tag=None):
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


# ---------------------------------------------------------------------- native engine


class NativeEngine(Engine):
    """The C loop over the system libcrypto (see ``_native.c``)."""

    name = "native"

    def __init__(self) -> None:
        if _native is None:
            raise EngineUnavailableError(f"native engine unavailable: {_NATIVE_REASON}")
        self.openssl_version = _native.openssl_version()
        self._crypt_sectors: Callable[..., tuple[int, int]] = _native.crypt_sectors

    @property
    def xts_path(self) -> str:
        """"provider" (OpenSSL provider functions called directly) or "evp" (the
        EVP_CipherInit_ex loop): how XTS sectors are processed now."""
        return str(_native.xts_path())

    def _crypt(self, alg, encrypt, key, src, dst, first, unit, meta, threads, nonces_given,
               sectors=None):
        try:
            first_bad, n_bad = self._crypt_sectors(
                alg, encrypt, key, src, dst, first, unit, meta, threads, nonces_given, sectors
            )
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None
        if first_bad >= 0:
            sector = first + first_bad if sectors is None else int(sectors[first_bad])
            raise IntegrityError(sector, n_bad)

    def crypt_message(self, cipher, encrypt, key, iv, data, aad=b"", tag=None):
        alg = _ALG_BY_NAME[cipher]
        kwargs: dict[str, Any] = {"aad": aad}
        if tag is not None:
            kwargs["tag"] = tag
        try:
            return _native.crypt_one(alg, encrypt, key, iv, data, **kwargs)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None

    def ceiling(
        self,
        spec: CipherSpec | str,
        unit_bytes: int = 4096,
        seconds: float = 1.0,
        decrypt: bool = False,
        buffer_bytes: int | None = None,
    ) -> float:
        """Throughput in bytes/s of the loop ``openssl speed -evp CIPHER -bytes unit_bytes``
        runs (one key, no per-unit IV reset, in place), measured in this process.

        ``buffer_bytes`` defaults to one data unit, as ``openssl speed`` does (hot in L1).
        """
        spec = CipherSpec.parse(spec) if isinstance(spec, str) else spec
        if spec.algorithm == ALG_NULL:
            raise InvalidCipherSpecError("the null cipher has no OpenSSL ceiling")
        key = _random_key(spec)
        buf = bytearray(buffer_bytes or unit_bytes)
        units = len(buf) // unit_bytes
        if units == 0:
            raise ValueError("buffer_bytes must hold at least one unit")
        iterations = 16
        while True:  # calibrate to ~5 % of the budget, then run the rest
            elapsed = _native.ceiling(spec.algorithm, not decrypt, key, buf, unit_bytes, iterations)
            if elapsed >= seconds * 0.05 or iterations >= 1 << 40:
                break
            iterations *= 4
        iterations = max(1, int(iterations * seconds / max(elapsed, 1e-9)))
        elapsed = _native.ceiling(spec.algorithm, not decrypt, key, buf, unit_bytes, iterations)
        return iterations * units * unit_bytes / elapsed


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
_instances_lock = threading.Lock()


def get_engine(name: str | Engine = "auto") -> Engine:
    """The engine called ``name``: "native", "cryptography", or "auto" (native when built).

    Raises :class:`EngineUnavailableError` for "native" when the extension is missing (the
    message says why) and ``ValueError`` for unknown names.  ``.name`` tells what "auto" gave.
    """
    if isinstance(name, Engine):
        return name
    if name == "auto":
        name = "native" if _native is not None else "cryptography"
    classes = {"native": NativeEngine, "cryptography": CryptographyEngine}
    if name not in classes:
        raise ValueError(f"unknown engine {name!r}; valid: 'native', 'cryptography', 'auto'")
    if name == "native" and _native is None:
        raise EngineUnavailableError(f"native engine unavailable: {_NATIVE_REASON}")
    with _instances_lock:
        engine = _instances.get(name)
        if engine is None:
            engine = _instances[name] = classes[name]()
        return engine


def available_engines() -> list[str]:
    """Names of the engines usable in this process (cryptography always)."""
    return (["native"] if _native is not None else []) + ["cryptography"]


def time_engine(
    engine: Engine, spec: CipherSpec, batch_bytes: int = 1 << 20, seconds: float = 0.5,
    decrypt: bool = False, threads: int = 1,
) -> float:
    """Bytes/s of ``engine`` over ``batch_bytes`` batches for about ``seconds`` (a quick
    figure for the harness and the compare script; benchmarks use pytest-benchmark)."""
    key = _random_key(spec)
    src = bytearray(os.urandom(batch_bytes))
    dst = bytearray(batch_bytes)
    n = batch_bytes // spec.sector_size
    meta = bytearray(n * spec.metadata_size) if spec.is_aead else None
    engine.encrypt_sectors(spec, key, src, dst, 0, meta, threads)
    if decrypt:
        src, dst = dst, src
    call = engine.decrypt_sectors if decrypt else engine.encrypt_sectors
    done, t0 = 0, time.perf_counter()
    while True:
        call(spec, key, src, dst, 0, meta, threads)
        done += batch_bytes
        elapsed = time.perf_counter() - t0
        if elapsed >= seconds:
            return done / elapsed
