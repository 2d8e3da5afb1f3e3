"""What `fargate-sim bench` and meta.json say about the engine: what was asked ("auto", not
the selector's name "native"), each library next to its own version, the backend chosen per
cipher, and the IPP Crypto distribution among the packages."""

from __future__ import annotations

import json
import re
from importlib import metadata
from typing import Any

import pytest

from simulator.bench.datapath import describe_engine, engine_versions
from simulator.bench.env import package_versions
from simulator.cli import main
from simulator.cli.run import _engine_heading


class _Backend:
    def __init__(self, name: str, library: str, version: str, path: str) -> None:
        self.name, self._d = name, {"engine": name, "library": library, "version": version,
                                    "code_path": path}

    def describe(self) -> dict[str, str]:
        return dict(self._d)


_BACKENDS = {"native-ipp": _Backend("native-ipp", "Intel IPP Crypto (/x/libippcp.so)",
                                    "2.3.0 (13.3)", "k1"),
             "native-openssl": _Backend("native-openssl", "OpenSSL libcrypto (system)",
                                        "OpenSSL 3.0.19", "aesni+vaes")}


class _Selector:
    name = "native"

    def describe(self) -> dict[str, str]:
        return {"engine": "native", "library": "Intel IPP Crypto (/x/libippcp.so) | OpenSSL "
                "libcrypto (system)", "version": "2.3.0 (13.3) | OpenSSL 3.0.19",
                "code_path": "k1 | aesni+vaes", "candidates": "native-ipp, native-openssl",
                "choices": "aes-xts-plain64:512:4096 -> native-ipp"}


def test_auto_is_described_as_asked_with_each_library_beside_its_version() -> None:
    d = describe_engine(_Selector(), "auto", _BACKENDS.__getitem__)
    assert d["engine"] == "auto" and d["resolves_to"] == "native"
    assert d["backends"] == ("native-ipp = Intel IPP Crypto (/x/libippcp.so) 2.3.0 (13.3) [k1]; "
                             "native-openssl = OpenSSL libcrypto (system) OpenSSL 3.0.19 "
                             "[aesni+vaes]")
    heading = _engine_heading(d)
    assert heading.startswith("engine auto (per cipher the fastest of: native-ipp = Intel IPP")
    assert " | " not in heading  # never the libraries joined, then the versions joined
    # a backend asked by name: its own library and version
    one = describe_engine(_BACKENDS["native-openssl"], "native-openssl")
    assert _engine_heading(one) == ("engine native-openssl (OpenSSL libcrypto (system) "
                                    "OpenSSL 3.0.19)")
    assert "resolves_to" not in one
    # auto where nothing native loads: it is the portable engine
    alone = describe_engine(_Backend("cryptography", "pyca/cryptography 1 (bundled OpenSSL)",
                                     "OpenSSL 4", "loop"), "auto")
    assert _engine_heading(alone) == ("engine auto = cryptography (pyca/cryptography 1 "
                                      "(bundled OpenSSL) OpenSSL 4)")


def _header(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("# fargate-sim bench:"))


def test_bench_header_and_json_report_auto_and_what_it_chose(
        capsys: pytest.CaptureFixture) -> None:
    from simulator.crypt import get_engine

    assert main(["bench", "--seconds", "0.02", "--repeat", "2", "-c", "aes-xts-plain64"]) == 0
    header = _header(capsys.readouterr().out)
    assert header.startswith("# fargate-sim bench: engine auto ")
    assert " | " not in header
    for name in get_engine("auto").describe()["candidates"].split(", "):
        d = get_engine(name).describe()
        assert f"{name} = {d['library']} {d['version']} [{d['code_path']}]" in header
    assert main(["bench", "--seconds", "0.02", "--repeat", "2", "-c", "aes-xts-plain64",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]
    assert doc["engine"]["engine"] == "auto"
    assert doc["engine"]["chosen"] == {"aes-xts-plain64:512": row["engine"]}
    assert row["engine"] in ("native-ipp", "native-openssl")


def test_meta_names_auto_as_asked_and_the_ipp_distribution() -> None:
    engines = engine_versions()
    assert engines["auto"]["engine"] == "auto"
    assert re.fullmatch(r"(native|cryptography)", engines["auto"].get("resolves_to", "native"))
    packages = package_versions()
    assert "ipp-crypto" in packages  # None where the wheel is not installed
    try:
        assert packages["ipp-crypto"] == metadata.version("ipp-crypto")
    except metadata.PackageNotFoundError:
        assert packages["ipp-crypto"] is None


def test_optional_packages_are_listed_only_where_installed() -> None:
    got = package_versions((), ("numpy", "no-such-distribution-xyz"))
    assert got.get("numpy") == metadata.version("numpy")
    assert "no-such-distribution-xyz" not in got


def test_run_meta_lists_the_ipp_distribution(tmp_path: Any) -> None:
    from simulator.bench import load_run, run_experiment
    from tests.harness.conftest import fake_datapath, tiny_spec

    spec = tiny_spec(tmp_path, sectors="4096")
    meta = load_run(run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(),
                                   plots=False).path).meta
    assert "ipp-crypto" in meta["env"]["packages"]
    assert meta["env"]["openssl"]["engines"]["auto"]["engine"] == "auto"


# ------------------------------------------------- an engine this machine lacks: a note


@pytest.fixture
def fresh_engines(monkeypatch: pytest.MonkeyPatch):
    from simulator.crypt import engines

    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})
    return engines


def _notes(out: str) -> list[str]:
    # the notes under the header; not the table's own lines, nor a CONTENDED warning when
    # the machine is shared
    skip = ("# Tests are", "# fargate-sim bench:", "# each figure", "#     Algorithm",
            "# CONTENDED", "# N/A")
    return [line for line in out.splitlines()
            if line.startswith("# ") and not line.startswith(skip)]


def test_bench_of_native_ipp_without_ipp_notes_it_once_and_runs_auto(
        fresh_engines: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", "1")
    assert main(["bench", "--engine", "native-ipp", "--seconds", "0.02", "--repeat", "2",
                 "-c", "aes-xts-plain64"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert _notes(captured.out) == [
        "# --engine native-ipp: IPP Crypto unavailable: disabled by FARGATE_SIM_DISABLE_IPP=1;"
        " running auto instead (each row names the backend that ran it)"]
    assert captured.out.count("unavailable") == 1
    assert _header(captured.out).startswith("# fargate-sim bench: engine auto ")
    assert "[native-openssl, " in captured.out
    assert main(["bench", "--engine", "native-ipp", "--seconds", "0.02", "--repeat", "2",
                 "-c", "aes-xts-plain64", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["engine_asked"] == "native-ipp" and doc["engine"]["engine"] == "auto"
    assert doc["rows"][0]["engine"] == "native-openssl" and len(doc["notes"]) == 1


def test_bench_with_the_native_engine_disabled_says_what_was_disabled(
        fresh_engines: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(fresh_engines, "_native", None)
    monkeypatch.setattr(fresh_engines, "_NATIVE_REASON", "disabled by FARGATE_SIM_DISABLE_NATIVE=1")
    args = ["--seconds", "0.02", "--repeat", "2", "-c", "aes-xts-plain64"]
    assert main(["bench", *args]) == 0
    out = capsys.readouterr().out
    assert _notes(out) == ["# native engine disabled by FARGATE_SIM_DISABLE_NATIVE=1"]
    assert "[cryptography, " in out
    assert main(["bench", "--engine", "native-openssl", *args]) == 0
    out = capsys.readouterr().out
    assert _notes(out) == ["# --engine native-openssl: native engine disabled by "
                           "FARGATE_SIM_DISABLE_NATIVE=1; running auto instead (each row "
                           "names the backend that ran it)"]
    assert "[cryptography, " in out


def test_an_engine_name_that_means_nothing_is_still_an_error(
        capsys: pytest.CaptureFixture) -> None:
    from simulator.bench.datapath import default_datapath
    from simulator.cli.run import bench_engine

    with pytest.raises(ValueError, match="engine 'nosuch': unknown engine"):
        bench_engine("nosuch", default_datapath())
    with pytest.raises(SystemExit):
        main(["bench", "--engine", "nosuch"])
    assert "invalid choice: 'nosuch'" in capsys.readouterr().err
