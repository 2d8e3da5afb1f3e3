"""The benchmark scripts under tests/benchmarks skip an engine this machine lacks with one line
naming it and why (no traceback): exit 0 when anything ran, 2 when nothing could; and the
README lists vectored_io.py beside compare_backends.py."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
IPP_OFF = "IPP Crypto unavailable: disabled by FARGATE_SIM_DISABLE_IPP=1"


def _script(name: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(ROOT / "tests" / "benchmarks" / name), *args],
                          capture_output=True, text=True, timeout=120, cwd=ROOT,
                          env={**os.environ, **env})


def test_vectored_io_without_ipp_says_so_and_exits_2() -> None:
    p = _script("vectored_io.py", "--engines", "native-ipp", FARGATE_SIM_DISABLE_IPP="1")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr and "EngineUnavailableError" not in p.stderr
    assert [line for line in p.stdout.splitlines() if "native-ipp" in line] == [
        f"native-ipp skipped: {IPP_OFF}"]


@pytest.fixture
def no_ipp(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.crypt import engines

    monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", "1")
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})


def test_vectored_io_skips_the_missing_engine_and_runs_the_others(
        no_ipp: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from tests.benchmarks import vectored_io

    ran: list[str] = []
    keys = ("writev", "w256 hot", "w256 cold", "adjacent", "same 64", "readv", "readintov",
            "r256 cold", "writev 4M", "w256 4M")

    def measure(engine: str, text: str, repeat: int) -> dict[str, Any]:
        ran.append(engine)  # the 4 GiB volumes are not the point here
        return dict.fromkeys(keys, 1e9)

    monkeypatch.setattr(vectored_io, "measure", measure)
    assert vectored_io.main(["--engines", "native-ipp,native-openssl", "--ciphers",
                             "aes-xts-plain64:512", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    assert ran == ["native-openssl"]
    assert f"native-ipp skipped: {IPP_OFF}" in out.splitlines()
    assert any(line.startswith("native-openssl  aes-xts-plain64:512") for line in out.splitlines())


def test_datapath_ratios_without_ipp_says_so_and_exits_2() -> None:
    p = _script("datapath_ratios.py", "--rounds", "1", FARGATE_SIM_DISABLE_IPP="1")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert [line for line in p.stdout.splitlines() if "native-ipp" in line] == [
        f"native-ipp skipped: {IPP_OFF}; every table here measures it, nothing to measure"]


def test_compare_backends_without_a_native_backend_says_what_was_disabled() -> None:
    p = _script("compare_backends.py", "--quick", FARGATE_SIM_DISABLE_NATIVE="1")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stdout.splitlines() == ["nothing to measure: no native backend: native engine "
                                     "disabled by FARGATE_SIM_DISABLE_NATIVE=1"]


def test_readme_lists_vectored_io_beside_compare_backends() -> None:
    text = (ROOT / "README.md").read_text()
    block = text.split("python tests/benchmarks/compare_backends.py --seconds", 1)[1]
    block = block.split("```", 1)[0]
    (line,) = [ln for ln in block.splitlines() if "tests/benchmarks/vectored_io.py" in ln]
    assert line.startswith("python tests/benchmarks/vectored_io.py")
    what = line.split("#", 1)[1]
    for words in ("writev", "readv", "64 scattered 4 KiB", "256 KiB", "thread CPU time"):
        assert words in what, words


def test_vectored_io_sizes_sweep_prints_a_row_per_store_size() -> None:
    """--sizes: writev of 64 scattered 4 KiB pieces against one 256 KiB write, per store size
    (the issue's writev figure, where the pieces leave the caches)."""
    p = _script("vectored_io.py", "--engines", "cryptography", "--ciphers",
                "aes-xts-plain64:512", "--sizes", "1,2", "--repeat", "1")
    assert p.returncode == 0, p.stderr
    rows = [line.split() for line in p.stdout.splitlines() if line.startswith("cryptography")]
    assert [r[2] for r in rows] == ["1", "2"] and all(len(r) == 8 for r in rows)
    assert all(float(r[3]) > 0 and float(r[5]) > 0 for r in rows)
