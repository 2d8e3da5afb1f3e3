"""Local and distributed runs compared with the local runs' own spread as the noise band."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from simulator.bench import interleaved
from simulator.bench.interleaved import agreement_of, format_agreement

CELLS = pd.MultiIndex.from_tuples([(c, s) for c in ("xts", "gcm", "chacha")
                                   for s in (512, 4096)], names=["cipher", "sector_size"])
BASE = [1000.0, 1500.0, 800.0, 1300.0, 600.0, 900.0]


def _summary(factors: list[float]) -> pd.DataFrame:
    rate = [b * f for b, f in zip(BASE, factors, strict=True)]
    return pd.DataFrame({"median": rate, "cpu_cycles_per_byte": [3e9 / r / 2**20 for r in rate],
                         "contended": False}, index=CELLS)


# runs a few per cent apart, cell by cell, either way (a machine's run-to-run noise)
NOISE = [[1.0] * 6, [1.06, 0.95, 1.04, 0.97, 1.05, 0.96], [0.97, 1.03, 0.98, 1.02, 0.99, 1.04],
         [1.02, 0.98, 1.01, 0.99, 1.03, 1.0], [0.96, 1.02, 1.0, 1.05, 0.98, 0.99],
         [1.03, 0.97, 1.02, 0.96, 1.01, 1.02], [0.99, 1.05, 0.97, 1.0, 1.04, 0.98],
         [1.01, 0.99, 1.05, 0.98, 0.97, 1.01]]
L1, L2 = _summary(NOISE[0]), _summary(NOISE[1])


def _runs(dask_factor: float = 1.0, n: int = 4) -> dict[str, pd.DataFrame]:
    runs = {f"L{i + 1}": _summary(NOISE[i]) for i in range(n)}
    runs.update({f"D{i + 1}": _summary([f * dask_factor for f in NOISE[n + i]])
                 for i in range(n)})
    return runs


def test_distributed_runs_like_the_local_ones_are_equal_within_noise() -> None:
    doc = agreement_of(_runs())
    rate = doc["metrics"]["median"]
    assert rate["splits"] == 35 and len(rate["mixed_shifts"]) == 34  # C(8, 4) / 2
    assert rate["p"] > 0.05 and abs(rate["shift"]) < 0.03 and 0 < rate["band"] < 0.05
    assert rate["equal_within_noise"] and doc["metrics"]["cpu_cycles_per_byte"][
        "equal_within_noise"]
    assert len(rate["pairs"]) == 28 and len(rate["cells"]) == 6
    text = format_agreement(doc)
    assert "verdict: EQUAL within noise" in text and "D2 / L1" in text


def test_a_distributed_slowdown_beyond_the_runs_spread_is_called_different() -> None:
    doc = agreement_of(_runs(dask_factor=0.9))  # every cell 10 % slower: noise is 2-6 %
    rate = doc["metrics"]["median"]
    assert rate["verdict"] == "different" and not rate["equal_within_noise"]
    assert rate["p"] == 1 / 35  # no split that mixes the modes is as extreme
    assert rate["shift"] == pytest.approx(-0.1, abs=0.02) and rate["band"] < abs(rate["shift"])
    assert all(c["ratio"] < 0.95 for c in rate["cells"])
    assert "verdict: DIFFERENT" in format_agreement(doc)
    # cycles per byte go up as the rate goes down: the same verdict
    cpb = doc["metrics"]["cpu_cycles_per_byte"]
    assert cpb["verdict"] == "different" and cpb["shift"] == pytest.approx(1 / 0.9 - 1,
                                                                           abs=0.02)


def test_with_too_few_runs_the_verdict_says_so() -> None:
    doc = agreement_of(_runs(dask_factor=0.5, n=3))  # 10 splits: p is never below 0.1
    assert doc["metrics"]["median"]["splits"] == 10
    assert doc["metrics"]["median"]["verdict"] == "too few runs"
    assert "too few runs to tell (10 splits" in format_agreement(doc)
    doc = agreement_of({"L1": L1, "D1": _summary([1.0] * 6)})
    assert not doc["metrics"]["median"]["equal_within_noise"]


TINY = """name = "tiny_interleaved"
kind = "throughput"
[measure]
warmup = 0
repetitions = 3
min_time = 0.001
ceiling = "none"
[grid]
cipher = ["aes-xts-plain64"]
sector_size = [4096]
batch = ["64k"]
engine = ["cryptography"]
"""


@pytest.mark.slow  # four CLI processes, two of them starting a Dask cluster
def test_pairs_run_local_and_distributed_in_turn_and_report(tmp_path: Path, capsys) -> None:
    pytest.importorskip("distributed", reason="Dask is an extra: pip install -e '.[distributed]'")
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY)
    assert interleaved.main([str(spec), "--pairs", "2", "--workers", "1",
                             "--out", str(tmp_path / "out"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert list(doc["runs"]) == ["L1", "L2", "D1", "D2"]
    assert all(r["cells"] == 4 for r in doc["runs"].values())  # null added, two ops
    paths = [Path(r["path"]) for r in doc["runs"].values()]
    assert [p.parent.parent.name for p in paths] == ["local-1", "local-2", "dask-1", "dask-2"]
    # the distributed runs ran on the cluster (their rows carry the host), the local ones not
    metas = [json.loads((p / "meta.json").read_text()) for p in paths]
    assert ["hosts" in m for m in metas] == [False, False, True, True]
    assert [p["a"] + "/" + p["b"] for p in doc["metrics"]["median"]["pairs"]] == [
        "L1/L2", "L1/D1", "L1/D2", "L2/D1", "L2/D2", "D1/D2"]
    # the order they ran in: L D, then D L (a load trend falls on both modes alike)
    started = sorted(paths, key=lambda p: p.name)
    assert [p.parent.parent.name for p in started] == ["local-1", "dask-1", "dask-2", "local-2"]


def test_a_run_that_fails_stops_the_pairs_with_its_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="local run 1 failed"):
        interleaved.run_pairs(str(tmp_path / "missing.toml"), tmp_path / "out", 1)
    with pytest.raises(ValueError, match="--pairs 0"):
        interleaved.run_pairs("quick", tmp_path, 0)
