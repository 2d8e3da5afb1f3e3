"""The runner: cells become rows on disk with derived columns; refusals come first."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simulator.bench import RunError, load_run, run_experiment
from simulator.bench.compare import compare
from simulator.bench.datapath import ENGINE_NAMES, DataPath
from simulator.bench.spec import parse_spec_text
from tests.harness.conftest import FakeEngine, fake_datapath, tiny_spec


def test_throughput_run_writes_tidy_table_and_meta(tmp_path: Path, fake: FakeEngine) -> None:
    spec = tiny_spec(tmp_path)
    result = run_experiment(spec, out=tmp_path / "results", datapath=fake_datapath(fake),
                            plots=False)
    assert result.path.parent == tmp_path / "results" / "tiny"
    run = load_run(result.path)
    # (null, xts512, gcm256) x 2 sectors x 2 ops = 12 cells, 3 repetitions each
    assert result.cells_total == 12 and len(run.rows) == 36
    for col in ("experiment", "run", "cell", "cipher", "key_bits", "sector_size", "batch",
                "threads", "engine", "op", "rep", "seconds", "cpu_seconds", "mib_s", "mb_s",
                "engine_impl", "ratio_to_ceiling", "null_mib_s", "overhead_vs_null"):
        assert col in run.rows.columns, col
    assert set(run.rows["engine_impl"]) == {"fake"}
    assert (run.rows.loc[run.rows["cipher"] != "null", "null_mib_s"] > 0).all()
    meta = run.meta
    assert meta["status"] == "complete" and meta["spec_hash"] == spec.hash
    assert meta["cells_done"] == 12 and meta["env"]["cpu"]["logical_cpus"]
    for key in ("packages", "openssl", "git", "python", "os", "command"):
        assert key in meta["env"]
    assert "aes" in meta["env"]["cpu"]["crypto_flags"]
    assert (result.path / "results.parquet").is_file()
    assert (result.path / "results.csv").is_file()
    assert (result.path / "spec.toml").read_text().startswith("\nname")
    s = run.summary
    assert len(s) == 12
    assert {"median", "q1", "q3", "rel_iqr", "min", "max", "noisy", "mib_s", "mb_s",
            "cpu_s_per_gib", "overhead_vs_null"} <= set(s.columns)
    assert "MiB/s" in result.summary_text()


def test_unavailable_engine_is_refused_before_anything_runs(tmp_path: Path) -> None:
    dp = fake_datapath()
    dp.engine_problems = lambda: {"native": "not built here"}
    base = tiny_spec(tmp_path)
    assert base.path is not None
    spec = parse_spec_text(base.path.read_text().replace('engine = "auto"', 'engine = "native"'),
                           path=base.path)
    with pytest.raises(RunError, match="not built here"):
        run_experiment(spec, out=tmp_path / "results", datapath=dp)
    assert not (tmp_path / "results").exists()


def test_a_grid_over_every_backend_skips_the_one_this_machine_lacks(tmp_path: Path) -> None:
    """No IPP Crypto here (not x86-64, not installed, disabled): a grid naming every backend,
    as the default experiment does, runs the others and says, in the log and in meta.json,
    why the missing one's cells did not run (an engine name that means nothing is refused
    when the spec is read)."""
    dp = fake_datapath()
    why = "IPP Crypto unavailable: libippcp.so not found"
    dp.engine_problems = lambda: {**dict.fromkeys(ENGINE_NAMES), "native-ipp": why}
    base = tiny_spec(tmp_path)
    assert base.path is not None
    text = base.path.read_text().replace(
        'engine = "auto"', 'engine = ["native-ipp", "native-openssl", "cryptography"]')
    logs: list[str] = []
    result = run_experiment(parse_spec_text(text, path=base.path), out=tmp_path / "r",
                            datapath=dp, plots=False, log=logs.append)
    run = load_run(result.path)
    assert set(run.rows["engine"]) == {"native-openssl", "cryptography"}
    assert result.cells_total == 24 and run.meta["status"] == "complete"
    skipped = run.meta["skipped_cells"]
    assert len(skipped) == 12 and all("engine=native-ipp" in s["cell"] for s in skipped)
    assert {s["reason"] for s in skipped} == {why}
    assert any(line.startswith("skipping 12 cells: " + why) for line in logs)


def test_ceiling_rows_carry_ratio(tmp_path: Path, fake: FakeEngine, monkeypatch) -> None:
    from simulator.bench import ceiling

    monkeypatch.setattr(ceiling, "openssl_speed", lambda *a, **k: 100.0 * 2**20)
    spec = parse_spec_text((tiny_spec(tmp_path).path).read_text().replace(
        'ceiling = "none"', 'ceiling = "openssl"'), path=tmp_path / "tiny.toml")
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(fake), plots=False)
    rows = load_run(result.path).rows
    enc = rows[rows["cipher"] == "aes-xts-plain64"]
    if ceiling.openssl_binary():
        assert (enc["ceiling_mib_s"] == 100.0).all()
        assert (enc["ratio_to_ceiling"] - enc["mib_s"] / 100.0).abs().max() < 1e-9
        assert set(enc["ceiling_source"]) == {"openssl speed"}
    ceilings = load_run(result.path).meta["ceilings"]
    assert any(c["cipher"] == "null" and c["source"] == "memcpy" for c in ceilings)


def test_scenario_kind_runs_the_seed_walkthrough(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[2] / "experiments"
    spec = parse_spec_text('name = "sc"\nkind = "scenario"\n[measure]\nrepetitions = 1\n'
                           'warmup = 0\n[grid]\nscenario = "seed_walkthrough.toml"\n',
                           path=root / "sc.toml")
    result = run_experiment(spec, out=tmp_path / "r", plots=False)
    (row,) = load_run(result.path).rows.to_dict("records")
    assert row["ok"] and row["failed"] == 0 and row["passed"] == row["steps"] >= 40


def test_scenario_kind_counts_failed_steps(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(
        '[[step]]\ncall = "kms.create_key"\n'
        '[[step]]\ncall = "kms.create_key"\nexpect_error = "AccessDeniedException"\n'
    )
    spec = parse_spec_text('name = "sc"\nkind = "scenario"\n[measure]\nrepetitions = 2\n'
                           'warmup = 0\n[grid]\nscenario = "s.toml"\n', path=tmp_path / "e.toml")
    rows = load_run(run_experiment(spec, out=tmp_path / "r", plots=False).path).rows
    assert list(rows["passed"]) == [1, 1] and list(rows["failed"]) == [1, 1]
    assert not rows["ok"].any()


def test_capacity_kind(tmp_path: Path) -> None:
    spec = parse_spec_text('name = "cap"\nkind = "capacity"\n[grid]\nsize_gib = [20, 200]\n'
                           'cipher = ["aes-xts-plain64", "aes-gcm-random"]\n'
                           'sector_size = [512, 4096]\ncmk = true\n')
    result = run_experiment(spec, out=tmp_path / "r", plots=True)
    rows = load_run(result.path).rows
    assert len(rows) == 8
    xts = rows[rows["cipher"] == "aes-xts-plain64"]
    gcm = rows[rows["cipher"] == "aes-gcm-random"]
    assert (xts["capacity_overhead"] == 0).all()
    assert (gcm["capacity_overhead"] > 0).all() and gcm["detects_tampering"].all()
    small = gcm[gcm["sector_size"] == 512]["capacity_overhead"].min()
    big = gcm[gcm["sector_size"] == 4096]["capacity_overhead"].max()
    assert small > big  # 28 bytes of 512 cost more than 28 of 4096
    assert any(p.name == "capacity_overhead.png" for p in result.plots)
    assert "usable GiB" in compare([result.path])


def test_volume_kind_with_real_volume(tmp_path: Path) -> None:
    spec = parse_spec_text("""
name = "vol"
kind = "volume"
[measure]
warmup = 0.0
repetitions = 2
min_time = 0.01
ceiling = "none"
[grid]
cipher = { name = "aes-gcm-random", key_bits = 256 }
engine = "auto"
rw = ["randread", "randrw", "write"]
rwmixread = 50
bs = "4k"
iodepth = [1, 4]
size = "256k"
""")
    result = run_experiment(spec, out=tmp_path / "r", plots=True)
    rows = load_run(result.path).rows
    assert set(rows["op"]) == {"read", "write"}
    assert (rows["ios"] > 0).all() and (rows["iops"] > 0).all()
    assert (rows["clat_p50_us"] <= rows["clat_p99_9_us"]).all()
    mixed = rows[rows["rw"] == "randrw"]
    assert set(mixed["op"]) == {"read", "write"}
    assert {p.name for p in result.plots} == {"volume_bandwidth.png", "volume_latency.png"}
    assert isinstance(load_run(result.path).summary, pd.DataFrame)
    assert json.loads((result.path / "meta.json").read_text())["kind"] == "volume"
    text = compare([result.path])
    assert "clat_p99_us" in text and "aes-gcm 256b" in text


def test_wrong_decrypt_is_never_timed(tmp_path: Path) -> None:
    class Liar(FakeEngine):
        def decrypt_sectors(self, spec, key, src, dst, first_sector, metadata=None, threads=1):
            dst[:] = bytes(len(dst))

    dp: DataPath = fake_datapath(Liar())
    from simulator.bench import RunInterrupted

    with pytest.raises(RunInterrupted, match="decrypt"):
        run_experiment(tiny_spec(tmp_path), out=tmp_path / "r", datapath=dp, plots=False)


def test_cells_an_engine_cannot_run_are_skipped_and_said(tmp_path: Path) -> None:
    class NoGcm(FakeEngine):
        def supports(self, spec) -> bool:
            return spec.name != "aes-gcm-random"

    logs: list[str] = []
    spec = tiny_spec(tmp_path)
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(NoGcm()),
                            plots=False, log=logs.append)
    rows = load_run(result.path).rows
    assert "aes-gcm-random" not in set(rows["cipher"]) and result.cells_total == 8
    meta = load_run(result.path).meta
    assert len(meta["skipped_cells"]) == 4
    assert all("does not run aes-gcm-random" in s["reason"] for s in meta["skipped_cells"])
    assert any("skipping 4 cells" in line for line in logs)


def test_throughput_buffers_sit_at_the_same_page_offsets_in_every_process() -> None:
    # malloc's placement differs between a plain process and a Dask worker (its nanny sets
    # MALLOC_TRIM_THRESHOLD_): the runner's buffers do not depend on it
    import ctypes
    import mmap

    from simulator.bench.runners.throughput import PAGE_OFFSETS, sector_buffers

    for _ in range(3):  # whatever was allocated before
        buffers = sector_buffers(2**20)
        where = {name: ctypes.addressof(ctypes.c_char.from_buffer(view)) % mmap.PAGESIZE
                 for name, view in buffers.items()}
        assert where == PAGE_OFFSETS
        assert all(len(v) == 2**20 and not v.readonly for v in buffers.values())
        # each call's source and destination are half a page apart (no 4K aliasing)
        assert abs(where["plain"] - where["cipher"]) == mmap.PAGESIZE // 2
        assert abs(where["cipher"] - where["out"]) == mmap.PAGESIZE // 2
