"""CPU per thread and cycles per byte per thread are taken over the threads a batch really
runs on (``engine.threads_used``), not the threads a cell asks for: the data path splits a
batch only where it pays, so a 64 KiB batch asked for two threads runs on one, and divided by
two it read as half a CPU per thread (CONTENDED on a quiet machine) at twice the c/B."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.bench import load_run, run_experiment
from simulator.bench.clock import cycles_per_byte
from simulator.bench.contention import runnable_threads
from simulator.bench.datapath import threads_used
from simulator.bench.spec import parse_spec_text
from tests.harness.conftest import FakeEngine, OldFakeEngine, fake_datapath, tiny_spec


def _rows_and_summary(tmp_path: Path, engine: FakeEngine):
    spec = tiny_spec(tmp_path, sectors="4096", threads="[1, 2]")
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(engine),
                            plots=False)
    run = load_run(result.path)
    return run.rows, run.summary, run.meta, result


def test_cpu_share_is_per_thread_the_batch_ran_on(tmp_path: Path) -> None:
    rows, summary, meta, result = _rows_and_summary(tmp_path, FakeEngine())
    assert set(rows["threads"]) == {1, 2}
    assert set(rows["threads_used"]) == {1}  # the fake, as the portable engine, runs alone
    for r in rows.to_dict("records"):  # over one thread, whatever the cell asked for
        assert r["cpu_share"] == pytest.approx(r["cpu_seconds"] / r["seconds"], rel=1e-9)
    hz = meta["clock"]["hz"]
    two = summary[summary["threads"] == 2]
    assert len(two) and set(two["threads_used"]) == {1}
    for r in two.to_dict("records"):  # cycles of one core per byte, not two
        assert r["cycles_per_byte"] == pytest.approx(cycles_per_byte(r["median"] * 2**20, hz))
    text = result.summary_text()
    assert "thr used" in text.splitlines()[1] and "threads the batch ran on" in text


def test_an_engine_that_cannot_say_is_taken_at_its_word(tmp_path: Path) -> None:
    rows, summary, meta, _ = _rows_and_summary(tmp_path, OldFakeEngine())
    assert (rows["threads_used"] == rows["threads"]).all()
    for r in rows.to_dict("records"):
        per = runnable_threads(int(r["threads"]))
        assert r["cpu_share"] == pytest.approx(r["cpu_seconds"] / r["seconds"] / per, rel=1e-9)
    hz = meta["clock"]["hz"]
    for r in summary[summary["threads"] == 2].to_dict("records"):
        assert r["cycles_per_byte"] == pytest.approx(
            cycles_per_byte(r["median"] * 2**20, hz) * runnable_threads(2))


def test_threads_used_helper_bounds_what_an_engine_says() -> None:
    class Says:
        def __init__(self, n: int) -> None:
            self.n = n

        def threads_used(self, spec, nbytes, threads):
            return self.n

    assert threads_used(object(), None, 1 << 16, 4) == 4  # no method: the threads asked
    assert threads_used(Says(1), None, 1 << 16, 4) == 1
    assert threads_used(Says(0), None, 1 << 16, 4) == 1  # never below one
    assert threads_used(Says(9), None, 1 << 16, 4) == 4  # never above what was asked


REAL = """
name = "tinytp"
kind = "throughput"
[measure]
warmup = 0.0
repetitions = 2
min_time = 0.003
ceiling = "none"
[grid]
cipher = [{ name = "aes-xts-plain64", key_bits = 256 }]
sector_size = 512
batch = "64k"
threads = [1, 2]
engine = ["auto", "cryptography"]
op = ["encrypt"]
"""


def test_a_small_batch_on_two_threads_is_not_called_contended(tmp_path: Path) -> None:
    """The acceptance tester's repro through the real data path: 64 KiB batches asked for two
    threads run on one (native: a worker per 128 KiB; cryptography: always one), and their
    CPU share is that one thread's."""
    spec = parse_spec_text(REAL, path=tmp_path / "tinytp.toml")
    result = run_experiment(spec, out=tmp_path / "r", plots=False)
    run = load_run(result.path)
    two = run.rows[run.rows["threads"] == 2]
    assert len(two) and set(two["threads_used"]) == {1}
    for r in run.rows.to_dict("records"):
        assert r["cpu_share"] == pytest.approx(r["cpu_seconds"] / r["seconds"], rel=1e-9)


def test_bench_rows_say_the_threads_the_buffer_ran_on() -> None:
    from simulator.bench.cryptsetup import bench

    (row,) = bench([("aes-xts-plain64", 256)], engine="cryptography", seconds=0.02,
                   threads=2, repetitions=2)
    assert row.threads_used == 1 and row.to_dict()["threads_used"] == 1


@pytest.mark.parametrize("threads", ["[1, 2]", "2"])
def test_a_cell_is_held_to_the_ceiling_of_the_threads_it_ran_on(tmp_path: Path, monkeypatch,
                                                               threads: str) -> None:
    """A two-thread cell whose batches ran on one thread is compared with one thread's
    ceiling, in its rows and in the summary, and the summary names the ceiling's threads;
    one thread's ceiling is measured even where no cell asks for one thread."""
    from dataclasses import replace

    from simulator.bench import ceiling
    from simulator.bench.ceiling import Source

    def loop(cipher, key_bits, unit, seconds, decrypt, threads):
        return 1e9 * threads  # two threads: twice one

    fake = Source("fake-loop", "fake lib", "0", "loop", loop)
    monkeypatch.setattr(ceiling, "openssl_source", lambda s=1: None)
    monkeypatch.setattr("simulator.bench.experiment.sources_for",
                        lambda how, engines, seconds: [fake])
    spec = tiny_spec(tmp_path, sectors="4096", threads=threads)
    spec = replace(spec, measure=replace(spec.measure, ceiling="native", ceiling_rounds=1))
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(FakeEngine()),
                            plots=False)
    run = load_run(result.path)
    one = 1e9 * 1 / 2**20
    assert set(run.rows["threads_used"]) == {1}
    rows = run.rows[run.rows["cipher"] != "null"]  # the null cells' ceiling is a copy loop
    assert len(rows[rows["threads"] == 2])
    for r in rows.to_dict("records"):
        assert r["ceiling_mib_s"] == pytest.approx(one)
        assert r["ratio_to_ceiling"] == pytest.approx(r["mib_s"] / one)
    summary = run.summary[run.summary["cipher"] != "null"]
    two = summary[summary["threads"] == 2]
    assert len(two)
    for r in two.to_dict("records"):
        assert r["ceiling_mib_s"] == pytest.approx(one) and r["ceiling_threads"] == 1
        assert r["ratio_to_ceiling"] == pytest.approx(r["median"] / one)
