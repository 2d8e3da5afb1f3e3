"""The fleet kind through the harness: a run directory with rows, timelines, plots, compare."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from simulator.bench import load_run, parse_spec_text, run_experiment
from simulator.bench.compare import compare
from simulator.cli import main

SPEC = """name = "fleet_tiny"
kind = "fleet"
[measure]
repetitions = 1
[grid]
tasks = 60
provisioning_jitter = 0.0
quotas = {quotas}
"""


def _run(tmp_path: Path, quotas: str) -> Path:
    spec = parse_spec_text(SPEC.replace("{quotas}", quotas), path=tmp_path / "fleet_tiny.toml")
    return run_experiment(spec, out=tmp_path / "results").path


def test_a_fleet_run_keeps_its_summary_timeline_and_plots(tmp_path: Path) -> None:
    path = _run(tmp_path, "[{}, { CreateGrant = 500 }]")
    run = load_run(path)
    assert run.kind == "fleet" and run.status == "complete" and len(run.rows) == 2
    default, raised = run.rows.iloc[0], run.rows.iloc[1]
    assert default["kms_CreateGrant_throttled"] > 0 and raised["kms_CreateGrant_throttled"] == 0
    assert raised["failed_to_start"] == 0 and bool(raised["all_running"])
    timeline = pd.read_csv(path / raised["timeline"])
    assert {"t", "pending", "running", "grants", "kms_CreateGrant_ok",
            "kms_CreateGrant_throttled"} <= set(timeline.columns)
    assert timeline["kms_ok"].sum() == raised["kms_requests"]
    assert len(list((path / "plots").glob("fleet_*.png"))) == 2
    summary = (path / "summary.txt").read_text()
    assert "peak throttled/s" in summary and "CreateGrant" in summary
    assert "tasks/s wall" in summary and "peak RSS MiB" in summary and " req + " in summary


def test_compare_two_fleet_runs_shows_what_changed(tmp_path: Path, capsys) -> None:
    a = _run(tmp_path, "{}")
    b = _run(tmp_path, "{ CreateGrant = 500 }")
    text = compare([a, b])
    assert f"change {a} -> {b}" in text
    assert "different cells: compared in order" in text
    assert "peak throttled/s" in text and "failed to start" in text
    assert main(["compare", str(a), str(b)]) == 0
    assert "peak throttled/s" in capsys.readouterr().out


def test_the_cli_refuses_an_impossible_fleet_in_one_line(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "bad"\nkind = "fleet"\n[grid]\ntasks = -3\n')
    assert main(["run", str(bad), "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fargate-sim run: ") and "\n" not in err
    assert err.endswith(f"{bad}: grid.tasks: -3: negative (allowed: a whole number of "
                        "tasks >= 1)")
    assert not (tmp_path / "r").exists()


def test_the_example_fleet_specs_are_valid() -> None:
    from simulator.bench import load_spec

    root = Path(__file__).resolve().parents[2] / "experiments"
    names = sorted(p.stem for p in root.glob("fleet_*.toml"))
    assert {"fleet_3000_default_key", "fleet_3000_raised_grant_quota", "fleet_churn"} <= set(
        names)
    for name in names:
        assert load_spec(root / f"{name}.toml").kind == "fleet"
