"""Where Intel IPP Crypto (``libippcp.so``) is found in the running environment.

The PyPI wheel ``ipp-crypto`` installs the library into the environment's ``lib/`` (its
``.data/data/lib`` directory), i.e. ``sys.prefix/lib``; a system install puts it on the
loader's path.  ``FARGATE_SIM_IPP_LIBRARY`` names a file explicitly and
``FARGATE_SIM_DISABLE_IPP=1`` turns the backend off.  Nothing here loads the library: the C
extension dlopen()s the path found (``_native.ipp_load``), after :func:`damaged` has checked
that the file holds every segment the loader will map (a truncated copy would otherwise be
mapped past its end and kill the process with SIGBUS on first touch).
"""

from __future__ import annotations

import ctypes.util
import os
import platform
import site
import struct
import sys
from pathlib import Path

LIBRARY_NAMES = ("libippcp.so", "libippcp.so.13")


def candidate_dirs() -> list[Path]:
    """Directories searched, in order: the environment's lib/ (venv, then base), the lib/
    beside every site-packages root, then LD_LIBRARY_PATH."""
    dirs: list[Path] = [Path(sys.prefix) / "lib", Path(sys.base_prefix) / "lib"]
    roots = list(site.getsitepackages()) if hasattr(site, "getsitepackages") else []
    user = site.getusersitepackages() if hasattr(site, "getusersitepackages") else None
    if user:
        roots.append(user)
    for root in roots:  # <prefix>/lib/pythonX.Y/site-packages -> <prefix>/lib
        dirs.append(Path(root).parent.parent)
    dirs += [Path(p) for p in os.environ.get("LD_LIBRARY_PATH", "").split(":") if p]
    seen: set[Path] = set()
    out = []
    for d in dirs:
        if d not in seen:
            seen.add(d)
            out.append(d)
    return out


_PT_LOAD = 1


def damaged(path: str) -> str | None:
    """Why the shared object at ``path`` cannot be mapped whole, or None when it can: not a
    64-bit little-endian ELF file, or a loadable segment reaching past the end of the file
    (a partial download or a disk that filled during the install)."""
    try:
        with open(path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            head = fh.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return f"{path} is not a 64-bit little-endian ELF shared object"
            phoff, = struct.unpack_from("<Q", head, 32)
            phentsize, phnum = struct.unpack_from("<HH", head, 54)
            if phentsize < 56 or phoff + phnum * phentsize > size:
                return f"{path} is truncated ({size:,} bytes: its program headers lie past the end)"
            fh.seek(phoff)
            table = fh.read(phnum * phentsize)
    except OSError as exc:
        return f"{path} cannot be read: {exc.strerror or exc}"
    for k in range(phnum):
        kind, _, offset, _, _, filesz = struct.unpack_from("<IIQQQQ", table, k * phentsize)
        if kind == _PT_LOAD and offset + filesz > size:
            return (f"{path} is truncated ({size:,} bytes; a loadable segment ends at byte "
                    f"{offset + filesz:,}): reinstall ipp-crypto")
    return None


def find_library() -> tuple[str | None, str]:
    """(path, note): the library to load, or None and a one-line reason why there is none."""
    if os.environ.get("FARGATE_SIM_DISABLE_IPP") == "1":
        return None, "disabled by FARGATE_SIM_DISABLE_IPP=1"
    explicit = os.environ.get("FARGATE_SIM_IPP_LIBRARY")
    if explicit:
        if Path(explicit).is_file():
            return explicit, f"FARGATE_SIM_IPP_LIBRARY={explicit}"
        return None, f"FARGATE_SIM_IPP_LIBRARY={explicit} is not a file"
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64"):
        return None, (f"IPP Crypto wheels exist for Linux x86-64 only "
                      f"(this is {sys.platform} {platform.machine()})")
    for d in candidate_dirs():
        for name in LIBRARY_NAMES:
            path = d / name
            if path.is_file():
                return str(path), f"found in {d}"
    found = ctypes.util.find_library("ippcp")  # the loader's own search (ldconfig cache)
    if found:
        return found, "found by the system loader"
    return None, ("libippcp.so not found (pip install ipp-crypto puts it in "
                  f"{Path(sys.prefix) / 'lib'})")
