"""Build hook for the optional native engine; everything else lives in pyproject.toml.

`simulator.crypt._native` links the system libcrypto (OpenSSL >= 3.0).  When it cannot be built
(no compiler, no OpenSSL headers) the install still succeeds with a warning and the portable
`cryptography` engine is used (`simulator.crypt.native_available()` says why).
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

NATIVE = Extension(
    "simulator.crypt._native",
    sources=["simulator/crypt/_native.c"],
    libraries=["crypto", "dl"],  # libdl: IPP Crypto is dlopen()ed at run time
    extra_compile_args=["-std=c11", "-D_POSIX_C_SOURCE=200809L", "-pthread"],
    extra_link_args=["-pthread"],
)

WARNING = """
********************************************************************************
WARNING: the native OpenSSL engine (simulator.crypt._native) was not built:
  {error}
The simulator still works with the portable `cryptography` engine, which is much
slower for per-sector AES-XTS. To get the native engine install a C compiler and
the OpenSSL >= 3.0 development headers (e.g. `apt-get install gcc libssl-dev`)
and reinstall. Set FARGATE_SIM_REQUIRE_NATIVE=1 to make the tests insist on it.
********************************************************************************
"""


def _required() -> bool:
    """CI sets FARGATE_SIM_REQUIRE_NATIVE=1: then a failed native build fails the install."""
    return os.environ.get("FARGATE_SIM_REQUIRE_NATIVE") == "1"


class OptionalBuildExt(build_ext):
    """build_ext that warns instead of failing when the native engine cannot be built."""

    def run(self) -> None:
        try:
            super().run()
        except Exception as exc:  # no compiler at all: DistutilsPlatformError and friends
            if _required():
                raise
            self._warn(exc)

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception as exc:  # CompileError, LinkError, missing headers
            if _required():
                raise
            self._warn(exc)

    @staticmethod
    def _warn(exc: BaseException) -> None:
        sys.stderr.write(WARNING.format(error=f"{type(exc).__name__}: {exc}"))


setup(ext_modules=[NATIVE], cmdclass={"build_ext": OptionalBuildExt})
