"""One runner per experiment kind: throughput, volume, capacity, scenario, fleet.

Adding a kind is one call, in the kind's own module or here::

    register("fleet", FleetRunner, grid=validate_fleet_grid)

The runner's ``grid`` (a ``simulator.bench.spec.Grid`` of axes: name, parser, default, help)
or the ``grid`` argument (a function of the spec validator and the [grid] table, returning
the normalised axes) is what ``simulator.bench.spec`` checks a spec's [grid] with; the
runner's ``rate_column`` is what the summary takes the median of.

How a loaded run is presented is the runner's too, as declared data (``rated``,
``rows_are_summaries``, ``cipher_table``, ``runs_shards``, ``uses_datapath``) and hooks
(``summary_table``, ``compare_rows``/``compare_change``, ``figures``): compare, plots, summary
and distributed ask :func:`presenter_for` / :func:`runner_for` and import no runner module,
so a runner imports none of them either.
"""

from __future__ import annotations

from simulator.bench.runners.base import RunContext, RunError, Runner
from simulator.bench.runners.capacity import CapacityRunner
from simulator.bench.runners.scenario import ScenarioRunner
from simulator.bench.runners.throughput import ThroughputRunner
from simulator.bench.runners.volume import VolumeRunner
from simulator.bench.spec import GridValidator, register_grid

RUNNERS: dict[str, type[Runner]] = {}


def register(kind: str, runner: type[Runner], grid: GridValidator | None = None) -> None:
    """Make ``kind`` runnable: its runner class and its [grid] validator (``grid``, else the
    runner's own)."""
    RUNNERS[kind] = runner
    grid = grid or runner.grid
    if grid is not None:
        register_grid(kind, grid)


def runner_for(kind: str) -> Runner:
    """A fresh runner for an experiment kind."""
    return RUNNERS[kind]()


def presenter_for(kind: str) -> Runner:
    """The runner whose hooks present a loaded run of ``kind`` (compare, plots, summary); a
    kind no runner registers (a run from an older version) gets the base runner, whose hooks
    all answer None: the generic presentation."""
    return RUNNERS.get(kind, Runner)()


for _runner in (ThroughputRunner, VolumeRunner, CapacityRunner, ScenarioRunner):
    register(_runner.kind, _runner)

# Kinds in their own modules register themselves here.
from simulator.bench.runners.fleet import FleetRunner, grid_fleet  # noqa: E402

register("fleet", FleetRunner, grid=grid_fleet)

__all__ = ["RUNNERS", "RunContext", "RunError", "Runner", "presenter_for", "register", "runner_for"]
