"""What machine and software a run measured: CPU and its crypto flags, versions, git state.

Numbers from different machines, OpenSSL builds or commits are not comparable; meta.json
records enough to tell.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

#: CPU flags that decide cipher speed: AES-NI, vector AES and carry-less multiply (GCM, XTS
#: with VAES/AVX-512 since OpenSSL 3.1/3.5), AVX2/AVX-512 (ChaCha20), SHA extensions.
CRYPTO_FLAGS = ("aes", "vaes", "pclmulqdq", "vpclmulqdq", "avx", "avx2", "avx512f",
                "avx512bw", "avx512vl", "sha_ni", "gfni", "sse4_1", "ssse3")
PACKAGES = ("fargate-ephemeral-sim", "cryptography", "ipp-crypto", "numpy", "pandas",
            "pyarrow", "matplotlib", "tqdm", "botocore")
#: Recorded only where installed (the IPP Crypto headers: not needed to run, but a build
#: against them says which IPP it expected).
OPTIONAL_PACKAGES = ("ipp-crypto-include",)


#: The machine a row was measured on (the ``host`` column): ``FARGATE_SIM_HOST`` or the
#: host name.
HOST = os.environ.get("FARGATE_SIM_HOST") or platform.node() or "localhost"


def cpu_info(path: str = "/proc/cpuinfo") -> dict[str, Any]:
    """CPU model and the crypto-relevant flags from /proc/cpuinfo (empty off Linux)."""
    model, model_found = platform.processor() or "", False
    flags: set[str] = set()
    try:
        text = Path(path).read_text()
    except OSError:
        text = ""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and not model_found:
            model, model_found = value.strip(), True
        elif key in ("flags", "Features") and not flags:
            flags = set(value.split())
    return {
        "model": model,
        "crypto_flags": {f: f in flags for f in CRYPTO_FLAGS},
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
        else os.cpu_count(),
    }


def package_versions(names: tuple[str, ...] = PACKAGES,
                     optional: tuple[str, ...] = OPTIONAL_PACKAGES) -> dict[str, str | None]:
    """Installed versions of the packages that shape the numbers (None: not installed), then
    those of ``optional`` that are installed.  ``ipp-crypto`` is the wheel that brings
    ``libippcp.so``: the native-ipp backend's library (its own version is in
    ``openssl.engines``)."""
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    for name in optional:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    if out.get("fargate-ephemeral-sim") is None:
        from simulator import __version__

        out["fargate-ephemeral-sim"] = f"{__version__} (source tree)"
    return out


def git_state(cwd: str | Path | None = None) -> dict[str, Any]:
    """Commit and dirty flag of the source tree the package runs from (None outside git)."""
    cwd = Path(cwd) if cwd else Path(__file__).resolve().parents[2]

    def git(*args: str) -> str | None:
        try:
            p = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                               timeout=10)
        except (OSError, subprocess.SubprocessError):
            return None
        return p.stdout.strip() if p.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None,
            "describe": git("describe", "--always", "--dirty")}


def collect(argv: list[str] | None = None) -> dict[str, Any]:
    """Everything meta.json records about the machine and software (not the spec)."""
    import ssl

    from simulator.bench.ceiling import openssl_binary, openssl_version
    from simulator.bench.datapath import engine_versions

    return {
        "cpu": cpu_info(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "packages": package_versions(),
        "openssl": {
            "engines": engine_versions(),
            "binary": openssl_version(openssl_binary()),
            "python_ssl": ssl.OPENSSL_VERSION,
        },
        "git": git_state(),
        "command": argv if argv is not None else sys.argv,
        "cwd": os.getcwd(),
    }
