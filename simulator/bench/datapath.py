"""The data path the runners measure, behind one seam so tests can inject a fake.

The real one is ``simulator.crypt`` (CipherSpec, engines, EncryptedVolume, the native ceiling
loop) and ``simulator.fargate.storage`` for the df model; :func:`default_datapath` imports them
lazily so the harness itself imports without them.
"""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class DataPath:
    """Factories for cipher specs, engines and volumes, plus the native ceiling loop."""

    cipher_spec: Callable[[str, int, int], Any]
    get_engine: Callable[[str], Any]
    volume: Callable[[int, Any, bytes, str], Any] | None = None
    native_ceiling: Callable[[Any, int, float, bool], float] | None = None
    engine_problems: Callable[[], dict[str, str | None]] = field(default=lambda: {})
    versions: Callable[[], dict[str, str]] = field(default=lambda: {})
    storage: Callable[..., Any] | None = None

    def key_for(self, spec: Any) -> bytes:
        """A random key of the spec's length (XTS halves differ, as OpenSSL requires)."""
        n = int(getattr(spec, "key_bytes", getattr(spec, "key_bits", 0) // 8))
        while True:
            key = os.urandom(n)
            if n < 2 or key[: n // 2] != key[n // 2 :]:
                return key

    def check_engine(self, name: str) -> str | None:
        """Why engine ``name`` cannot run here, or None when it can."""
        return self.engine_problems().get(name)


def default_datapath() -> DataPath:
    """The real data path: simulator.crypt (and simulator.fargate.storage when present)."""
    crypt = importlib.import_module("simulator.crypt")

    def cipher_spec(name: str, key_bits: int, sector_size: int) -> Any:
        return crypt.CipherSpec.parse(name, key_bits=key_bits or None, sector_size=sector_size)

    def engine_problems() -> dict[str, str | None]:
        native_ok = getattr(crypt, "native_available", lambda: True)()
        reason = getattr(crypt, "native_unavailable_reason", None)
        why = None if native_ok else (reason() if callable(reason) else "not built")
        return {"native": why, "cryptography": None, "auto": None}

    storage = None
    with contextlib.suppress(ImportError, AttributeError):
        storage = importlib.import_module("simulator.fargate.storage").EphemeralStorage
    return DataPath(
        cipher_spec=cipher_spec,
        get_engine=crypt.get_engine,
        volume=getattr(crypt, "EncryptedVolume", None),
        native_ceiling=_native_ceiling(),
        engine_problems=engine_problems,
        versions=engine_versions,
        storage=storage,
    )


def _native_ceiling() -> Callable[[Any, int, float, bool], float] | None:
    """The native engine's whole-buffer loop (as ``openssl speed -evp``), if it is built."""
    crypt = importlib.import_module("simulator.crypt")
    if not getattr(crypt, "native_available", lambda: False)():
        return None

    def run(spec: Any, unit: int, seconds: float, decrypt: bool) -> float:
        engine = crypt.get_engine("native")
        return float(engine.ceiling(spec, unit_bytes=unit, seconds=seconds, decrypt=decrypt))

    return run


def engine_versions() -> dict[str, str]:
    """The OpenSSL behind each engine: native (system libcrypto), cryptography (its own)."""
    out: dict[str, str] = {}
    try:
        crypt = importlib.import_module("simulator.crypt")
    except ImportError:
        return out
    for name in ("native", "cryptography"):
        try:
            out[name] = str(crypt.get_engine(name).openssl_version)
        except Exception as exc:  # EngineUnavailableError and friends: say why
            out[name] = f"unavailable: {exc}"
    return out
