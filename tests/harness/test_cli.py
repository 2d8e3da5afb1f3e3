"""The CLI: run, compare, plot and bench against the real data path, on a tiny grid."""

from __future__ import annotations

import re
from pathlib import Path
from unittest import mock

import pytest

from simulator.bench.runners.throughput import ThroughputRunner
from simulator.cli import main

REAL = """
name = "cli_tiny"
kind = "throughput"
[measure]
warmup = 0.0
repetitions = 3
min_time = 0.003
ceiling = "{ceiling}"
[grid]
cipher = [{{ name = "aes-gcm-random", key_bits = 256 }}]
sector_size = 4096
batch = "64k"
threads = [1, 2]
engine = "auto"
"""


@pytest.fixture(scope="module")
def real_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One small run through the real engine, shared by the CLI and notebook tests."""
    tmp = tmp_path_factory.mktemp("cli")
    spec = tmp / "cli_tiny.toml"
    spec.write_text(REAL.format(ceiling="native"))
    assert main(["run", str(spec), "--out", str(tmp / "results"), "--quiet"]) == 0
    (run,) = (tmp / "results" / "cli_tiny").iterdir()
    return run


def test_run_writes_a_run_directory(real_run: Path, capsys: pytest.CaptureFixture) -> None:
    names = {p.name for p in real_run.iterdir()}
    assert {"meta.json", "spec.toml", "results.csv", "results.parquet", "cells.jsonl",
            "summary.txt", "plots"} <= names
    assert (real_run / "plots" / "throughput_by_engine.png").is_file()
    assert "MiB/s" in (real_run / "summary.txt").read_text()


def test_run_prints_summary(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(REAL.format(ceiling="none").replace("threads = [1, 2]", "threads = 1"))
    assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--quiet", "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "cli_tiny: 4 cells run" in out and "MiB/s" in out and "IQR%" in out
    assert "vs null" in out


def test_bad_spec_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "bad.toml"
    spec.write_text(REAL.format(ceiling="none").replace(
        '{ name = "aes-gcm-random", key_bits = 256 }',
        '{ name = "chacha20-poly1305-random", key_bits = 128 }'))
    assert main(["run", str(spec), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert str(spec) in err and "grid.cipher.key_bits" in err and "256" in err
    assert not (tmp_path / "r").exists()
    assert main(["run", "no-such-spec"]) == 2
    assert "no such experiment spec" in capsys.readouterr().err


def test_interrupt_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = tmp_path / "s.toml"
    spec.write_text(REAL.format(ceiling="none"))
    real = ThroughputRunner.run_cell
    calls = []

    def run_cell(self, cell, ctx):
        calls.append(cell.id)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, cell, ctx)

    with mock.patch.object(ThroughputRunner, "run_cell", run_cell):
        assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--quiet"]) == 130
    err = capsys.readouterr().err
    assert "interrupted after 2/8 cells" in err
    m = re.search(r"resume with: fargate-sim run --resume (\S+)", err)
    assert m
    assert main(["run", "--resume", m.group(1), "--quiet", "--no-plots"]) == 0
    assert "6 cells run, 2 resumed" in capsys.readouterr().out


def test_compare_and_plot(real_run: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["compare", str(real_run)]) == 0
    out = capsys.readouterr().out
    assert "aes-gcm 256b" in out and "enc/ceil" in out and "tamper" in out
    assert main(["compare", str(real_run), str(real_run), "--where", "threads=1"]) == 0
    out = capsys.readouterr().out
    # a run against itself is all noise (or, on a busy machine, contended: a tie either way)
    assert "within noise" in out or "tie (contended)" in out
    assert "0 faster, 0 slower" in out
    assert main(["compare", str(real_run), "--where", "engnie=auto"]) == 2
    assert "no parameter 'engnie'" in capsys.readouterr().err
    assert main(["compare", str(real_run.parent / "nope")]) == 2
    assert main(["plot", str(real_run)]) == 0
    assert "thread_scaling.png" in capsys.readouterr().out


def test_bench_prints_cryptsetup_table(capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--seconds", "0.03", "-c", "aes-xts-plain64:512", "-c",
                 "aes-gcm-random"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "#     Algorithm |       Key |      Encryption |      Decryption" in lines
    # cryptsetup's columns, then the backend and CPU code path that ran the row
    row = re.compile(r"^ {8}aes-xts {8}512b +\d+\.\d MiB/s ± *\d+\.\d% +\d+\.\d MiB/s ± *\d+\.\d%"
                     r"  \[(native-ipp|native-openssl|cryptography), .+\]$")
    assert any(row.match(line) for line in lines), lines
    assert any(line.startswith("        aes-gcm        256b") for line in lines)
    assert main(["bench", "-c", "chacha20-poly1305-random:128"]) == 2


def test_json_from_run_compare_and_bench(real_run: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    import json

    assert main(["compare", str(real_run), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (run,) = doc["runs"]
    assert run["table"] and {"rank", "tie_with", "cipher"} <= set(run["table"][0])
    assert run["answer"] is not None and "ceilings" in run
    spec = tmp_path / "s.toml"
    spec.write_text(REAL.format(ceiling="none").replace("threads = [1, 2]", "threads = 1"))
    assert main(["run", str(spec), "--out", str(tmp_path / "r"), "--json", "--no-plots"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["cells_run"] == 4 and doc["summary"] and doc["clock"]["hz"]
    assert "before" in doc["contention"] and "after" in doc["contention"]
    assert main(["bench", "--seconds", "0.02", "--repeat", "3", "-c", "aes-gcm-random",
                 "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (row,) = doc["rows"]
    assert row["repetitions"] == 3 and row["encrypt_spread"] is not None
    assert row["engine"] in ("native-ipp", "native-openssl", "cryptography")
    assert row["library"] and row["version"] and row["code_path"]
    assert "aes-gcm-random:256:4096 -> " in doc["engine"]["choices"]  # taken after the run


def test_bench_says_in_one_line_why_ipp_is_not_used(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture) -> None:
    from simulator.crypt import engines

    monkeypatch.setenv("FARGATE_SIM_DISABLE_IPP", "1")
    monkeypatch.setattr(engines, "_instances", {})
    monkeypatch.setattr(engines, "_problems", {})
    assert main(["bench", "--seconds", "0.02", "--repeat", "2", "-c", "aes-xts-plain64"]) == 0
    out = capsys.readouterr().out
    [note] = [line for line in out.splitlines() if "IPP" in line and "FARGATE_SIM" in line]
    assert note == "# IPP Crypto unavailable: disabled by FARGATE_SIM_DISABLE_IPP=1"
    assert "[native-openssl, " in out


def test_users_runs_and_references_are_kept_apart(real_run: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    import shutil

    monkeypatch.chdir(tmp_path)
    ref = tmp_path / "results" / "reference" / "cli_tiny" / real_run.name
    shutil.copytree(real_run, ref)
    # a bare name means the user's runs: the reference is never taken silently
    assert main(["compare", "cli_tiny"]) == 2
    assert "the reference run is results/reference/cli_tiny" in capsys.readouterr().err
    assert main(["compare", "results/reference/cli_tiny"]) == 0
    assert str(ref.relative_to(tmp_path)) in capsys.readouterr().out
    mine = tmp_path / "results" / "local" / "cli_tiny" / "20990101T000000Z"
    shutil.copytree(real_run, mine)
    assert main(["compare", "cli_tiny"]) == 0
    out = capsys.readouterr().out
    assert "results/local/cli_tiny" in out and "results/reference" not in out


def test_bench_says_n_a_for_a_cipher_the_engine_does_not_run(
        capsys: pytest.CaptureFixture) -> None:
    from simulator.crypt import available_engines

    if "native-ipp" not in available_engines():
        pytest.skip("IPP Crypto backend not available here")
    assert main(["bench", "--engine", "native-ipp", "--seconds", "0.02", "--repeat", "2",
                 "-c", "chacha20-poly1305-random"]) == 0
    out = capsys.readouterr().out
    assert "N/A" in out and "does not run that cipher" in out and "Traceback" not in out
