"""Where Intel IPP Crypto (``libippcp.so``) is found in the running environment.

The PyPI wheel ``ipp-crypto`` installs the library into the environment's ``lib/`` (its
``.data/data/lib`` directory), i.e. ``sys.prefix/lib``; a system install puts it on the
loader's path.  ``FARGATE_SIM_IPP_LIBRARY`` names a file explicitly and
``FARGATE_SIM_DISABLE_IPP=1`` (or true/yes/on) turns the backend off.  Nothing here loads the
library: the C extension dlopen()s the path found (``_native.ipp_load``), after :func:`damaged`
has checked that the file holds every segment the loader will map (a truncated copy would
otherwise be mapped past its end and kill the process with SIGBUS on first touch).  Every path
handed on is absolute, so that the file checked is the file loaded: a relative name would be
searched by dlopen() itself (unchecked), and the system loader's find gives only a soname.
"""

from __future__ import annotations

import ctypes.util
import os
import platform
import site
import struct
import subprocess
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
    for d in (Path(os.path.abspath(d)) for d in dirs):  # "." and the like: from the cwd
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


#: run in a child: load the library, resolve and call its version function (a file damaged
#: past what damaged() reads, such as a garbled body under sound headers, crashes the child)
_PROBE = ("import ctypes, sys\n"
          "lib = ctypes.CDLL(sys.argv[1])\n"
          "lib.ippcpInit()\n"
          "lib.ippcpGetLibVersion.restype = ctypes.c_void_p\n"
          "assert lib.ippcpGetLibVersion()\n"
          "for name in ('ippsAES_XTSEncrypt', 'ippsAES_GCMStart'):\n"
          "    getattr(lib, name)\n")


def unloadable(path: str) -> str | None:
    """Why loading ``path`` would fail or crash, found by loading it in a child process
    first (about 20 ms), or None when it loads.  A child that cannot be started is no
    verdict (None): the checks of damaged() still stand."""
    try:
        child = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE, path],
                               capture_output=True, text=True, timeout=30, check=False)
    except subprocess.TimeoutExpired:
        return f"{path} did not load within 30 s in a test process"
    except OSError:
        return None
    if child.returncode == 0:
        return None
    if child.returncode < 0:
        return f"{path} crashed a test process that loaded it (signal {-child.returncode})"
    last = (child.stderr.strip().splitlines() or ["no message"])[-1]
    return f"{path} cannot be loaded: {last}"


_TRUE = ("1", "true", "yes", "on")


def _loader_path(soname: str) -> str | None:
    """The file behind a soname in the loader's cache (``ldconfig -p``), or None."""
    for tool in ("/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"):
        try:
            out = subprocess.run([tool, "-p"], capture_output=True, text=True, timeout=10,
                                 check=False).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        for line in out.splitlines():  # "libippcp.so.13 (libc6,x86-64) => /path"
            name, _, target = line.strip().partition(" => ")
            if name.split(" (")[0] == soname and "x86-64" in name and os.path.isabs(target):
                return target
    return None


def find_library() -> tuple[str | None, str]:
    """(path, note): the library to load (an absolute path), or None and a one-line reason
    why there is none."""
    flag = os.environ.get("FARGATE_SIM_DISABLE_IPP", "")
    if flag.strip().lower() in _TRUE:
        return None, f"disabled by FARGATE_SIM_DISABLE_IPP={flag}"
    explicit = os.environ.get("FARGATE_SIM_IPP_LIBRARY")
    if explicit:
        if Path(explicit).is_file():
            return os.path.abspath(explicit), f"FARGATE_SIM_IPP_LIBRARY={explicit}"
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
        file = found if os.path.isabs(found) else _loader_path(found)
        if file is None:  # dlopen() would load a file nobody checked: better none
            return None, f"the system loader knows {found} but not its file, to check it"
        return file, "found by the system loader"
    return None, ("libippcp.so not found (pip install ipp-crypto puts it in "
                  f"{Path(sys.prefix) / 'lib'})")
