"""Scenario: run ECS/KMS scenario files through ``simulator.scenario.run_scenario``.

The scenario format belongs to ``simulator.scenario``; this runner calls
``run_scenario(path) -> report`` once per repetition and records whether every expectation
held, how many steps passed and how long it took.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from simulator.bench.datapath import DataPath
from simulator.bench.grid import Cell
from simulator.bench.measure import Stopwatch
from simulator.bench.runners.base import RunContext, RunError, Runner
from simulator.bench.spec import Axis, ExperimentSpec, Grid, Validator
from simulator.scenario import ScenarioError, load_scenario, run_scenario

_SCENARIO_HELP = "scenario file paths (relative to the spec)"


def _path_text(value: Any) -> str:
    """A scenario path as the spec writes it (checked to exist by ``_files_exist``)."""
    if not isinstance(value, str) or not value:
        raise TypeError("not a path string")
    return value


def _files_exist(v: Validator, axes: dict[str, list[Any]]) -> None:
    """Each scenario file exists, relative to the spec's folder (or as given)."""
    base = v.path.parent if v.path else Path.cwd()
    for value in axes["scenario"]:
        cand = Path(value) if Path(value).is_absolute() else base / value
        if not cand.exists() and not Path(value).exists():
            raise v.err("grid.scenario", f"{value!r}: no such scenario file", _SCENARIO_HELP)


GRID = Grid((Axis("scenario", _path_text, None, _SCENARIO_HELP, check=_files_exist),))


class ScenarioRunner(Runner):
    """Each repetition runs the scenario once in a fresh simulation (after one warm-up run)."""

    kind = "scenario"
    columns = ("scenario_name", "rep", "ok", "steps", "passed", "failed", "seconds",
               "cpu_seconds", "cpu_user", "cpu_sys")
    rate_column = "seconds"
    grid = GRID
    uses_datapath = False

    def summary_table(self, summary: pd.DataFrame) -> pd.DataFrame:
        """Per scenario: runs, whether all passed, steps passed and failed, median time."""
        df = summary
        show = pd.DataFrame({"scenario": df["scenario"]})
        show["runs"] = df["n"]
        show["all ok"] = df["ok"].map(lambda x: "yes" if x == 1 else "NO")
        show["steps passed"] = df["passed"].map("{:.0f}".format)
        show["failed"] = df["failed"].map("{:.0f}".format)
        show["median s"] = df["median"].map("{:.4f}".format)
        show["IQR%"] = (df["rel_iqr"] * 100).map("{:.1f}".format)
        show["noisy"] = df["noisy"].map({True: "NOISY", False: ""})
        return show

    def check(self, spec: ExperimentSpec, cells: list[Cell], datapath: DataPath | None) -> None:
        """Refuse scenario files that cannot run as written, before anything runs."""
        for cell in cells:
            try:
                load_scenario(self._path(cell, spec))
            except ScenarioError as exc:
                raise RunError(str(exc)) from None

    @staticmethod
    def _path(cell: Cell, spec: ExperimentSpec) -> Path:
        path = Path(cell["scenario"])
        if not path.is_absolute() and spec.path is not None:
            cand = spec.path.parent / path
            path = cand if cand.exists() else path
        return path

    def run_cell(self, cell: Cell, ctx: RunContext) -> list[dict[str, Any]]:
        """Run the scenario ``repetitions`` times and tally its steps."""
        path = self._path(cell, ctx.spec)
        if ctx.spec.measure.warmup > 0:
            run_scenario(path)  # one untimed run: imports, botocore models, caches
        rows = []
        for rep in range(ctx.spec.measure.repetitions):
            with Stopwatch() as sw:
                report = run_scenario(path)
            rows.append({"rep": rep, **_tally(report), "seconds": sw.sample.seconds,
                         "cpu_seconds": sw.sample.cpu_seconds, "cpu_user": sw.sample.cpu_user,
                         "cpu_sys": sw.sample.cpu_sys})
        return rows


def _tally(report: Any) -> dict[str, Any]:
    """Name, ok and step counts from a report object or dict."""
    d = report.to_dict() if hasattr(report, "to_dict") else dict(report or {})
    steps = d.get("steps") or []
    passed = sum(1 for s in steps if (s.get("passed") if isinstance(s, dict) else s.passed))
    return {"scenario_name": d.get("name", ""), "ok": bool(d.get("ok", passed == len(steps))),
            "steps": len(steps), "passed": passed, "failed": len(steps) - passed}
