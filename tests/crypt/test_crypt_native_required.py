"""CI sets FARGATE_SIM_REQUIRE_NATIVE=1: then a missing native engine is a failure, not a skip."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from simulator.crypt import get_engine, native_available, native_unavailable_reason


def test_native_engine_present_when_required():
    required = os.environ.get("FARGATE_SIM_REQUIRE_NATIVE") == "1"
    if required:
        why = native_unavailable_reason()
        assert native_available(), f"FARGATE_SIM_REQUIRE_NATIVE=1 but: {why}"
    elif not native_available():
        pytest.skip(f"native engine not built: {native_unavailable_reason()}")
    assert get_engine("auto").name == "native"
    assert native_unavailable_reason() is None


def test_disable_switch_gives_the_portable_engine():
    """FARGATE_SIM_DISABLE_NATIVE=1 (a fresh process) behaves as if the build had failed."""
    code = (
        "from simulator.crypt import get_engine, native_available, native_unavailable_reason;"
        "print(native_available(), get_engine('auto').name, native_unavailable_reason())"
    )
    env = dict(os.environ, FARGATE_SIM_DISABLE_NATIVE="1")
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout
    assert out.startswith("False cryptography disabled by FARGATE_SIM_DISABLE_NATIVE=1")
