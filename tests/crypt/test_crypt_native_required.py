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
    assert get_engine("native-openssl").name == "native-openssl"
    assert get_engine("auto").name == "native"
    for spec in ("aes-xts-plain64", "aes-gcm-random", "chacha20-poly1305-random"):
        assert get_engine("auto").engine_for(spec).name.startswith("native-")
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


def test_missing_ipp_is_a_note_and_a_fallback():
    """Without IPP Crypto (FARGATE_SIM_DISABLE_IPP=1, or a path that is not a library) the
    process runs on OpenSSL; the reason is one line, never an error."""
    code = (
        "import warnings; warnings.simplefilter('error');"
        "from simulator.crypt import get_engine, ipp_available, ipp_unavailable_reason,"
        " available_engines;"
        "print(ipp_available(), 'native-ipp' in available_engines(),"
        " get_engine('auto').engine_for('aes-gcm-random').name);"
        "print(ipp_unavailable_reason())"
    )
    for env in ({"FARGATE_SIM_DISABLE_IPP": "1"}, {"FARGATE_SIM_IPP_LIBRARY": sys.executable}):
        out = subprocess.run(
            [sys.executable, "-c", code], env=dict(os.environ, **env), capture_output=True,
            text=True, check=True,
        ).stdout.splitlines()
        first = out[0].split()
        assert first[:2] == ["False", "False"]
        assert first[2] in ("native-openssl", "cryptography")
        assert len(out) == 2 and out[1] and "\n" not in out[1]


def test_ipp_backend_loads_where_installed():
    """Where the ipp-crypto wheel is installed (Linux x86-64) the IPP backend loads, passes
    its self-test and says which code path it dispatched; elsewhere this says why not."""
    from simulator.crypt import available_engines, ipp_available, ipp_unavailable_reason

    if not ipp_available():
        pytest.skip(f"IPP Crypto backend unavailable: {ipp_unavailable_reason()}")
    assert "native-ipp" in available_engines()
    info = get_engine("native-ipp").describe()
    assert info["code_path"] and "IPP" in info["library"]
    assert ipp_unavailable_reason() is None
