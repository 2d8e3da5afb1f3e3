"""plot: the PNGs exist and are PNGs; axes with one value are skipped."""

from __future__ import annotations

from pathlib import Path

from simulator.bench import run_experiment
from simulator.bench.plots import plot_run
from tests.harness.conftest import fake_datapath, tiny_spec

PNG = b"\x89PNG\r\n\x1a\n"


def test_throughput_plots(tmp_path: Path) -> None:
    spec = tiny_spec(tmp_path, sectors="[512, 4096]", threads="[1, 2]")
    result = run_experiment(spec, out=tmp_path / "r", datapath=fake_datapath(), plots=False)
    paths = plot_run(result.path)
    names = {p.name for p in paths}
    assert names == {"throughput_by_engine.png", "cycles_per_byte.png",
                     "throughput_vs_sector.png", "thread_scaling.png",
                     "capacity_overhead.png"}  # one batch: no batch plot
    for p in paths:
        assert p.read_bytes()[:8] == PNG and p.parent == result.path / "plots"
        assert p.stat().st_size < 150_000
    other = plot_run(result.path, out_dir=tmp_path / "elsewhere")
    assert all(p.parent == tmp_path / "elsewhere" for p in other)
