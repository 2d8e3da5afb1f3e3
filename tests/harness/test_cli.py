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
    assert "within noise" in out  # a run against itself is all noise
    assert main(["compare", str(real_run.parent / "nope")]) == 2
    assert main(["plot", str(real_run)]) == 0
    assert "thread_scaling.png" in capsys.readouterr().out


def test_bench_prints_cryptsetup_table(capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--seconds", "0.03", "-c", "aes-xts-plain64:512", "-c",
                 "aes-gcm-random"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "#     Algorithm |       Key |      Encryption |      Decryption" in lines
    row = re.compile(r"^ {8}aes-xts {8}512b +\d+\.\d MiB/s +\d+\.\d MiB/s$")
    assert any(row.match(line) for line in lines), lines
    assert any(line.startswith("        aes-gcm        256b") for line in lines)
    assert main(["bench", "-c", "chacha20-poly1305-random:128"]) == 2
