"""The results store: append per cell, interrupted runs keep their cells, resume finishes them."""

from __future__ import annotations

import json
import time
from pathlib import Path
from unittest import mock

import pytest

from simulator.bench import (
    ResumeError,
    RunInterrupted,
    latest_run,
    list_runs,
    load_run,
    run_experiment,
)
from simulator.bench.runners.throughput import ThroughputRunner
from simulator.bench.spec import parse_spec_text
from simulator.bench.store import RunStore, utc_stamp
from tests.harness.conftest import fake_datapath, tiny_spec


def _interrupt(tmp_path: Path, exc: BaseException, at_cell: int = 5) -> RunInterrupted:
    """Run the tiny spec and stop it with ``exc`` when cell ``at_cell`` starts."""
    spec = tiny_spec(tmp_path)
    real = ThroughputRunner.run_cell
    started = []

    def run_cell(self, cell, ctx):
        started.append(cell.id)
        if len(started) == at_cell:
            raise exc
        return real(self, cell, ctx)

    with mock.patch.object(ThroughputRunner, "run_cell", run_cell), \
            pytest.raises(RunInterrupted) as info:
        run_experiment(spec, out=tmp_path / "results", datapath=fake_datapath(), plots=False)
    return info.value


def test_interrupted_run_keeps_completed_cells_and_resumes(tmp_path: Path) -> None:
    stop = _interrupt(tmp_path, KeyboardInterrupt())
    assert isinstance(stop.cause, KeyboardInterrupt)
    assert stop.done == 4 and stop.total == 12
    assert f"fargate-sim run --resume {stop.path}" in str(stop)
    meta = json.loads((stop.path / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["cells_done"] == stop.done
    assert "--resume" in meta["resume_command"]
    partial = load_run(stop.path)
    assert partial.rows["cell"].nunique() == stop.done
    assert len(RunStore(stop.path).completed()) == stop.done

    spec = tiny_spec(tmp_path)
    result = run_experiment(spec, resume=stop.path, datapath=fake_datapath(), plots=False)
    assert result.path == stop.path
    assert result.cells_skipped == stop.done and result.cells_run == 12 - stop.done
    run = load_run(stop.path)
    assert run.status == "complete" and len(run.meta["resumed"]) == 1
    assert run.rows["cell"].nunique() == 12 and len(run.rows) == 36
    assert not run.rows.duplicated(["cell", "op", "rep"]).any()
    # the null baseline measured before the interruption still feeds the overhead column
    assert run.rows.loc[run.rows["cipher"] != "null", "null_mib_s"].notna().all()


def test_crash_is_recorded_as_failed(tmp_path: Path) -> None:
    stop = _interrupt(tmp_path, RuntimeError("disk on fire"))
    meta = json.loads((stop.path / "meta.json").read_text())
    assert meta["status"] == "failed" and "disk on fire" in meta["error"]
    assert "disk on fire" in str(stop)


def test_resume_refuses_a_changed_spec(tmp_path: Path) -> None:
    stop = _interrupt(tmp_path, KeyboardInterrupt())
    base = tiny_spec(tmp_path)
    assert base.path is not None
    changed = parse_spec_text(base.path.read_text().replace("repetitions = 3",
                                                            "repetitions = 4"))
    with pytest.raises(ResumeError, match="spec changed"):
        run_experiment(changed, resume=stop.path, datapath=fake_datapath())
    with pytest.raises(ResumeError, match="not a run directory"):
        run_experiment(base, resume=tmp_path, datapath=fake_datapath())


def test_torn_last_line_is_ignored(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    store.append("a", [{"x": 1}], ["x"])
    with (tmp_path / "cells.jsonl").open("a") as fh:
        fh.write('{"cell": "b", "ro')
    assert set(store.completed()) == {"a"}


def test_latest_and_list_runs(tmp_path: Path) -> None:
    root = tmp_path / "results"
    assert latest_run(root) is None
    spec = tiny_spec(tmp_path, sectors="512")
    first = run_experiment(spec, out=root, datapath=fake_datapath(), plots=False).path
    time.sleep(1.05)  # timestamps have one-second resolution
    second = run_experiment(spec, out=root, datapath=fake_datapath(), plots=False).path
    assert first != second
    assert list_runs(root) == [first, second]
    assert latest_run(root) == second == latest_run(root, "tiny")
    assert load_run(root / "tiny").path == second  # an experiment dir means its newest run
    assert load_run(None, root=root).path == second
    assert len(utc_stamp()) == 16 and utc_stamp().endswith("Z")
