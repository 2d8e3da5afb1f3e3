"""Every result names what ran it: the backend that ran the cell's cipher (for ``auto`` and
``native``, the one chosen for that cipher, not the selector's name), its library, version and
CPU code path, per row and in meta.json, where the engines' descriptions are taken again once
the cells have run (``auto``'s choices are made on first use)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulator.bench import load_run, run_experiment
from simulator.bench.spec import parse_spec_text
from simulator.crypt import CipherSpec, get_engine
from tests.harness.conftest import FakeEngine, fake_datapath, tiny_spec


class Chosen(FakeEngine):
    name = "native-ipp"

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "library": "Intel IPP Crypto (fake)", "version": "2099.1",
                "code_path": "k1"}


class Selector(FakeEngine):
    """As ``auto``: named after the selector, a backend per cipher (engine_for)."""

    name = "native"

    def __init__(self) -> None:
        super().__init__()
        self.chosen = Chosen()

    def engine_for(self, spec: Any) -> FakeEngine:
        return self.chosen

    def describe(self) -> dict[str, str]:
        return {"engine": self.name, "library": "a | b", "version": "1 | 2",
                "code_path": "x | y", "choices": "none yet (chosen per cipher on first use)"}


def test_a_selecting_engine_s_cells_name_the_backend_it_chose(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, sectors="4096")
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(Selector()),
                            plots=False)
    run = load_run(result.path)
    assert set(run.rows["engine"]) == {"auto"}
    assert set(run.rows["engine_impl"]) == {"native-ipp"}  # not the selector's "native"
    assert set(run.rows["library"]) == {"Intel IPP Crypto (fake)"}
    assert set(run.rows["library_version"]) == {"2099.1"}
    assert set(run.rows["code_path"]) == {"k1"}
    assert set(run.summary["engine_impl"]) == {"native-ipp"}
    assert set(run.summary["library_version"]) == {"2099.1"}
    backends = run.meta["backends"]
    assert {(b["engine"], b["cipher"], b["backend"], b["version"], b["code_path"])
            for b in backends} == {("auto", c, "native-ipp", "2099.1", "k1")
                                   for c in ("null", "aes-xts-plain64", "aes-gcm-random")}


REAL = """
name = "prov"
kind = "throughput"
[measure]
warmup = 0.0
repetitions = 2
min_time = 0.002
ceiling = "none"
[grid]
cipher = [{ name = "aes-xts-plain64", key_bits = 256 }]
sector_size = 512
batch = "64k"
engine = ["auto", "native", "cryptography"]
op = ["encrypt"]
"""


def test_real_auto_and_native_cells_record_the_backend_and_meta_says_what_ran(
        tmp_path: Path) -> None:
    spec = parse_spec_text(REAL, path=tmp_path / "prov.toml")
    result = run_experiment(spec, out=tmp_path / "r", plots=False)
    run = load_run(result.path)
    xts = CipherSpec.parse("aes-xts-plain64", key_bits=256, sector_size=512)
    for name in ("auto", "native"):
        want = get_engine(name).engine_for(xts).describe()  # type: ignore[attr-defined]
        rows = run.rows[(run.rows["engine"] == name) & (run.rows["cipher"] != "null")]
        assert len(rows)
        assert set(rows["engine_impl"]) == {want["engine"]}
        assert want["engine"] in ("native-ipp", "native-openssl")
        assert set(rows["library"]) == {want["library"]}
        assert set(rows["library_version"]) == {want["version"]}
        assert set(rows["code_path"]) == {want["code_path"]}
    assert set(run.rows.loc[run.rows["engine"] == "cryptography", "engine_impl"]) == {
        "cryptography"}
    meta = json.loads((result.path / "meta.json").read_text())
    engines = meta["env"]["openssl"]["engines"]
    for name in ("auto", "native"):
        choices = engines[name]["choices"]
        assert "none yet" not in choices
        assert "aes-xts-plain64:256:512 -> native-" in choices
    ran = {(b["engine"], b["cipher"]): b for b in meta["backends"]}
    assert ran[("auto", "aes-xts-plain64")]["backend"].startswith("native-")
    assert ran[("auto", "aes-xts-plain64")]["library"] and ran[("auto", "aes-xts-plain64")][
        "version"] and ran[("auto", "aes-xts-plain64")]["code_path"]


def test_volume_cells_name_library_version_and_code_path(tmp_path: Path) -> None:
    spec = parse_spec_text("""
name = "vol"
kind = "volume"
[measure]
warmup = 0.0
repetitions = 1
min_time = 0.005
ceiling = "none"
[grid]
cipher = { name = "aes-gcm-random", key_bits = 256 }
engine = "auto"
rw = "randread"
bs = "4k"
size = "256k"
""")
    run = load_run(run_experiment(spec, out=tmp_path / "r", plots=False).path)
    gcm = run.rows[run.rows["cipher"] == "aes-gcm-random"]
    want = get_engine("auto").engine_for(  # type: ignore[attr-defined]
        CipherSpec.parse("aes-gcm-random", key_bits=256)).describe()
    assert set(gcm["engine_impl"]) == {want["engine"]}
    assert set(gcm["library"]) == {want["library"]}
    assert set(gcm["library_version"]) == {want["version"]}
    assert set(gcm["code_path"]) == {want["code_path"]}
