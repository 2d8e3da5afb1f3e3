"""`fargate-sim run --json` says which cells did not run and why, and carries the run's notes
(what of the data path is missing here), as meta.json does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from simulator.cli import main

SPEC = """
name = "skips"
kind = "throughput"
[measure]
warmup = 0.0
repetitions = 2
min_time = 0.002
ceiling = "none"
[grid]
cipher = [{{ name = "aes-xts-plain64", key_bits = 256 }}]
sector_size = 4096
batch = "64k"
engine = {engines}
op = ["encrypt"]
"""
IPP_OFF = "IPP Crypto unavailable: disabled by FARGATE_SIM_DISABLE_IPP=1"


@pytest.fixture
def no_ipp(monkeypatch: pytest.MonkeyPatch) -> None:
    from simulator.crypt import engines

    monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", "1")
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})


def _run_json(tmp_path: Path, engines: str, capsys: pytest.CaptureFixture) -> dict:
    spec = tmp_path / "skips.toml"
    spec.write_text(SPEC.format(engines=engines))
    assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--json", "--no-plots"]) == 0
    return json.loads(capsys.readouterr().out)


def test_run_json_names_the_skipped_cells_and_why(no_ipp: None, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    doc = _run_json(tmp_path, '["native-ipp", "native-openssl"]', capsys)
    assert doc["cells_run"] == 2 and doc["cells_skipped"] == 2  # null and xts on native-ipp
    (reason,) = doc["skipped_reasons"]
    assert IPP_OFF in reason and doc["skipped_reasons"][reason] == 2
    assert len(doc["skipped_cells"]) == 2
    assert all("engine=native-ipp" in s["cell"] and s["reason"] == reason
               for s in doc["skipped_cells"])
    assert doc["notes"] == [f"skipping 2 cells: {reason}"]
    meta = json.loads((Path(doc["path"]) / "meta.json").read_text())
    assert meta["notes"] == doc["notes"] and meta["skipped_cells"] == doc["skipped_cells"]


def test_run_json_notes_that_auto_runs_without_ipp(no_ipp: None, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    doc = _run_json(tmp_path, '"auto"', capsys)
    assert doc["cells_skipped"] == 0 and doc["skipped_cells"] == []
    assert doc["notes"] == [IPP_OFF]  # one line: what is missing and why, not an error
    assert {r["engine_impl"] for r in doc["summary"]} == {"native-openssl"}
