"""The data path the runners measure, behind one seam so tests can inject a fake.

The real one, :func:`default_datapath`, is ``simulator.crypt`` (CipherSpec, engines,
EncryptedVolume, each native engine's ceiling loop) and ``simulator.fargate.storage`` for the
df model.

Engine names: ``native-ipp`` (Intel IPP Crypto), ``native-openssl`` (the system libcrypto's
EVP), ``cryptography`` (pyca/cryptography's bundled OpenSSL), and ``native`` / ``auto`` as
simulator.crypt resolves them.  :func:`describe_engine` is the one place that copes with an
engine that cannot describe itself.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from simulator import crypt
from simulator.fargate.storage import EphemeralStorage

#: Every engine name a spec may use; which of them run here is the data path's to say.
ENGINE_NAMES = ("native-ipp", "native-openssl", "cryptography", "native", "auto")


@dataclass
class DataPath:
    """Factories for cipher specs, engines and volumes, plus the ceiling sources."""

    cipher_spec: Callable[[str, int, int], Any]
    get_engine: Callable[[str], Any]
    volume: Callable[[int, Any, bytes, str], Any] | None = None
    #: Native engines' own loops: name -> (engine, describe dict); each has ``ceiling``.
    loops: Callable[[], dict[str, tuple[Any, dict[str, str]]]] = field(default=lambda: {})
    engine_problems: Callable[[], dict[str, str | None]] = field(default=lambda: {})
    versions: Callable[[], dict[str, Any]] = field(default=lambda: {})
    storage: Callable[..., Any] | None = None
    #: One line per part of the data path this machine lacks (the native extension, IPP
    #: Crypto) saying what and why: a note in run metadata and ``bench``, never an error.
    notes: Callable[[], list[str]] = field(default=lambda: [])

    def key_for(self, spec: Any) -> bytes:
        """A random key of the spec's length (XTS halves differ, as OpenSSL requires)."""
        n = int(getattr(spec, "key_bytes", getattr(spec, "key_bits", 0) // 8))
        while True:
            key = os.urandom(n)
            if n < 2 or key[: n // 2] != key[n // 2 :]:
                return key

    def knows_engine(self, name: str) -> bool:
        """Whether ``name`` names an engine at all (available here or not)."""
        return name in ENGINE_NAMES or name in self.engine_problems()

    def check_engine(self, name: str) -> str | None:
        """Why engine ``name`` cannot run here, or None when it can."""
        problems = self.engine_problems()
        if name not in problems and name not in ENGINE_NAMES:
            return f"unknown engine (known: {', '.join(ENGINE_NAMES)})"
        return problems.get(name)


def describe_engine(engine: Any, name: str = "",
                    get_engine: Callable[[str], Any] | None = None) -> dict[str, str]:
    """``engine.describe()`` (engine, library, version, code_path), or the same built from
    what an older engine exposes.

    ``engine`` is ``name`` as asked: ``auto`` is the ``native`` selector where a native
    backend loads (``cryptography`` where none does), and the selector's own name goes in
    ``resolves_to``.  A selector's library, version and code path are its candidates',
    joined by " | " in order; with ``get_engine`` (name -> engine), ``backends`` pairs each
    candidate with its own library, version and code path."""
    describe = getattr(engine, "describe", None)
    if callable(describe):
        d = {str(k): str(v) for k, v in describe().items()}
        own = d.get("engine") or str(getattr(engine, "name", "") or name or "?")
        d["engine"] = name or own
        if name and own != name:
            d["resolves_to"] = own
        if get_engine is not None and d.get("candidates"):
            d["backends"] = candidate_libraries(d["candidates"], get_engine)
        return d
    ename = str(getattr(engine, "name", name or "?"))
    version = str(getattr(engine, "openssl_version", ""))
    if ename == "cryptography":
        lib, path = "pyca/cryptography (bundled OpenSSL)", "per-sector Cipher/AEAD calls"
    else:
        lib = "OpenSSL libcrypto (system)"
        path = f"C loop over EVP (xts: {getattr(engine, 'xts_path', 'evp')})"
    return {"engine": name or ename, "library": lib, "version": version, "code_path": path}


def candidate_libraries(candidates: str, get_engine: Callable[[str], Any]) -> str:
    """"native-ipp = Intel IPP Crypto (...) 2.3.0 [k1]; native-openssl = OpenSSL libcrypto
    (system) OpenSSL 3.0.19 [aesni+...]": each of a selector's candidates (a comma-separated
    list of backend names) next to its own library, version and code path."""
    parts = []
    for name in (n.strip() for n in candidates.split(",")):
        if not name:
            continue
        try:
            d = describe_engine(get_engine(name))
        except Exception as exc:  # a candidate gone since: say so in its place
            parts.append(f"{name} = unavailable ({exc})")
            continue
        parts.append(f"{name} = {d.get('library', '?')} {d.get('version', '?')}"
                     f" [{d.get('code_path', '?')}]")
    return "; ".join(parts)


def backend_description(engine: Any, spec: Any) -> dict[str, str]:
    """What runs ``spec`` on ``engine``, as :func:`describe_engine` gives it (engine, library,
    version, code_path): a selecting engine's (``auto``, ``native``) backend for the spec,
    else the engine itself.  ``engine.name`` of ``auto`` is the selector ("native"), not
    the library that ran the cipher."""
    chosen = getattr(engine, "engine_for", None)
    backend = chosen(spec) if callable(chosen) else engine
    return describe_engine(backend)


#: The columns a rated runner's rows name their backend with (from backend_description).
PROVENANCE = {"engine_impl": "engine", "library": "library", "library_version": "version",
              "code_path": "code_path"}


def provenance(engine: Any, spec: Any) -> dict[str, str]:
    """The PROVENANCE columns of a row measured with ``spec`` on ``engine``."""
    d = backend_description(engine, spec)
    return {col: d.get(key, "") for col, key in PROVENANCE.items()}


def threads_used(engine: Any, spec: Any, nbytes: int, threads: int) -> int:
    """How many threads a batch of ``nbytes`` bound with ``threads`` really runs on.

    The data path splits a batch only where it pays (native: a worker per 128 KiB share;
    ``cryptography``: always the calling thread), and ``engine.threads_used`` says so; CPU per
    thread and cycles per byte per thread are divided by these, not by the threads asked for
    (a 64 KiB batch asked to use two threads runs on one: per two threads it read as half a
    CPU each, CONTENDED on a quiet machine).  An engine without the method gets ``threads``.
    """
    threads = max(1, int(threads))
    ask = getattr(engine, "threads_used", None)
    if not callable(ask):
        return threads
    return max(1, min(threads, int(ask(spec, nbytes, threads))))


def default_datapath() -> DataPath:
    """The real data path: simulator.crypt, and simulator.fargate.storage's df model."""

    def get_engine(name: str) -> Any:
        return crypt.get_engine(name)

    def cipher_spec(name: str, key_bits: int, sector_size: int) -> Any:
        return crypt.CipherSpec.parse(name, key_bits=key_bits or None, sector_size=sector_size)

    def engine_problems() -> dict[str, str | None]:
        # the engines' own one-line reasons ("IPP Crypto unavailable: ..."), not get_engine's
        # error, which wraps them in "engine 'NAME' unavailable: " (a note said it twice)
        return {name: crypt.engine_unavailable_reason(name) for name in ENGINE_NAMES}

    def loops() -> dict[str, tuple[Any, dict[str, str]]]:
        out: dict[str, tuple[Any, dict[str, str]]] = {}
        seen: set[int] = set()
        for name in ("native-ipp", "native-openssl", "native"):
            if name == "native" and out:  # "native" selects one of the backends above
                continue
            with contextlib.suppress(Exception):
                engine = get_engine(name)
                if id(engine) not in seen and callable(getattr(engine, "ceiling", None)):
                    seen.add(id(engine))
                    out[name] = (engine, describe_engine(engine, name))
        return out

    return DataPath(
        cipher_spec=cipher_spec,
        get_engine=get_engine,
        volume=crypt.EncryptedVolume,
        loops=loops,
        engine_problems=engine_problems,
        versions=engine_versions,
        storage=EphemeralStorage,
        notes=missing_notes,
    )


def missing_notes() -> list[str]:
    """What of the real data path is missing here and why, one line each: "native engine
    disabled by FARGATE_SIM_DISABLE_NATIVE=1" (the extension, so both native backends),
    "IPP Crypto unavailable: libippcp.so not found (...)", "native-openssl disabled:
    known-answer self-test failed: ...".  Empty where everything loads."""
    openssl = crypt.engine_unavailable_reason("native-openssl")
    ipp = crypt.engine_unavailable_reason("native-ipp")
    if openssl is not None and openssl == ipp:  # the extension itself: one reason for both
        return [native_note(openssl)]
    return [why for why in (ipp, openssl) if why]


def native_note(why: str) -> str:
    """The extension's reason (``crypt.native_unavailable_reason()``, e.g. "disabled by
    FARGATE_SIM_DISABLE_NATIVE=1") as a line that says what was disabled."""
    if why.startswith("native"):
        return why
    return f"native engine {why}" if why.startswith("disabled by") else \
        f"native engine unavailable: {why}"


def engine_versions() -> dict[str, Any]:
    """What is behind each engine name here: describe() per engine, or why it cannot run."""
    out: dict[str, Any] = {}
    dp = default_datapath()
    for name in ENGINE_NAMES:
        try:
            out[name] = describe_engine(dp.get_engine(name), name, dp.get_engine)
        except Exception as exc:  # EngineUnavailableError and friends: say why
            out[name] = f"unavailable: {exc}"
    return out
